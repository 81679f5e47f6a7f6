import { readFile, realpath } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { ModelFileError } from './errors.ts';
import type { ModelFileReader } from './types.ts';

const RELATIVE_FIX =
  "Write model_path, scaler_path and metadata_path relative to the models folder, e.g. 'saved_models/x.onnx'.";

/**
 * Turns a strategy's model path into a safe relative key, following the predecessor
 * (`"models/" + path.replace('../', '')`) where it is safe: leading `../` segments are
 * dropped; absolute paths, `..` anywhere else, backslashes and NUL are refused with a
 * `ModelFileError` (`UNSAFE_PATH`). Empty and `.` segments are dropped.
 */
export function normalizeModelPath(path: string): string {
  const refuse = (problem: string) => new ModelFileError('UNSAFE_PATH', path, problem, RELATIVE_FIX);
  if (path.includes('\0')) throw refuse('the path contains a NUL character');
  if (path.includes('\\')) throw refuse('the path contains a backslash; use forward slashes');
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) throw refuse('absolute paths are refused');
  let rest = path;
  while (rest.startsWith('../')) rest = rest.slice(3);
  const segments = rest.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..'))
    throw refuse("'..' is only allowed as leading '../' segments, which are dropped");
  if (segments.length === 0) throw refuse('the path names no file');
  return segments.join('/');
}

function isInside(root: string, candidate: string): boolean {
  return candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/**
 * A `ModelFileReader` over a local folder laid out like the bucket: a strategy path
 * `saved_models/x.onnx` is read from `<modelsDir>/models/saved_models/x.onnx`, else from
 * `<modelsDir>/saved_models/x.onnx`. Paths are normalized with `normalizeModelPath`, and
 * nothing outside `modelsDir` is ever read (symbolic links included).
 */
export function localModelFiles(modelsDir: string): ModelFileReader {
  const root = resolve(modelsDir);
  let realRoot: Promise<string> | undefined;

  return async (path: string): Promise<Uint8Array> => {
    const relative = normalizeModelPath(path);
    const candidates = [join(root, 'models', relative), join(root, relative)];
    for (const candidate of candidates) {
      if (!isInside(root, candidate)) continue;
      let real: string;
      try {
        real = await realpath(candidate);
      } catch (error) {
        const code = errnoCode(error);
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw new ModelFileError(
          'FILE_UNREADABLE',
          path,
          `cannot open ${candidate} (${code})`,
          'Check the file.',
          {
            cause: error,
          },
        );
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
        const code = errnoCode(error);
        if (code === 'EISDIR') continue;
        throw new ModelFileError(
          'FILE_UNREADABLE',
          path,
          `cannot read ${candidate} (${code})`,
          'Check the file.',
          {
            cause: error,
          },
        );
      }
    }
    throw new ModelFileError(
      'FILE_NOT_FOUND',
      path,
      `not found in the models folder (looked for ${candidates.join(' and ')})`,
      `Put the file at ${candidates[0]} or correct the path in the strategy.`,
    );
  };
}
