import { readFile, realpath } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { errorCode, type ModelFileReader } from '@po/core';
import { MODELS_PREFIX, modelKey, validateKey } from '@po/storage';
import { causeClause, ModelFileError } from './errors.ts';

const RELATIVE_FIX =
  "Write model_path, scaler_path and metadata_path relative to the models folder, e.g. 'saved_models/x.onnx'.";

/**
 * Turns a strategy's model path into its path inside the models folder by the same rule the
 * object store uses (@po/storage's `modelKey`: the predecessor's `"models/" + path`, leading
 * `../` segments dropped, the key validated), so a path the local folder reads is exactly a
 * path the bucket serves. A path the store would refuse (absolute, a drive letter, `..` after
 * the start, empty or `.` segments, backslashes, NUL) throws a `ModelFileError` (`UNSAFE_PATH`).
 */
export function normalizeModelPath(path: string): string {
  try {
    // The store prefixes before it validates, so `C:/x` would pass as a folder named `C:`;
    // the part inside the models folder must be a valid key by itself too.
    return validateKey(modelKey(path).slice(MODELS_PREFIX.length));
  } catch (error) {
    if (errorCode(error) !== 'INVALID_KEY') throw error;
    throw new ModelFileError(
      'UNSAFE_PATH',
      path,
      `not a safe model path (${causeClause(error)})`,
      RELATIVE_FIX,
      { cause: error },
    );
  }
}

function isInside(root: string, candidate: string): boolean {
  return candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

function unreadable(path: string, what: string, error: unknown): ModelFileError {
  return new ModelFileError('FILE_UNREADABLE', path, `${what} (${errorCode(error)})`, 'Check the file.', {
    cause: error,
  });
}

/**
 * A `ModelFileReader` over a local folder laid out like the bucket: a strategy path
 * `saved_models/x.onnx` is read from `<modelsDir>/models/saved_models/x.onnx` (its store key),
 * else from `<modelsDir>/saved_models/x.onnx`. Paths follow `normalizeModelPath`, and nothing
 * outside `modelsDir` is ever read (symbolic links included).
 */
export function localModelFiles(modelsDir: string): ModelFileReader {
  const root = resolve(modelsDir);
  let realRoot: Promise<string> | undefined;

  /** The bytes at `candidate`; undefined when there is no file there. */
  const readCandidate = async (path: string, candidate: string): Promise<Uint8Array | undefined> => {
    if (!isInside(root, candidate)) return undefined;
    let real: string;
    try {
      real = await realpath(candidate);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw unreadable(path, `cannot open ${candidate}`, error);
    }
    realRoot ??= realpath(root).catch(() => root);
    if (!isInside(await realRoot, real)) {
      throw new ModelFileError(
        'UNSAFE_PATH',
        path,
        `${candidate} links outside the models folder ${root}`,
        'Copy the file into the models folder instead of linking to it.',
      );
    }
    try {
      const bytes = await readFile(real);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      if (errorCode(error) === 'EISDIR') return undefined;
      throw unreadable(path, `cannot read ${candidate}`, error);
    }
  };

  return async (path: string): Promise<Uint8Array> => {
    const relative = normalizeModelPath(path);
    const candidates = [join(root, MODELS_PREFIX, relative), join(root, relative)];
    for (const candidate of candidates) {
      const bytes = await readCandidate(path, candidate);
      if (bytes !== undefined) return bytes;
    }
    throw new ModelFileError(
      'FILE_NOT_FOUND',
      path,
      `not found in the models folder (looked for ${candidates.join(' and ')})`,
      `Put the file at ${candidates[0]} or correct the path in the strategy.`,
    );
  };
}
