import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { StoreError } from './errors.ts';
import { MODELS_PREFIX, validateKey } from './keys.ts';
import type { ObjectInfo, ObjectStore } from './types.ts';

/** The predecessor's model folders, uploaded under `models/`. */
export const MODEL_FOLDERS = ['saved_models', 'saved_scalers', 'saved_metadata'] as const;

/** One file of `uploadModels`, once handled. */
export interface UploadedModelFile {
  /** Path relative to the models folder, with `/` (as a strategy names it). */
  path: string;
  /** Object key (`models/<path>`). */
  key: string;
  size: number;
  sha256: string;
  /** `skipped`: the store already had the same content. */
  status: 'uploaded' | 'skipped';
}

/** Reported after each file, for a progress bar. */
export interface UploadProgress extends UploadedModelFile {
  /** Files handled so far (this one included) and in all. */
  done: number;
  total: number;
  /** Bytes handled so far (this file included) and in all. */
  bytesDone: number;
  bytesTotal: number;
}

export interface UploadModelsOptions {
  /** Called after each file (uploaded or skipped). */
  onProgress?: (progress: UploadProgress) => void;
}

export interface UploadModelsResult {
  /** The models folder that was read (`dataDir`, or `dataDir/models`). */
  folder: string;
  files: UploadedModelFile[];
  uploaded: number;
  skipped: number;
}

/**
 * Whether `path` is a real folder. A symbolic link is not followed, a linked folder no more
 * than a linked file (`walk` skips those): nothing is ever uploaded from outside `dataDir`.
 */
async function isFolder(path: string, links?: string[]): Promise<boolean> {
  try {
    const stats = await lstat(path);
    if (stats.isSymbolicLink()) links?.push(path);
    return stats.isDirectory();
  } catch {
    return false;
  }
}

async function walk(folder: string, files: string[]): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue; // .DS_Store, editor and temp files
    const path = join(folder, entry.name);
    if (entry.isDirectory()) await walk(path, files);
    else if (entry.isFile()) files.push(path);
  }
}

/** Whether the stored object already holds these bytes: sha256 metadata, else the ETag, else the bytes. */
async function holds(
  store: ObjectStore,
  info: ObjectInfo,
  bytes: Uint8Array,
  sha256: string,
): Promise<boolean> {
  if (info.size !== bytes.byteLength) return false;
  const recorded = info.metadata?.sha256;
  if (recorded !== undefined) return recorded === sha256;
  // Local ETags are the SHA-256; S3 ETags of single PUTs are the MD5.
  if (info.etag === sha256 || info.etag === createHash('md5').update(bytes).digest('hex')) return true;
  const object = await store.get(info.key);
  return Buffer.compare(object.body, bytes) === 0;
}

/**
 * Uploads a models folder in the predecessor's layout (`saved_models/`, `saved_scalers/`,
 * `saved_metadata/`, found in `dataDir` or in `dataDir/models`) to `models/<path>`, one file at
 * a time. Files whose content the store already holds are skipped (checked by the `sha256`
 * metadata each upload records, else by ETag, else by comparing the bytes). Hidden files are
 * ignored. Rejects with NOT_FOUND when none of the folders exists.
 */
export async function uploadModels(
  store: ObjectStore,
  dataDir: string,
  options: UploadModelsOptions = {},
): Promise<UploadModelsResult> {
  let folder = dataDir;
  const links: string[] = [];
  const present = async (base: string) =>
    (await Promise.all(MODEL_FOLDERS.map((name) => isFolder(join(base, name), links)))).some(Boolean);
  if (!(await present(folder)) && (await isFolder(join(dataDir, 'models'), links)))
    if (await present(join(dataDir, 'models'))) folder = join(dataDir, 'models');
  const paths: string[] = [];
  for (const name of MODEL_FOLDERS) {
    if (await isFolder(join(folder, name))) await walk(join(folder, name), paths);
  }
  if (paths.length === 0) {
    const linked = links.length
      ? ` (symbolic links are not followed: ${[...new Set(links)].map((l) => JSON.stringify(l)).join(', ')})`
      : '';
    throw new StoreError(
      'NOT_FOUND',
      store.kind,
      `No model files in ${dataDir}: expected ${MODEL_FOLDERS.join(', ')} folders there or in ${join(dataDir, 'models')}${linked}. Point to the folder that holds them.`,
    );
  }
  paths.sort();

  const sizes = await Promise.all(paths.map(async (path) => (await stat(path)).size));
  const bytesTotal = sizes.reduce((sum, size) => sum + size, 0);
  const files: UploadedModelFile[] = [];
  let bytesDone = 0;
  for (const path of paths) {
    const relativePath = relative(folder, path).split(sep).join('/');
    const key = validateKey(`${MODELS_PREFIX}${relativePath}`, store.kind);
    const bytes = await readFile(path);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const existing = await store.stat(key);
    const skip = existing !== undefined && (await holds(store, existing, bytes, sha256));
    if (!skip) await store.put(key, bytes, { metadata: { sha256 } });
    const file: UploadedModelFile = {
      path: relativePath,
      key,
      size: bytes.byteLength,
      sha256,
      status: skip ? 'skipped' : 'uploaded',
    };
    files.push(file);
    bytesDone += bytes.byteLength;
    options.onProgress?.({ ...file, done: files.length, total: paths.length, bytesDone, bytesTotal });
  }
  return {
    folder,
    files,
    uploaded: files.filter((f) => f.status === 'uploaded').length,
    skipped: files.filter((f) => f.status === 'skipped').length,
  };
}
