/**
 * What the restricted pickle reader produces and how callers extend it: the allow-list of
 * globals (each a pure TypeScript handler), the reference a global becomes on the stack, the
 * BUILD hook, and Python tuples (frozen arrays). Dicts are `Map`s, lists plain arrays, sets `Set`s.
 */

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

/** A Python tuple: a frozen array (lists are plain arrays). */
export type PickleTuple = readonly unknown[];

/** True for a value the reader produced from a Python tuple. */
export function isTuple(value: unknown): value is PickleTuple {
  return Array.isArray(value) && Object.isFrozen(value);
}

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
