/**
 * The state of one restricted pickle read (bytes, cursor, stack, memo) and the operations the
 * opcode handlers (`pickle-opcodes.ts`) are made of. Nothing here executes code from the file:
 * a global is only looked up in the caller's allow-list, and only its pure handler is called.
 */
import { ModelImportError } from './errors.ts';
import {
  describePickleValue,
  type PickleBuildable,
  type PickleGlobal,
  PickleGlobalRef,
  type PickleGlobals,
  SET_STATE,
} from './pickle-values.ts';

/** Limits of one read; the defaults fit any scaler file or MLP state_dict by far. */
export interface PickleLimits {
  /** Largest pickle, in bytes. Default 256 MiB. */
  maxBytes?: number;
  /** Largest memo (distinct memoized values). Default 4,194,304. */
  maxMemo?: number;
  /** Longest integer (LONG4), in bytes. Default 64. */
  maxLongBytes?: number;
}

/** Options of `readPickle`. */
export interface ReadPickleOptions {
  /** Names the file in errors. */
  file: string;
  /** The allow-list. Anything else is refused. */
  globals: PickleGlobals;
  /**
   * Resolves BINPERSID ids (torch storages). Without it any persistent id is refused.
   * Throw a `ModelImportError` to refuse an id.
   */
  persistentLoad?: ((pid: unknown) => unknown) | undefined;
  /** Called with the refused `module.name` to add a hint to the refusal (e.g. "this is a joblib file"). */
  refusalHint?: ((qualifiedName: string) => ModelImportError | undefined) | undefined;
  limits?: PickleLimits | undefined;
}

const DEFAULT_LIMITS: Required<PickleLimits> = {
  maxBytes: 256 * 1024 * 1024,
  maxMemo: 4 * 1024 * 1024,
  maxLongBytes: 64,
};

/** How a read can fail on the bytes themselves. */
export type PickleFailure = 'MALFORMED' | 'TRUNCATED' | 'TOO_LARGE';

const FAILURE_FIXES: Readonly<Record<PickleFailure, string>> = {
  TRUNCATED: 'The file is incomplete: copy or save it again.',
  TOO_LARGE: 'This is far beyond any scaler or state_dict po reads; check that this is the right file.',
  MALFORMED: 'The file is damaged or not a pickle written by Python: save it again.',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

function buildAllowList(globals: PickleGlobals): Map<string, Map<string, PickleGlobal>> {
  const byModule = new Map<string, Map<string, PickleGlobal>>();
  for (const [qualified, handler] of Object.entries(globals)) {
    const dot = qualified.lastIndexOf('.');
    const module = qualified.slice(0, dot);
    const name = qualified.slice(dot + 1);
    let names = byModule.get(module);
    if (names === undefined) byModule.set(module, (names = new Map()));
    names.set(name, handler);
  }
  return byModule;
}

/** A little-endian two's-complement integer (LONG1, LONG4): a number when it is safe, else a bigint. */
function signedLong(raw: Uint8Array): number | bigint {
  if (raw.length === 0) return 0;
  let value = 0n;
  for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]!);
  if (raw[raw.length - 1]! & 0x80) value -= 1n << BigInt(raw.length * 8);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

/** One read in progress. Opcode handlers move `pos` through the arguments they read. */
export class PickleMachine {
  readonly view: DataView;
  readonly file: string;
  readonly limits: Required<PickleLimits>;
  readonly #allow: Map<string, Map<string, PickleGlobal>>;
  /** Next byte to read. */
  pos = 0;
  /** Where the current opcode starts, for messages. */
  opPos = 0;
  stack: unknown[] = [];
  readonly metastack: unknown[][] = [];
  readonly memo = new Map<number, unknown>();
  /** Set by STOP: the read is over and `result` is the pickled value. */
  done = false;
  result: unknown;

  constructor(
    readonly bytes: Uint8Array,
    readonly options: ReadPickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.file = options.file;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#allow = buildAllowList(options.globals);
  }

  /** An error about the bytes of the file, with the fix that fits its kind. */
  fail(kind: PickleFailure, problem: string): ModelImportError {
    return new ModelImportError(kind, this.file, problem, FAILURE_FIXES[kind]);
  }

  /** An error for what the reader refuses on purpose (a format, an opcode, a global). */
  refuse(
    kind: 'UNSUPPORTED_FORMAT' | 'REFUSED_OPCODE' | 'REFUSED_PERSISTENT_ID' | 'REFUSED_GLOBAL',
    problem: string,
    fix: string,
    global?: string,
  ): ModelImportError {
    return new ModelImportError(kind, this.file, problem, fix, global === undefined ? undefined : { global });
  }

  // --- Reading opcode arguments -------------------------------------------------------------

  need(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0) throw this.fail('TOO_LARGE', `${what} declares ${n} bytes`);
    if (this.pos + n > this.bytes.length) {
      throw this.fail(
        'TRUNCATED',
        `the pickle ends at byte ${this.bytes.length} inside ${what} at byte ${this.opPos} (needs ${this.pos + n - this.bytes.length} more)`,
      );
    }
  }

  u8(): number {
    this.need(1, 'an opcode argument');
    return this.bytes[this.pos++]!;
  }

  u16(): number {
    this.need(2, 'an opcode argument');
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'an opcode argument');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4, 'an opcode argument');
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** An 8-byte length, refused when it is beyond the file itself. */
  u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(this.bytes.length)) {
      throw this.fail(
        'TRUNCATED',
        `${what} at byte ${this.opPos} declares ${v} bytes; the file has ${this.bytes.length}`,
      );
    }
    return Number(v);
  }

  /** A big-endian float64 (BINFLOAT). */
  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }

  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A newline-terminated latin-1 line (the module and name of GLOBAL). */
  line(what: string): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw this.fail('TRUNCATED', `${what} at byte ${this.opPos} has no end of line`);
    const text = latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  text(n: number, what: string): string {
    const raw = this.take(n, what);
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail('MALFORMED', `${what} at byte ${this.opPos} is not valid UTF-8`);
    }
  }

  /** Python 2 `str` bytes, read as latin-1 as Python 3 does with encoding='latin1'. */
  latin1(n: number, what: string): string {
    return latin1.decode(this.take(n, what));
  }

  long(n: number, what: string): number | bigint {
    return signedLong(this.take(n, what));
  }

  // --- Stack and memo -------------------------------------------------------------------------

  push(value: unknown): void {
    this.stack.push(value);
  }

  pop(): unknown {
    if (this.stack.length === 0) throw this.fail('MALFORMED', `stack underflow at byte ${this.opPos}`);
    return this.stack.pop();
  }

  top(): unknown {
    if (this.stack.length === 0) throw this.fail('MALFORMED', `stack underflow at byte ${this.opPos}`);
    return this.stack[this.stack.length - 1];
  }

  mark(): void {
    this.metastack.push(this.stack);
    this.stack = [];
  }

  /** The items pushed since the last MARK; the stack before it comes back. */
  popMark(): unknown[] {
    const items = this.stack;
    const previous = this.metastack.pop();
    if (previous === undefined)
      throw this.fail('MALFORMED', `no MARK before the opcode at byte ${this.opPos}`);
    this.stack = previous;
    return items;
  }

  memoPut(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxMemo) {
      throw this.fail('TOO_LARGE', `the memo exceeds ${this.limits.maxMemo} entries`);
    }
    this.memo.set(index, this.top());
  }

  memoGet(index: number): void {
    if (!this.memo.has(index)) {
      throw this.fail('MALFORMED', `memo entry ${index} read at byte ${this.opPos} was never stored`);
    }
    this.stack.push(this.memo.get(index));
  }

  // --- Containers -----------------------------------------------------------------------------

  setItems(target: unknown, items: readonly unknown[]): void {
    if (!(target instanceof Map)) {
      throw this.fail(
        'MALFORMED',
        `SETITEM(S) at byte ${this.opPos} on a ${describePickleValue(target)}, not a dict`,
      );
    }
    if (items.length % 2 !== 0) {
      throw this.fail('MALFORMED', `SETITEMS at byte ${this.opPos} has an odd number of items`);
    }
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  }

  appendItems(target: unknown, items: readonly unknown[]): void {
    if (!Array.isArray(target) || Object.isFrozen(target)) {
      throw this.fail(
        'MALFORMED',
        `APPEND(S) at byte ${this.opPos} on a ${describePickleValue(target)}, not a list`,
      );
    }
    for (const item of items) target.push(item);
  }

  addItems(target: unknown, items: readonly unknown[]): void {
    if (!(target instanceof Set)) {
      throw this.fail(
        'MALFORMED',
        `ADDITEMS at byte ${this.opPos} on a ${describePickleValue(target)}, not a set`,
      );
    }
    for (const item of items) target.add(item);
  }

  // --- Globals, calls, state ------------------------------------------------------------------

  /** The allow-listed handler of `module.name`; any other global is refused here, by name, before use. */
  resolveGlobal(module: unknown, name: unknown): PickleGlobalRef {
    if (typeof module !== 'string' || typeof name !== 'string') {
      throw this.fail('MALFORMED', `STACK_GLOBAL at byte ${this.opPos} takes two strings`);
    }
    const handler = this.#allow.get(module)?.get(name);
    if (handler !== undefined) return new PickleGlobalRef(module, name, handler);
    const qualified = `${module}.${name}`;
    const hinted = this.options.refusalHint?.(qualified);
    if (hinted !== undefined) throw hinted;
    throw this.refuse(
      'REFUSED_GLOBAL',
      `refused the global '${qualified}' (byte ${this.opPos}): po's restricted reader only understands ` +
        'the allow-listed classes of scaler and state_dict files, and nothing in the file was executed',
      'Use a file that contains only a state_dict (torch.save(model.state_dict(), path)) or a dict of ' +
        'scikit-learn scalers (pickle.dump); see the import section of the @po/models README.',
      qualified,
    );
  }

  /** REDUCE (`op` 'REDUCE') or NEWOBJ(_EX) (`op` 'NEWOBJ') on an allow-listed global. */
  call(fn: unknown, args: unknown, kwargs: ReadonlyMap<unknown, unknown> | undefined, op: string): unknown {
    if (!(fn instanceof PickleGlobalRef)) {
      throw this.fail(
        'MALFORMED',
        `${op} at byte ${this.opPos} on a ${describePickleValue(fn)}, not a global`,
      );
    }
    const hook = op === 'REDUCE' ? fn.handler.call : fn.handler.construct;
    if (hook === undefined) {
      throw this.refuse(
        'REFUSED_GLOBAL',
        `the global '${fn.qualifiedName}' is allow-listed as a value only; ${op} on it (byte ${this.opPos}) is refused`,
        'Use a file written by torch.save(state_dict) or pickle.dump of scikit-learn scalers.',
        fn.qualifiedName,
      );
    }
    if (!Array.isArray(args)) {
      throw this.fail(
        'MALFORMED',
        `${op} at byte ${this.opPos} expects an argument tuple, got ${describePickleValue(args)}`,
      );
    }
    return this.guarded(
      `${fn.qualifiedName}(...) at byte ${this.opPos} got arguments it does not accept (`,
      ')',
      () =>
        op === 'REDUCE'
          ? (hook as NonNullable<PickleGlobal['call']>).call(fn.handler, args)
          : (hook as NonNullable<PickleGlobal['construct']>).call(fn.handler, args, kwargs),
    );
  }

  /** BUILD: hands `state` to the object on top of the stack, when it takes one. */
  build(state: unknown): void {
    const target = this.top() as Partial<PickleBuildable> | null;
    const setState = typeof target === 'object' && target !== null ? target[SET_STATE] : undefined;
    if (typeof setState !== 'function') {
      throw this.fail(
        'MALFORMED',
        `BUILD at byte ${this.opPos} on a ${describePickleValue(target)}, which takes no state`,
      );
    }
    this.guarded(`BUILD at byte ${this.opPos} on a ${describePickleValue(target)}: `, '', () =>
      setState.call(target, state),
    );
  }

  /** BINPERSID: only a caller's `persistentLoad` gives a persistent id a meaning. */
  persistentId(pid: unknown): unknown {
    if (this.options.persistentLoad === undefined) {
      throw this.refuse(
        'REFUSED_PERSISTENT_ID',
        `refused a persistent id (${describePickleValue(pid)}) at byte ${this.opPos}: this file type has none`,
        'Save the object with plain pickle.dump (no persistent_id).',
      );
    }
    return this.options.persistentLoad(pid);
  }

  /** Runs a handler's hook; what it throws (other than a refusal) becomes MALFORMED, worded `before reason after`. */
  guarded<T>(before: string, after: string, run: () => T): T {
    try {
      return run();
    } catch (cause) {
      if (cause instanceof ModelImportError) throw cause;
      throw new ModelImportError(
        'MALFORMED',
        this.file,
        `${before}${cause instanceof Error ? cause.message : String(cause)}${after}`,
        'The file is damaged or was not written by the expected library version.',
        { cause },
      );
    }
  }
}
