/**
 * numpy arrays, dtypes and scalars as they appear in pickles, rebuilt as plain data
 * (numpy 1.x `numpy.core.*` and numpy 2.x `numpy._core.*` module names alike).
 */
import {
  isTuple,
  type PickleGlobal,
  PickleGlobalRef,
  type PickleGlobals,
  SET_STATE,
} from './pickle-values.ts';

/** Largest array po rebuilds (elements). Scalers hold one value per attribute. */
const MAX_ELEMENTS = 1 << 24;

type Kind = 'f' | 'i' | 'u' | 'b' | 'O';

/** A numpy dtype: kind, item size and byte order (structured dtypes are refused). */
export class NumpyDType {
  byteOrder: '<' | '>' | '|' | '=' = '=';

  constructor(
    readonly kind: Kind,
    readonly itemSize: number,
  ) {}

  get str(): string {
    return `${this.kind}${this.itemSize}`;
  }

  [SET_STATE](state: unknown): void {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    if (!isTuple(state) || state.length < 8) throw new Error('dtype state is not an 8-tuple');
    const [, order, subarray, names, fields] = state;
    if (order !== '<' && order !== '>' && order !== '|' && order !== '=') {
      throw new Error(`dtype byte order '${String(order)}' is unknown`);
    }
    if (subarray !== null || names !== null || fields !== null) {
      throw new Error('structured and sub-array dtypes are not supported');
    }
    this.byteOrder = order;
  }
}

const DTYPE = /^[<>|=]?([fiubO])(\d+)$/;

function parseDType(spec: unknown): NumpyDType {
  const m = typeof spec === 'string' ? DTYPE.exec(spec) : null;
  if (typeof spec !== 'string' || m === null) throw new Error(`dtype '${String(spec)}' is not supported`);
  const kind = m[1] as Kind;
  const size = Number(m[2]);
  const valid =
    (kind === 'f' && (size === 4 || size === 8)) ||
    ((kind === 'i' || kind === 'u') && [1, 2, 4, 8].includes(size)) ||
    (kind === 'b' && size === 1) ||
    (kind === 'O' && (size === 8 || size === 4));
  if (!valid) throw new Error(`dtype '${spec}' is not supported (float32/64, integers, bool, object)`);
  const dtype = new NumpyDType(kind, size);
  if (spec.startsWith('<') || spec.startsWith('>') || spec.startsWith('|')) {
    dtype.byteOrder = spec[0] as '<' | '>' | '|';
  }
  return dtype;
}

/** A rebuilt numpy array: numbers for numeric dtypes, the pickled items for object arrays. */
export class NumpyArray {
  shape: readonly number[] = [0];
  dtype: NumpyDType = new NumpyDType('f', 8);
  /** Numeric values (exact: float32 widened, integers within 2^53), row-major. */
  values: Float64Array = new Float64Array(0);
  /** The items of an object (`O`) array, row-major. */
  items: readonly unknown[] | undefined;

  [SET_STATE](state: unknown): void {
    // (version, shape, dtype, is_fortran, data) or the older 4-tuple without version.
    if (!isTuple(state) || (state.length !== 5 && state.length !== 4)) {
      throw new Error('ndarray state is not a 4- or 5-tuple');
    }
    const [shape, dtype, fortran, data] = state.length === 5 ? state.slice(1) : state;
    if (!(dtype instanceof NumpyDType)) throw new Error('ndarray state has no dtype');
    fill(this, shapeOf(shape), dtype, fortran === true, data);
  }
}

function shapeOf(value: unknown): number[] {
  if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new Error('ndarray shape is not a tuple of non-negative integers');
  }
  return value as number[];
}

function fill(array: NumpyArray, shape: number[], dtype: NumpyDType, fortran: boolean, data: unknown) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS)
    throw new Error(`an array of ${count} elements is beyond po's limit (${MAX_ELEMENTS})`);
  if (fortran && shape.filter((d) => d > 1).length > 1) {
    throw new Error('Fortran-ordered arrays with more than one dimension are not supported');
  }
  array.shape = Object.freeze([...shape]);
  array.dtype = dtype;
  if (dtype.kind === 'O') {
    if (!Array.isArray(data) || data.length !== count) {
      throw new Error(`object array data is not a list of ${count} items`);
    }
    array.items = Object.freeze([...data]);
    array.values = new Float64Array(0);
    return;
  }
  const raw = typeof data === 'string' ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : data;
  if (!(raw instanceof Uint8Array)) throw new Error('numeric array data is not bytes');
  if (raw.length !== count * dtype.itemSize) {
    throw new Error(
      `array data has ${raw.length} bytes; shape [${shape.join(', ')}] of ${dtype.str} needs ${count * dtype.itemSize}`,
    );
  }
  array.values = decode(raw, dtype, count);
}

function decode(raw: Uint8Array, dtype: NumpyDType, count: number): Float64Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const little = dtype.byteOrder !== '>';
  const out = new Float64Array(count);
  const size = dtype.itemSize;
  for (let i = 0; i < count; i++) {
    const at = i * size;
    let v: number;
    if (dtype.kind === 'f') v = size === 8 ? view.getFloat64(at, little) : view.getFloat32(at, little);
    else if (dtype.kind === 'b') v = view.getUint8(at) === 0 ? 0 : 1;
    else if (size === 8) {
      const big = dtype.kind === 'i' ? view.getBigInt64(at, little) : view.getBigUint64(at, little);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new Error('an integer beyond 2^53 cannot be represented exactly');
      }
      v = Number(big);
    } else if (size === 4) v = dtype.kind === 'i' ? view.getInt32(at, little) : view.getUint32(at, little);
    else if (size === 2) v = dtype.kind === 'i' ? view.getInt16(at, little) : view.getUint16(at, little);
    else v = dtype.kind === 'i' ? view.getInt8(at) : view.getUint8(at);
    out[i] = v;
  }
  return out;
}

const ndarrayClass: PickleGlobal = {};

const reconstruct: PickleGlobal = {
  // _reconstruct(ndarray, (0,), b'b'): an empty array that BUILD fills.
  call(args) {
    const [cls] = args;
    if (!(cls instanceof PickleGlobalRef) || cls.handler !== ndarrayClass) {
      throw new Error('_reconstruct builds numpy.ndarray only');
    }
    return new NumpyArray();
  },
};

const dtypeClass: PickleGlobal = {
  // dtype('f8', False, True)
  call(args) {
    return parseDType(args[0]);
  },
};

const fromBuffer: PickleGlobal = {
  // _frombuffer(buffer, dtype, shape, order): protocol 5 pickles of contiguous arrays.
  call(args) {
    const [buffer, dtype, shape, order] = args;
    if (!(dtype instanceof NumpyDType) || dtype.kind === 'O')
      throw new Error('_frombuffer needs a numeric dtype');
    const array = new NumpyArray();
    fill(array, shapeOf(shape), dtype, order === 'F', buffer);
    return array;
  },
};

const scalar: PickleGlobal = {
  // scalar(dtype, bytes): a numpy scalar such as np.int64(200) or np.float64(0.5).
  call(args) {
    const [dtype, data] = args;
    if (!(dtype instanceof NumpyDType) || dtype.kind === 'O') throw new Error('scalar needs a numeric dtype');
    const array = new NumpyArray();
    fill(array, [], dtype, false, data);
    return array.values[0]!;
  },
};

/** The numpy globals po understands, under numpy 1.x and 2.x module names. */
export const NUMPY_GLOBALS: PickleGlobals = {
  'numpy.ndarray': ndarrayClass,
  'numpy.dtype': dtypeClass,
  'numpy.core.multiarray._reconstruct': reconstruct,
  'numpy._core.multiarray._reconstruct': reconstruct,
  'numpy.core.multiarray.scalar': scalar,
  'numpy._core.multiarray.scalar': scalar,
  'numpy.core.numeric._frombuffer': fromBuffer,
  'numpy._core.numeric._frombuffer': fromBuffer,
};
