/**
 * PyTorch `.pth` files written by `torch.save(model.state_dict(), path)`: a zip archive
 * (`<name>/data.pkl`, `<name>/data/<key>`, ...) whose pickle is read with the restricted
 * reader. Tensors are rebuilt from the raw little-endian storages; nothing is executed.
 */
import { unzipSync } from 'fflate';
import { ModelImportError } from './errors.ts';
import { readPickle } from './pickle.ts';
import type { PickleLimits } from './pickle-machine.ts';
import {
  describePickleValue,
  isTuple,
  type PickleGlobal,
  PickleGlobalRef,
  type PickleGlobals,
  SET_STATE,
} from './pickle-values.ts';

/** Tensor element types po reads; others are refused by name. */
export type TensorDType = 'float32' | 'float64' | 'int64';

/** One tensor of a state_dict. */
export interface StateDictTensor {
  readonly dtype: TensorDType;
  readonly shape: readonly number[];
  /** Row-major values. int64 values (e.g. `num_batches_tracked`) are read as float64 numbers. */
  readonly values: Float32Array | Float64Array;
}

/** A state_dict read from a `.pth` file. */
export interface StateDict {
  /** The file as named by the caller. */
  readonly file: string;
  /** The archive's top folder (`archive`, or the name the file was saved under). */
  readonly archiveName: string;
  /** Tensors by state_dict key, in file order. */
  readonly tensors: ReadonlyMap<string, StateDictTensor>;
  /** Set when the tensors came from an entry of a checkpoint dict (e.g. `model_state_dict`). */
  readonly entry: string | undefined;
}

/** Limits of one `.pth` read. */
export interface PthLimits extends PickleLimits {
  /** Largest uncompressed archive member, in bytes. Default 256 MiB. */
  maxEntryBytes?: number;
  /** Most archive members. Default 100,000. */
  maxEntries?: number;
}

interface StorageInfo {
  dtype: string;
  itemSize: number;
  supported: TensorDType | undefined;
}

const STORAGES: Readonly<Record<string, StorageInfo>> = {
  FloatStorage: { dtype: 'float32', itemSize: 4, supported: 'float32' },
  DoubleStorage: { dtype: 'float64', itemSize: 8, supported: 'float64' },
  LongStorage: { dtype: 'int64', itemSize: 8, supported: 'int64' },
  HalfStorage: { dtype: 'float16', itemSize: 2, supported: undefined },
  BFloat16Storage: { dtype: 'bfloat16', itemSize: 2, supported: undefined },
  IntStorage: { dtype: 'int32', itemSize: 4, supported: undefined },
  ShortStorage: { dtype: 'int16', itemSize: 2, supported: undefined },
  CharStorage: { dtype: 'int8', itemSize: 1, supported: undefined },
  ByteStorage: { dtype: 'uint8', itemSize: 1, supported: undefined },
  BoolStorage: { dtype: 'bool', itemSize: 1, supported: undefined },
};

class StorageType implements PickleGlobal {
  /** A value only: REDUCE on a storage type is refused. */
  readonly call: undefined = undefined;

  constructor(
    readonly typeName: string,
    readonly info: StorageInfo,
  ) {}
}

class StorageRef {
  constructor(
    readonly type: StorageType,
    readonly key: string,
    readonly numel: number,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

/** `collections.OrderedDict`: a Map that also takes the `_metadata` attribute torch stores. */
class OrderedDictValue extends Map<unknown, unknown> {
  attributes: ReadonlyMap<unknown, unknown> = new Map();

  [SET_STATE](state: unknown): void {
    if (!(state instanceof Map)) throw new Error('OrderedDict state is not a dict');
    this.attributes = state;
  }
}

const orderedDict: PickleGlobal = {
  call(args) {
    const dict = new OrderedDictValue();
    const [items] = args;
    if (args.length > 1) throw new Error('OrderedDict takes at most one argument');
    if (items !== undefined) {
      if (!Array.isArray(items)) throw new Error('OrderedDict takes a list of pairs');
      for (const pair of items) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new Error('OrderedDict takes a list of pairs');
        dict.set(pair[0], pair[1]);
      }
    }
    return dict;
  },
};

const intTuple = (value: unknown, what: string): number[] => {
  if (!Array.isArray(value) || !value.every((v) => Number.isSafeInteger(v) && (v as number) >= 0)) {
    throw new Error(`${what} is not a tuple of non-negative integers`);
  }
  return value as number[];
};

const rebuildTensor: PickleGlobal = {
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  call(args) {
    if (args.length < 6 || args.length > 7)
      throw new Error(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw new Error('the first argument is not a storage');
    if (!Number.isSafeInteger(offset) || (offset as number) < 0)
      throw new Error('the storage offset is not an integer');
    const shape = intTuple(size, 'size');
    const strides = intTuple(stride, 'stride');
    if (shape.length !== strides.length) throw new Error('size and stride differ in length');
    return new TensorRef(storage, offset as number, Object.freeze(shape), Object.freeze(strides));
  },
};

const rebuildParameter: PickleGlobal = {
  // _rebuild_parameter(data, requires_grad, backward_hooks): a Parameter is its tensor here.
  call(args) {
    if (!(args[0] instanceof TensorRef)) throw new Error('the first argument is not a tensor');
    return args[0];
  },
};

/**
 * The allow-list of `.pth` state_dicts. Storage types are values only (never called);
 * `torch.storage._load_from_bytes` (a nested torch.load) and every other global are refused.
 */
export const PTH_PICKLE_GLOBALS: PickleGlobals = {
  'collections.OrderedDict': orderedDict,
  'torch._utils._rebuild_tensor_v2': rebuildTensor,
  'torch._utils._rebuild_parameter': rebuildParameter,
  ...Object.fromEntries(
    Object.entries(STORAGES).map(([name, info]) => [`torch.${name}`, new StorageType(name, info)]),
  ),
};

const MAX_ELEMENTS = 1 << 28;

function malformed(file: string, problem: string, cause?: unknown): ModelImportError {
  return new ModelImportError(
    'MALFORMED',
    file,
    problem,
    'The file is damaged or was not written by torch.save: save the state_dict again.',
    cause === undefined ? undefined : { cause },
  );
}

function archiveMembers(
  bytes: Uint8Array,
  file: string,
  limits: Required<Pick<PthLimits, 'maxEntryBytes' | 'maxEntries'>>,
) {
  if (bytes.length >= 4 && bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a) {
    throw new ModelImportError(
      'UNSUPPORTED_FORMAT',
      file,
      'this is the legacy torch.save format (PyTorch < 1.6), not a zip archive',
      'Load it with PyTorch and save the state_dict again with a current version (torch.save(sd, path)).',
    );
  }
  if (bytes.length > 0 && bytes[0] === 0x80) {
    throw new ModelImportError(
      'UNSUPPORTED_FORMAT',
      file,
      'this is a plain pickle, not the zip archive torch.save writes',
      'Save the state_dict with torch.save(model.state_dict(), path) (the default zip format).',
    );
  }
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new ModelImportError(
      'UNSUPPORTED_FORMAT',
      file,
      'not a zip archive as torch.save writes',
      'Point at a state_dict saved with torch.save(model.state_dict(), path).',
    );
  }
  let tooLarge: string | undefined;
  let entries = 0;
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes, {
      filter: (info) => {
        entries += 1;
        if (entries > limits.maxEntries) tooLarge ??= `more than ${limits.maxEntries} archive members`;
        if (info.originalSize > limits.maxEntryBytes) {
          tooLarge ??= `member '${info.name}' declares ${info.originalSize} bytes (limit ${limits.maxEntryBytes})`;
        }
        return tooLarge === undefined;
      },
    });
  } catch (cause) {
    throw new ModelImportError(
      'TRUNCATED',
      file,
      `not a readable zip archive: it is truncated or damaged (${cause instanceof Error ? cause.message : String(cause)})`,
      'Copy or save the file again.',
      { cause },
    );
  }
  if (tooLarge !== undefined) {
    throw new ModelImportError(
      'TOO_LARGE',
      file,
      tooLarge,
      'This is far beyond an MLP state_dict; check that this is the right file.',
    );
  }
  return members;
}

/**
 * Reads a `.pth` state_dict (torch.save zip format). Tensors must be float32, float64
 * or int64, contiguous and little- or big-endian as the archive's `byteorder` says.
 * Throws `ModelImportError` naming `file`: a refused global (named), a truncated or
 * damaged archive, a TorchScript or legacy file, an unsupported tensor.
 */
export function readStateDict(bytes: Uint8Array, file: string, limits?: PthLimits): StateDict {
  const members = archiveMembers(bytes, file, {
    maxEntryBytes: limits?.maxEntryBytes ?? 256 * 1024 * 1024,
    maxEntries: limits?.maxEntries ?? 100_000,
  });
  const names = Object.keys(members);
  const pickles = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (names.some((n) => /^[^/]+\/(constants\.pkl|code\/)/.test(n))) {
    throw new ModelImportError(
      'UNSUPPORTED_FORMAT',
      file,
      'this is a TorchScript archive (torch.jit.save), not a state_dict',
      'Save the weights with torch.save(model.state_dict(), path), or export the model to ONNX.',
    );
  }
  if (pickles.length !== 1) {
    throw malformed(
      file,
      pickles.length === 0
        ? `the archive has no <name>/data.pkl (members: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''})`
        : `the archive has ${pickles.length} data.pkl members`,
    );
  }
  const archiveName = pickles[0]!.slice(0, -'/data.pkl'.length);
  const byteOrderFile = members[`${archiveName}/byteorder`];
  const byteOrder = byteOrderFile === undefined ? 'little' : new TextDecoder().decode(byteOrderFile).trim();
  if (byteOrder !== 'little' && byteOrder !== 'big')
    throw malformed(file, `byteorder '${byteOrder}' is unknown`);

  const root = readPickle(members[pickles[0]!]!, {
    file: `${file}:${pickles[0]}`,
    globals: PTH_PICKLE_GLOBALS,
    persistentLoad: (pid) => storageOf(pid, file),
    refusalHint: (name) => modelPickleHint(name, file),
    limits,
  });
  const { dict, entry } = findTensorDict(root, file);
  const tensors = new Map<string, StateDictTensor>();
  const decoded = new Map<StorageRef, Uint8Array>();
  for (const [key, value] of dict) {
    if (typeof key !== 'string') throw malformed(file, `a state_dict key is a ${describePickleValue(key)}`);
    if (!(value instanceof TensorRef)) {
      throw new ModelImportError(
        'UNEXPECTED_LAYOUT',
        file,
        `state_dict entry '${key}' is a ${describePickleValue(value)}, not a tensor`,
        'Save only the state_dict: torch.save(model.state_dict(), path).',
      );
    }
    tensors.set(key, readTensor(key, value, file, archiveName, members, decoded, byteOrder === 'little'));
  }
  return { file, archiveName, tensors, entry };
}

/** torch's persistent id of a storage: `('storage', storage_type, key, location, numel)`; anything else is refused. */
function storageOf(pid: unknown, file: string): StorageRef {
  if (
    !isTuple(pid) ||
    pid.length !== 5 ||
    pid[0] !== 'storage' ||
    !(pid[1] instanceof PickleGlobalRef) ||
    !(pid[1].handler instanceof StorageType) ||
    typeof pid[2] !== 'string' ||
    !/^\d+$/.test(pid[2]) ||
    typeof pid[3] !== 'string' ||
    !Number.isSafeInteger(pid[4]) ||
    (pid[4] as number) < 0
  ) {
    throw new ModelImportError(
      'REFUSED_PERSISTENT_ID',
      file,
      `refused a persistent id (${describePickleValue(pid)}${isTuple(pid) && typeof pid[0] === 'string' ? ` '${pid[0]}'` : ''}): ` +
        "po reads torch's ('storage', storage_type, key, location, numel) form only",
      'Save the state_dict with torch.save(model.state_dict(), path).',
    );
  }
  const numel = pid[4] as number;
  if (numel > MAX_ELEMENTS) {
    throw new ModelImportError(
      'TOO_LARGE',
      file,
      `storage '${pid[2]}' declares ${numel} elements (limit ${MAX_ELEMENTS})`,
      'This is far beyond an MLP state_dict; check that this is the right file.',
    );
  }
  return new StorageRef(pid[1].handler, pid[2], numel);
}

function modelPickleHint(name: string, file: string): ModelImportError | undefined {
  if (/^(__main__|torch\.nn\.|torch\.jit)/.test(name) || /^[A-Za-z_][\w.]*\.[A-Z]\w*Model$/.test(name)) {
    return new ModelImportError(
      'REFUSED_GLOBAL',
      file,
      `refused the global '${name}': the file holds a pickled model object, not a state_dict, and ` +
        'unpickling it would run its code; nothing in the file was executed',
      'Save the weights only: torch.save(model.state_dict(), path).',
      { global: name },
    );
  }
  return undefined;
}

const CHECKPOINT_KEYS = ['state_dict', 'model_state_dict', 'model'];

function findTensorDict(
  root: unknown,
  file: string,
): { dict: Map<unknown, unknown>; entry: string | undefined } {
  if (!(root instanceof Map)) {
    throw new ModelImportError(
      'UNEXPECTED_LAYOUT',
      file,
      `the file holds a ${describePickleValue(root)}, not a state_dict`,
      'Save the state_dict: torch.save(model.state_dict(), path).',
    );
  }
  const values = [...root.values()];
  if (values.length > 0 && values.every((v) => v instanceof TensorRef))
    return { dict: root, entry: undefined };
  for (const key of CHECKPOINT_KEYS) {
    const inner = root.get(key);
    if (inner instanceof Map && inner.size > 0 && [...inner.values()].every((v) => v instanceof TensorRef)) {
      return { dict: inner, entry: key };
    }
  }
  return { dict: root, entry: undefined };
}

function readTensor(
  key: string,
  tensor: TensorRef,
  file: string,
  archiveName: string,
  members: Record<string, Uint8Array>,
  decoded: Map<StorageRef, Uint8Array>,
  littleEndian: boolean,
): StateDictTensor {
  const { storage, shape, stride, offset } = tensor;
  const info = storage.type.info;
  const unsupported = (problem: string, fix: string) =>
    new ModelImportError('UNSUPPORTED_TENSOR', file, `tensor '${key}' ${problem}`, fix);
  if (info.supported === undefined) {
    throw unsupported(
      `is ${info.dtype} (torch.${storage.type.typeName}); po reads float32 and float64 weights`,
      'Convert the model to float32 before saving: model.float(); torch.save(model.state_dict(), path).',
    );
  }
  if (info.supported === 'int64' && !key.endsWith('.num_batches_tracked')) {
    throw unsupported(
      'is int64; po reads integer tensors only as BatchNorm num_batches_tracked',
      'Save a state_dict of float32 weights.',
    );
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d]! !== 1 && stride[d] !== expected) {
      throw unsupported(
        `is not contiguous (shape [${shape.join(', ')}], stride [${stride.join(', ')}])`,
        'Save contiguous tensors: {k: v.contiguous() for k, v in model.state_dict().items()}.',
      );
    }
    expected *= shape[d]!;
  }
  if (offset + numel > storage.numel) {
    throw malformed(
      file,
      `tensor '${key}' reads elements ${offset}..${offset + numel} of a ${storage.numel}-element storage`,
    );
  }
  let raw = decoded.get(storage);
  if (raw === undefined) {
    raw = members[`${archiveName}/data/${storage.key}`];
    if (raw === undefined)
      throw malformed(file, `storage '${storage.key}' of tensor '${key}' is missing from the archive`);
    if (raw.length !== storage.numel * info.itemSize) {
      throw malformed(
        file,
        `storage '${storage.key}' has ${raw.length} bytes; ${storage.numel} ${info.dtype} elements need ${storage.numel * info.itemSize}`,
      );
    }
    decoded.set(storage, raw);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size = info.itemSize;
  const values = info.supported === 'float32' ? new Float32Array(numel) : new Float64Array(numel);
  for (let i = 0; i < numel; i++) {
    const at = (offset + i) * size;
    values[i] =
      info.supported === 'float32'
        ? view.getFloat32(at, littleEndian)
        : info.supported === 'float64'
          ? view.getFloat64(at, littleEndian)
          : Number(view.getBigInt64(at, littleEndian));
  }
  return { dtype: info.supported, shape, values };
}
