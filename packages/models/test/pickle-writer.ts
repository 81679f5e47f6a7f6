/**
 * A tiny pickle *writer* for tests: it emits the opcodes CPython, numpy, scikit-learn and
 * torch.save emit, byte by byte, so that tests can build scaler pickles, state_dicts and
 * malicious files without Python. Test helper only (not shipped).
 */
import { zipSync } from 'fflate';

/** A value to pickle. JS integers are ints, `float(x)` a float, arrays lists. */
export type PV = null | boolean | number | string | Uint8Array | PV[] | Emit;

/** A value that writes itself. */
export class Emit {
  constructor(readonly write: (w: PickleWriter) => void) {}
}

export const float = (x: number) => new Emit((w) => w.float(x));
export const tuple = (...items: PV[]) => new Emit((w) => w.tuple(items));
export const dict = (entries: [PV, PV][]) => new Emit((w) => w.dict(entries));
export const global = (module: string, name: string, opts?: { stack?: boolean }) =>
  new Emit((w) => w.global(module, name, opts?.stack));
export const reduce = (fn: PV, args: PV) =>
  new Emit((w) => {
    w.value(fn);
    w.value(args);
    w.op(0x52);
  });
export const newobj = (cls: PV, args: PV) =>
  new Emit((w) => {
    w.value(cls);
    w.value(args);
    w.op(0x81);
  });
export const build = (obj: PV, state: PV) =>
  new Emit((w) => {
    w.value(obj);
    w.value(state);
    w.op(0x62);
  });
export const persid = (pid: PV) =>
  new Emit((w) => {
    w.value(pid);
    w.op(0x51);
  });
/** `OrderedDict(); od[k] = v ...` as torch writes it. */
export const ordered = (entries: [PV, PV][]) =>
  new Emit((w) => {
    w.value(reduce(global('collections', 'OrderedDict'), tuple()));
    if (entries.length > 0) {
      w.op(0x28);
      for (const [k, v] of entries) {
        w.value(k);
        w.value(v);
      }
      w.op(0x75);
    }
  });

export class PickleWriter {
  readonly bytes: number[] = [];

  constructor(readonly protocol: number) {
    this.op(0x80, protocol);
  }

  op(...codes: number[]): this {
    this.bytes.push(...codes);
    return this;
  }

  u32(n: number): this {
    return this.op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }

  raw(bytes: ArrayLike<number>): this {
    for (let i = 0; i < bytes.length; i++) this.bytes.push(bytes[i]!);
    return this;
  }

  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    if (n >= -(2 ** 31) && n < 2 ** 31) return this.op(0x4a).u32(n >>> 0);
    const b = new DataView(new ArrayBuffer(8));
    b.setBigInt64(0, BigInt(n), true);
    return this.op(0x8a, 8).raw(new Uint8Array(b.buffer));
  }

  float(x: number): this {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, x, false);
    return this.op(0x47).raw(new Uint8Array(b.buffer));
  }

  str(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    if (this.protocol >= 4 && utf8.length < 256) return this.op(0x8c, utf8.length).raw(utf8);
    return this.op(0x58).u32(utf8.length).raw(utf8);
  }

  byteString(b: Uint8Array): this {
    if (this.protocol < 3) {
      // Protocol 2 has no bytes opcode: CPython writes _codecs.encode(latin1 text, 'latin1').
      const text = String.fromCharCode(...b);
      return this.value(reduce(global('_codecs', 'encode'), tuple(text, 'latin1')));
    }
    if (b.length < 256) return this.op(0x43, b.length).raw(b);
    return this.op(0x42).u32(b.length).raw(b);
  }

  global(module: string, name: string, stack = this.protocol >= 4): this {
    if (stack) return this.str(module).str(name).op(0x93);
    return this.op(0x63).raw(new TextEncoder().encode(`${module}\n${name}\n`));
  }

  tuple(items: PV[]): this {
    if (items.length === 0) return this.op(0x29);
    if (items.length <= 3) {
      for (const item of items) this.value(item);
      return this.op([0x85, 0x86, 0x87][items.length - 1]!);
    }
    this.op(0x28);
    for (const item of items) this.value(item);
    return this.op(0x74);
  }

  dict(entries: [PV, PV][]): this {
    this.op(0x7d);
    if (entries.length === 0) return this;
    this.op(0x28);
    for (const [k, v] of entries) {
      this.value(k);
      this.value(v);
    }
    return this.op(0x75);
  }

  value(v: PV): this {
    if (v === null) return this.op(0x4e);
    if (v === true) return this.op(0x88);
    if (v === false) return this.op(0x89);
    if (typeof v === 'number') return Number.isInteger(v) ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof Uint8Array) return this.byteString(v);
    if (v instanceof Emit) {
      v.write(this);
      return this;
    }
    this.op(0x5d);
    if (v.length === 0) return this;
    this.op(0x28);
    for (const item of v) this.value(item);
    return this.op(0x65);
  }

  stop(): Uint8Array {
    this.op(0x2e);
    return Uint8Array.from(this.bytes);
  }
}

/** Pickles one value with a protocol. */
export function pickle(value: PV, protocol = 4): Uint8Array {
  return new PickleWriter(protocol).value(value).stop();
}

/** numpy module of the multiarray functions: numpy 1.x or 2.x. */
export type NumpyVersion = 1 | 2;

const core = (v: NumpyVersion) => (v === 1 ? 'numpy.core' : 'numpy._core');

export function dtype(spec: string, order: string): Emit {
  return build(
    reduce(global('numpy', 'dtype'), tuple(spec, false, true)),
    tuple(3, order, null, null, null, -1, -1, spec.startsWith('O') ? 63 : 0),
  );
}

/** A float64 (or other numeric) 1-D numpy array, pickled as numpy does for protocols 2-4. */
export function ndarray(values: number[], opts: { v?: NumpyVersion; dtype?: 'f8' | 'f4' | 'i8' } = {}): Emit {
  const v = opts.v ?? 1;
  const spec = opts.dtype ?? 'f8';
  const size = spec === 'f4' ? 4 : 8;
  const data = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((x, i) => {
    if (spec === 'f8') data.setFloat64(i * size, x, true);
    else if (spec === 'f4') data.setFloat32(i * size, x, true);
    else data.setBigInt64(i * size, BigInt(x), true);
  });
  return build(
    reduce(
      global(`${core(v)}.multiarray`, '_reconstruct'),
      tuple(global('numpy', 'ndarray'), tuple(0), new Uint8Array([0x62])),
    ),
    tuple(1, tuple(values.length), dtype(spec, '<'), false, new Uint8Array(data.buffer)),
  );
}

/** A protocol 5 numpy array: `_frombuffer(bytearray, dtype, shape, order)`. */
export function ndarray5(values: number[], v: NumpyVersion = 2): Emit {
  const data = new DataView(new ArrayBuffer(values.length * 8));
  values.forEach((x, i) => {
    data.setFloat64(i * 8, x, true);
  });
  const bytes = new Uint8Array(data.buffer);
  return reduce(
    global(`${core(v)}.numeric`, '_frombuffer'),
    tuple(
      new Emit((w) => w.op(0x96).raw([bytes.length, 0, 0, 0, 0, 0, 0, 0]).raw(bytes)),
      dtype('f8', '<'),
      tuple(values.length),
      'C',
    ),
  );
}

/** An object array of strings (feature_names_in_). */
export function namesArray(names: string[], v: NumpyVersion = 1): Emit {
  return build(
    reduce(
      global(`${core(v)}.multiarray`, '_reconstruct'),
      tuple(global('numpy', 'ndarray'), tuple(0), new Uint8Array([0x62])),
    ),
    tuple(1, tuple(names.length), dtype('O8', '|'), false, names),
  );
}

/** A numpy scalar such as np.int64(n). */
export function int64Scalar(n: number, v: NumpyVersion = 1): Emit {
  const data = new DataView(new ArrayBuffer(8));
  data.setBigInt64(0, BigInt(n), true);
  return reduce(
    global(`${core(v)}.multiarray`, 'scalar'),
    tuple(dtype('i8', '<'), new Uint8Array(data.buffer)),
  );
}

/** A fitted scikit-learn scaler: NEWOBJ + BUILD (protocol 2+), or copyreg._reconstructor. */
export function sklearnScaler(
  cls: string,
  state: [string, PV][],
  opts: { reconstructor?: boolean } = {},
): Emit {
  const klass = global('sklearn.preprocessing._data', cls);
  const obj = opts.reconstructor
    ? reduce(global('copyreg', '_reconstructor'), tuple(klass, global('builtins', 'object'), null))
    : newobj(klass, tuple());
  return build(obj, dict(state.map(([k, val]) => [k, val])));
}

/** One tensor of a test state_dict. */
export interface TestTensor {
  key: string;
  shape: number[];
  values: ArrayLike<number>;
  storage?: 'FloatStorage' | 'DoubleStorage' | 'LongStorage' | 'HalfStorage';
  stride?: number[];
  offset?: number;
}

function contiguous(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d]!;
  }
  return stride;
}

/** The data.pkl torch.save writes for a state_dict (protocol 2, GLOBAL opcodes). */
export function stateDictPickle(tensors: TestTensor[], extra: [PV, PV][] = []): Uint8Array {
  return pickle(
    ordered([
      ...tensors.map((t, i): [PV, PV] => [
        t.key,
        reduce(
          global('torch._utils', '_rebuild_tensor_v2'),
          tuple(
            persid(
              tuple(
                'storage',
                global('torch', t.storage ?? 'FloatStorage'),
                String(i),
                'cpu',
                t.values.length,
              ),
            ),
            t.offset ?? 0,
            tuple(...t.shape),
            tuple(...(t.stride ?? contiguous(t.shape))),
            false,
            reduce(global('collections', 'OrderedDict'), tuple()),
          ),
        ),
      ]),
      ...extra,
    ]),
    2,
  );
}

function storageBytes(t: TestTensor): Uint8Array {
  const kind = t.storage ?? 'FloatStorage';
  const size = kind === 'FloatStorage' ? 4 : kind === 'HalfStorage' ? 2 : 8;
  const view = new DataView(new ArrayBuffer(t.values.length * size));
  for (let i = 0; i < t.values.length; i++) {
    const x = t.values[i]!;
    if (kind === 'FloatStorage') view.setFloat32(i * size, x, true);
    else if (kind === 'DoubleStorage') view.setFloat64(i * size, x, true);
    else if (kind === 'LongStorage') view.setBigInt64(i * size, BigInt(x), true);
    else view.setUint16(i * size, 0, true);
  }
  return new Uint8Array(view.buffer);
}

/** A .pth zip as torch.save writes it (stored members under one top folder). */
export function pthArchive(
  tensors: TestTensor[],
  opts: { archive?: string; dataPkl?: Uint8Array; extraMembers?: Record<string, Uint8Array> } = {},
): Uint8Array {
  const top = opts.archive ?? 'archive';
  const files: Record<string, [Uint8Array, { level: 0 }]> = {
    [`${top}/data.pkl`]: [opts.dataPkl ?? stateDictPickle(tensors), { level: 0 }],
    [`${top}/version`]: [new TextEncoder().encode('3\n'), { level: 0 }],
  };
  tensors.forEach((t, i) => {
    files[`${top}/data/${i}`] = [storageBytes(t), { level: 0 }];
  });
  for (const [name, bytes] of Object.entries(opts.extraMembers ?? {})) files[name] = [bytes, { level: 0 }];
  return zipSync(files);
}
