/** Recognises files that look like pickles but are not plain ones (joblib), to say so clearly. */
import { ModelImportError } from './errors.ts';

const JOBLIB_FIX =
  're-save it with pickle.dump, or convert it with: python -c "import joblib, pickle; ' +
  "pickle.dump(joblib.load('in.pkl'), open('out.pkl', 'wb'), protocol=4)\" (then po models convert out.pkl)";

function joblib(file: string, why: string, global?: string): ModelImportError {
  return new ModelImportError(
    'JOBLIB',
    file,
    `this is a joblib file (${why}), not a plain pickle: joblib stores numpy arrays outside the pickle stream`,
    `Please ${JOBLIB_FIX}.`,
    global === undefined ? undefined : { global },
  );
}

const COMPRESSED: readonly { magic: readonly number[]; name: string }[] = [
  { magic: [0x78, 0x01], name: 'zlib' },
  { magic: [0x78, 0x5e], name: 'zlib' },
  { magic: [0x78, 0x9c], name: 'zlib' },
  { magic: [0x78, 0xda], name: 'zlib' },
  { magic: [0x1f, 0x8b], name: 'gzip' },
  { magic: [0x42, 0x5a, 0x68], name: 'bz2' },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], name: 'xz' },
  { magic: [0x5d, 0x00, 0x00], name: 'lzma' },
  { magic: [0x04, 0x22, 0x4d, 0x18], name: 'lz4' },
  { magic: [0x5a, 0x46], name: "joblib's old 'ZF' zlib" },
];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/**
 * A clear error for a `.pkl` that is not a plain pickle: a compressed joblib file, or a
 * zip archive (a `.pth`). `undefined` when the bytes may be a plain pickle.
 */
export function detectForeignPickle(bytes: Uint8Array, file: string): ModelImportError | undefined {
  for (const { magic, name } of COMPRESSED) {
    if (startsWith(bytes, magic))
      return joblib(file, `${name}-compressed, as joblib.dump(..., compress=...) writes`);
  }
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
    return new ModelImportError(
      'UNSUPPORTED_FORMAT',
      file,
      'this is a zip archive (a torch.save file?), not a pickled dict of scalers',
      'Name PyTorch state_dicts .pth and scalers .pkl; convert a model with po models convert x.pth --out x.onnx.',
    );
  }
  return undefined;
}

/** The refusal for a joblib global met inside a pickle (an uncompressed joblib file). */
export function joblibRefusal(qualifiedName: string, file: string): ModelImportError | undefined {
  if (/^(sklearn\.externals\.)?joblib\.numpy_pickle\./.test(qualifiedName)) {
    return joblib(file, `it uses ${qualifiedName}`, qualifiedName);
  }
  return undefined;
}
