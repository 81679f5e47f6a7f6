/**
 * A restricted reader for Python pickles (protocols 2 to 5). It interprets the opcodes
 * itself and executes nothing: a global (class or function) is understood only when the
 * caller's allow-list maps it to a pure TypeScript handler; any other global is refused,
 * named, at the opcode that names it, before it could be called. Dicts become `Map`s,
 * so no key (`__proto__`, `constructor`) ever touches an object's prototype.
 */
import { ModelImportError } from './errors.ts';

/** How an allow-listed global behaves. Every hook is optional; a missing one is refused. */
export interface PickleGlobal {
  /** REDUCE: `global(*args)`. */
  call?(args: readonly unknown[]): unknown;
  /** NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`. */
  construct?(args: readonly unknown[], kwargs: ReadonlyMap<unknown, unknown> | undefined): unknown;
}

/** The allow-list: `'module.name'` (e.g. `'collections.OrderedDict'`) to its handler. */
export type PickleGlobals = Readonly<Record<string, PickleGlobal>>;

/** A global on the pickle stack: the allow-listed name and its handler. */
export class PickleGlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly handler: PickleGlobal,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * Objects built by handlers implement BUILD through this symbol (pickle data cannot make
 * symbols, so no pickled key can reach it).
 */
export const SET_STATE: unique symbol = Symbol('po.pickle.setState');

/** An object a BUILD opcode can update. */
export interface PickleBuildable {
  [SET_STATE](state: unknown): void;
}

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

/** A Python tuple: a frozen array (lists are plain arrays). */
export type PickleTuple = readonly unknown[];

/** True for a value the reader produced from a Python tuple. */
export function isTuple(value: unknown): value is PickleTuple {
  return Array.isArray(value) && Object.isFrozen(value);
}

const OP_NAMES: Readonly<Record<number, string>> = {
  73: 'INT',
  76: 'LONG',
  70: 'FLOAT',
  83: 'STRING',
  86: 'UNICODE',
  112: 'PUT',
  103: 'GET',
  105: 'INST',
  111: 'OBJ',
  80: 'PERSID',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  151: 'NEXT_BUFFER',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** A short type name of a pickled value, for messages. */
export function describePickleValue(value: unknown): string {
  if (value === null) return 'None';
  if (value instanceof PickleGlobalRef) return `global ${value.qualifiedName}`;
  if (isTuple(value)) return `tuple of ${value.length}`;
  if (Array.isArray(value)) return `list of ${value.length}`;
  if (value instanceof Map) return `dict of ${value.size}`;
  if (value instanceof Set) return `set of ${value.size}`;
  if (value instanceof Uint8Array) return `bytes of ${value.length}`;
  if (typeof value === 'string') return 'str';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

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

/**
 * Reads one pickle (protocol 2 to 5) and returns its value. Only the globals in
 * `options.globals` are understood; any other is refused with a `ModelImportError`
 * (`REFUSED_GLOBAL`) naming it. Throws `ModelImportError` naming `options.file` for a
 * truncated or malformed pickle, an unsupported opcode or protocol, or a size beyond the
 * limits.
 */
export function readPickle(bytes: Uint8Array, options: ReadPickleOptions): unknown {
  const { file } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const allow = buildAllowList(options.globals);
  const fail = (kind: 'MALFORMED' | 'TRUNCATED' | 'TOO_LARGE', problem: string) =>
    new ModelImportError(
      kind,
      file,
      problem,
      kind === 'TRUNCATED'
        ? 'The file is incomplete: copy or save it again.'
        : kind === 'TOO_LARGE'
          ? 'This is far beyond any scaler or state_dict po reads; check that this is the right file.'
          : 'The file is damaged or not a pickle written by Python: save it again.',
    );

  if (bytes.length > limits.maxBytes) {
    throw fail('TOO_LARGE', `the pickle is ${bytes.length} bytes; po reads at most ${limits.maxBytes}`);
  }
  if (bytes.length === 0) throw fail('TRUNCATED', 'the file is empty');
  if (bytes[0] !== 0x80) {
    throw new ModelImportError(
      'UNSUPPORTED_FORMAT',
      file,
      `not a pickle of protocol 2 to 5 (first byte 0x${bytes[0]!.toString(16).padStart(2, '0')})`,
      'po reads pickles written with protocol 2 or newer: re-save it with pickle.dump(obj, f, protocol=4).',
    );
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let opPos = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number, what: string) => {
    if (!Number.isSafeInteger(n) || n < 0) throw fail('TOO_LARGE', `${what} declares ${n} bytes`);
    if (pos + n > bytes.length) {
      throw fail(
        'TRUNCATED',
        `the pickle ends at byte ${bytes.length} inside ${what} at byte ${opPos} (needs ${pos + n - bytes.length} more)`,
      );
    }
  };
  const u8 = () => {
    need(1, 'an opcode argument');
    return bytes[pos++]!;
  };
  const u16 = () => {
    need(2, 'an opcode argument');
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4, 'an opcode argument');
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4, 'an opcode argument');
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (what: string) => {
    need(8, what);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) {
      throw fail('TRUNCATED', `${what} at byte ${opPos} declares ${v} bytes; the file has ${bytes.length}`);
    }
    return Number(v);
  };
  const take = (n: number, what: string) => {
    need(n, what);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (what: string) => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw fail('TRUNCATED', `${what} at byte ${opPos} has no end of line`);
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const text = (n: number, what: string) => {
    const raw = take(n, what);
    try {
      return utf8.decode(raw);
    } catch {
      throw fail('MALFORMED', `${what} at byte ${opPos} is not valid UTF-8`);
    }
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw fail('MALFORMED', `stack underflow at byte ${opPos}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw fail('MALFORMED', `stack underflow at byte ${opPos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const previous = metastack.pop();
    if (previous === undefined) throw fail('MALFORMED', `no MARK before the opcode at byte ${opPos}`);
    stack = previous;
    return items;
  };
  const memoPut = (index: number) => {
    if (!memo.has(index) && memo.size >= limits.maxMemo) {
      throw fail('TOO_LARGE', `the memo exceeds ${limits.maxMemo} entries`);
    }
    memo.set(index, top());
  };
  const memoGet = (index: number) => {
    if (!memo.has(index))
      throw fail('MALFORMED', `memo entry ${index} read at byte ${opPos} was never stored`);
    stack.push(memo.get(index));
  };
  const signedLong = (raw: Uint8Array): number | bigint => {
    if (raw.length === 0) return 0;
    let value = 0n;
    for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]!);
    if (raw[raw.length - 1]! & 0x80) value -= 1n << BigInt(raw.length * 8);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  };
  const resolveGlobal = (module: unknown, name: unknown): PickleGlobalRef => {
    if (typeof module !== 'string' || typeof name !== 'string') {
      throw fail('MALFORMED', `STACK_GLOBAL at byte ${opPos} takes two strings`);
    }
    const handler = allow.get(module)?.get(name);
    if (handler === undefined) {
      const qualified = `${module}.${name}`;
      const hinted = options.refusalHint?.(qualified);
      if (hinted !== undefined) throw hinted;
      throw new ModelImportError(
        'REFUSED_GLOBAL',
        file,
        `refused the global '${qualified}' (byte ${opPos}): po's restricted reader only understands ` +
          'the allow-listed classes of scaler and state_dict files, and nothing in the file was executed',
        'Use a file that contains only a state_dict (torch.save(model.state_dict(), path)) or a dict of ' +
          'scikit-learn scalers (pickle.dump); see the import section of the @po/models README.',
        { global: qualified },
      );
    }
    return new PickleGlobalRef(module, name, handler);
  };
  const asArgs = (value: unknown, what: string): readonly unknown[] => {
    if (!Array.isArray(value)) {
      throw fail(
        'MALFORMED',
        `${what} at byte ${opPos} expects an argument tuple, got ${describePickleValue(value)}`,
      );
    }
    return value;
  };
  const setItems = (target: unknown, items: readonly unknown[]) => {
    if (!(target instanceof Map)) {
      throw fail('MALFORMED', `SETITEM(S) at byte ${opPos} on a ${describePickleValue(target)}, not a dict`);
    }
    if (items.length % 2 !== 0)
      throw fail('MALFORMED', `SETITEMS at byte ${opPos} has an odd number of items`);
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: readonly unknown[]) => {
    if (!Array.isArray(target) || Object.isFrozen(target)) {
      throw fail('MALFORMED', `APPEND(S) at byte ${opPos} on a ${describePickleValue(target)}, not a list`);
    }
    for (const item of items) target.push(item);
  };
  const addItems = (target: unknown, items: readonly unknown[]) => {
    if (!(target instanceof Set)) {
      throw fail('MALFORMED', `ADDITEMS at byte ${opPos} on a ${describePickleValue(target)}, not a set`);
    }
    for (const item of items) target.add(item);
  };
  const call = (
    fn: unknown,
    args: unknown,
    kwargs: ReadonlyMap<unknown, unknown> | undefined,
    op: string,
  ) => {
    if (!(fn instanceof PickleGlobalRef)) {
      throw fail('MALFORMED', `${op} at byte ${opPos} on a ${describePickleValue(fn)}, not a global`);
    }
    const hook = op === 'REDUCE' ? fn.handler.call : fn.handler.construct;
    if (hook === undefined) {
      throw new ModelImportError(
        'REFUSED_GLOBAL',
        file,
        `the global '${fn.qualifiedName}' is allow-listed as a value only; ${op} on it (byte ${opPos}) is refused`,
        'Use a file written by torch.save(state_dict) or pickle.dump of scikit-learn scalers.',
        { global: fn.qualifiedName },
      );
    }
    const argv = asArgs(args, op);
    try {
      return op === 'REDUCE'
        ? (hook as NonNullable<PickleGlobal['call']>).call(fn.handler, argv)
        : (hook as NonNullable<PickleGlobal['construct']>).call(fn.handler, argv, kwargs);
    } catch (cause) {
      if (cause instanceof ModelImportError) throw cause;
      throw new ModelImportError(
        'MALFORMED',
        file,
        `${fn.qualifiedName}(...) at byte ${opPos} got arguments it does not accept (${cause instanceof Error ? cause.message : String(cause)})`,
        'The file is damaged or was not written by the expected library version.',
        { cause },
      );
    }
  };

  for (;;) {
    opPos = pos;
    if (pos >= bytes.length) throw fail('TRUNCATED', `the pickle ends at byte ${pos} without a STOP opcode`);
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: {
        const version = u8();
        if (version < 2 || version > 5) {
          throw new ModelImportError(
            'UNSUPPORTED_FORMAT',
            file,
            `pickle protocol ${version} is not supported (po reads 2 to 5)`,
            'Re-save it with pickle.dump(obj, f, protocol=4).',
          );
        }
        break;
      }
      case 0x95: // FRAME: the length only helps buffered readers.
        u64('FRAME');
        break;
      case 0x2e: {
        // STOP
        const value = pop();
        if (stack.length !== 0 || metastack.length !== 0) {
          throw fail('MALFORMED', `STOP at byte ${opPos} leaves ${stack.length} value(s) on the stack`);
        }
        return value;
      }
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        memoGet(u8());
        break;
      case 0x6a: // LONG_BINGET
        memoGet(u32());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLong(take(u8(), 'LONG1')));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0 || n > limits.maxLongBytes) {
          throw fail(
            'TOO_LARGE',
            `LONG4 at byte ${opPos} declares a ${n}-byte integer (limit ${limits.maxLongBytes})`,
          );
        }
        stack.push(signedLong(take(n, 'LONG4')));
        break;
      }
      case 0x47: {
        // BINFLOAT (big-endian)
        need(8, 'BINFLOAT');
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x54: {
        // BINSTRING (Python 2 str): read as latin-1, as Python 3 does with encoding='latin1'.
        const n = i32();
        stack.push(latin1.decode(take(n, 'BINSTRING')));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8(), 'SHORT_BINSTRING')));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32(), 'BINUNICODE'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8(), 'SHORT_BINUNICODE'));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64('BINUNICODE8'), 'BINUNICODE8'));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32(), 'BINBYTES'));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8(), 'SHORT_BINBYTES'));
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64('BINBYTES8'), 'BINBYTES8'));
        break;
      case 0x96: // BYTEARRAY8
        stack.push(take(u64('BYTEARRAY8'), 'BYTEARRAY8').slice());
        break;
      case 0x98: // READONLY_BUFFER: a no-op on in-band data.
        top();
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x74: {
        // TUPLE (popMark replaces `stack`: take the items first)
        const items = popMark();
        stack.push(Object.freeze(items));
        break;
      }
      case 0x85: // TUPLE1
        stack.push(Object.freeze([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const dict = new Map();
        setItems(dict, items);
        stack.push(dict);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        addItems(top(), items);
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = popMark();
        stack.push(new Set(items));
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line('GLOBAL');
        const name = line('GLOBAL');
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args, undefined, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args, undefined, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map))
          throw fail('MALFORMED', `NEWOBJ_EX at byte ${opPos} expects a kwargs dict`);
        stack.push(call(cls, args, kwargs, 'NEWOBJ'));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top() as Partial<PickleBuildable> | null;
        const setState = typeof target === 'object' && target !== null ? target[SET_STATE] : undefined;
        if (typeof setState !== 'function') {
          throw fail(
            'MALFORMED',
            `BUILD at byte ${opPos} on a ${describePickleValue(target)}, which takes no state`,
          );
        }
        try {
          setState.call(target, state);
        } catch (cause) {
          if (cause instanceof ModelImportError) throw cause;
          throw new ModelImportError(
            'MALFORMED',
            file,
            `BUILD at byte ${opPos} on a ${describePickleValue(target)}: ${cause instanceof Error ? cause.message : String(cause)}`,
            'The file is damaged or was not written by the expected library version.',
            { cause },
          );
        }
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (options.persistentLoad === undefined) {
          throw new ModelImportError(
            'REFUSED_PERSISTENT_ID',
            file,
            `refused a persistent id (${describePickleValue(pid)}) at byte ${opPos}: this file type has none`,
            'Save the object with plain pickle.dump (no persistent_id).',
          );
        }
        stack.push(options.persistentLoad(pid));
        break;
      }
      default: {
        const name = OP_NAMES[op];
        if (name !== undefined) {
          throw new ModelImportError(
            'REFUSED_OPCODE',
            file,
            `the opcode ${name} at byte ${opPos} is not read by po (protocol 0/1 text opcodes, the extension ` +
              'registry and out-of-band buffers are not supported)',
            'Re-save it with pickle.dump(obj, f, protocol=4).',
          );
        }
        throw fail('MALFORMED', `unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opPos}`);
      }
    }
  }
}
