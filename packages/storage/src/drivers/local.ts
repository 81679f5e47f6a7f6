import { createHash } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { errorCode } from '@po/core';
import { isReservedName, TEMP_PREFIX, writeFileAtomic } from '../atomic-file.ts';
import { StoreError } from '../errors.ts';
import { validateKey } from '../keys.ts';
import { compareKeys, defineObjectStore, onceUntilFailure } from '../store.ts';
import type { NotModified, ObjectInfo, ObjectStore, PutOptions, StoredObject } from '../types.ts';

export const DRIVER_NAME = 'local';

export interface LocalStoreOptions {
  /**
   * The folder laid out like the bucket: the object `models/saved_models/x.onnx` is the file
   * `<root>/models/saved_models/x.onnx`. Files copied in by hand are objects too.
   */
  root: string;
  /** Create `root` (and its parents) when it does not exist. Default `true`. */
  create?: boolean;
  /**
   * fsync each written file and its folder before `put` resolves, so that a power loss leaves
   * the old or the new object. Default `true`; turn off only for throw-away stores.
   */
  fsync?: boolean;
  /**
   * Age in milliseconds after which a `.po-tmp-*` file is the leftover of a crashed write and
   * is removed (once when the store is first used, and whenever `list` meets one). Younger
   * temp files may belong to a write in progress in another process. Default 10 minutes.
   */
  staleTempMs?: number;
}

/** Stored next to each object as `.po-meta.<name>`: what hashing the file would give, and put's metadata. */
interface Sidecar {
  etag: string;
  size: number;
  mtimeMs: number;
  ino: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

const SIDECAR_PREFIX = '.po-meta.';
const MISSING = new Set(['ENOENT', 'ENOTDIR']);

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function sidecarPath(file: string): string {
  return join(dirname(file), `${SIDECAR_PREFIX}${basename(file)}`);
}

function view(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The store's folder and what every operation on it shares. */
interface Folder {
  /** The folder as given (resolved), for messages. */
  readonly root: string;
  readonly fsync: boolean;
  readonly staleTempMs: number;
  /** Creates and checks the folder once (and sweeps it); resolves its real path. */
  ready(): Promise<string>;
}

/**
 * A store over a local folder laid out like the bucket: the embedded default, and the
 * fallback when MinIO cannot be reached.
 *
 * - Writes are atomic: a temp file in the same folder, fsync, rename. Temp files are never
 *   listed; leftovers of a crashed write are removed after `staleTempMs`.
 * - ETags are the SHA-256 of the content. `put` records it with the metadata in a hidden
 *   sidecar `.po-meta.<name>`, trusted only while the file's inode, size and mtime match (so
 *   files edited by hand are hashed again).
 * - Nothing outside `root` is read or written: keys are validated, and symbolic links that
 *   lead outside `root` are refused with INVALID_KEY.
 * - A folder cannot be both an object and a prefix: with an object `a`, `put('a/b')`
 *   rejects with CONFLICT (S3 allows both).
 */
export function createLocalStore(options: LocalStoreOptions): ObjectStore {
  const folder: Folder = {
    root: resolve(options.root),
    fsync: options.fsync ?? true,
    staleTempMs: options.staleTempMs ?? 10 * 60_000,
    ready: onceUntilFailure(() => openFolder(folder, options.create ?? true)),
  };
  return defineObjectStore({
    kind: DRIVER_NAME,
    location: folder.root,
    get: (key) => readObject(folder, key) as Promise<StoredObject>,
    getIfChanged: (key, etag) => readObject(folder, key, etag),
    stat: (key) => statObject(folder, key),
    put: (key, body, putOptions) => putObject(folder, key, body, putOptions),
    list: (prefix) => listObjects(folder, prefix),
    delete: (key) => removeObject(folder, key),
  });
}

const fileOf = (folder: Folder, key: string) => join(folder.root, ...key.split('/'));
const isInside = (realRoot: string, path: string) =>
  path === realRoot || path.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);

function notFound(folder: Folder, key: string): StoreError {
  return new StoreError(
    'NOT_FOUND',
    DRIVER_NAME,
    `Object ${JSON.stringify(key)} not found in ${folder.root}. Upload it, or correct the key.`,
    { key },
  );
}

function outside(folder: Folder, key: string, real: string): StoreError {
  return new StoreError(
    'INVALID_KEY',
    DRIVER_NAME,
    `Key ${JSON.stringify(key)} leads outside the store folder ${folder.root} (through a symbolic link to ${real}). Copy the file into the folder instead of linking to it.`,
    { key },
  );
}

function ioError(folder: Folder, action: string, key: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const code = errorCode(error);
  if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
    return new StoreError(
      'CONFLICT',
      DRIVER_NAME,
      `Cannot ${action} ${JSON.stringify(key)} in ${folder.root}: a file and a folder of the same name are in the way (${code}); the local store cannot hold both 'a' and 'a/b'. Rename one of them.`,
      { key, cause: error },
    );
  }
  return new StoreError(
    'IO_ERROR',
    DRIVER_NAME,
    `Cannot ${action} ${JSON.stringify(key)} in ${folder.root}: ${code ?? (error instanceof Error ? error.message : String(error))}. Check the folder's permissions and free space.`,
    { key, cause: error },
  );
}

/** Creates (when asked) and checks the folder, sweeps leftovers; resolves its real path. */
async function openFolder(folder: Folder, create: boolean): Promise<string> {
  const { root } = folder;
  try {
    if (create) await mkdir(root, { recursive: true });
    let realRoot: string;
    let stats: Stats;
    try {
      realRoot = await realpath(root);
      stats = await stat(realRoot);
    } catch (error) {
      throw new StoreError(
        'NOT_FOUND',
        DRIVER_NAME,
        `The store folder ${root} does not exist. Create it, or let the store create it (create: true).`,
        { cause: error },
      );
    }
    if (!stats.isDirectory()) {
      throw new StoreError(
        'INVALID_ARGUMENT',
        DRIVER_NAME,
        `The store folder ${root} is not a folder. Point root at a folder.`,
      );
    }
    await sweep(folder, realRoot);
    return realRoot;
  } catch (error) {
    throw ioError(folder, 'open', root, error);
  }
}

async function removeIfStale(folder: Folder, path: string): Promise<void> {
  try {
    const stats = await lstat(path);
    if (Date.now() - stats.mtimeMs > folder.staleTempMs) await unlink(path);
  } catch {
    // Gone already, or not ours to remove: either way it is not listed.
  }
}

/** Removes stale temp files and sidecars whose object is gone, in the whole tree. */
async function sweep(folder: Folder, path: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return;
  }
  const names = new Set(entries.map((entry) => entry.name));
  await Promise.all(
    entries.map(async (entry) => {
      const child = join(path, entry.name);
      if (entry.name.startsWith(TEMP_PREFIX)) return removeIfStale(folder, child);
      if (entry.name.startsWith(SIDECAR_PREFIX)) {
        if (!names.has(entry.name.slice(SIDECAR_PREFIX.length))) await removeIfStale(folder, child);
        return;
      }
      if (entry.isDirectory()) await sweep(folder, child);
    }),
  );
}

/** The real path of an existing object, undefined when missing; refuses links leading outside. */
async function realFile(folder: Folder, key: string): Promise<string | undefined> {
  const realRoot = await folder.ready();
  let real: string;
  try {
    real = await realpath(fileOf(folder, key));
  } catch (error) {
    if (MISSING.has(errorCode(error) ?? '')) return undefined;
    throw ioError(folder, 'read', key, error);
  }
  if (!isInside(realRoot, real)) throw outside(folder, key, real);
  return real;
}

async function readSidecar(file: string, stats: Stats): Promise<Sidecar | undefined> {
  try {
    const sidecar = JSON.parse(await readFile(sidecarPath(file), 'utf8')) as Sidecar;
    const matches =
      sidecar.ino === stats.ino && sidecar.size === stats.size && sidecar.mtimeMs === stats.mtimeMs;
    return matches && typeof sidecar.etag === 'string' ? sidecar : undefined;
  } catch {
    return undefined;
  }
}

function infoOf(key: string, stats: Stats, etag: string, sidecar: Sidecar | undefined): ObjectInfo {
  const info: ObjectInfo = { key, size: stats.size, etag, lastModified: stats.mtime };
  if (sidecar?.contentType !== undefined) info.contentType = sidecar.contentType;
  info.metadata = { ...sidecar?.metadata };
  return info;
}

/** Opens an object and reads its metadata; the body only when `unlessEtag` does not match. */
async function readObject(
  folder: Folder,
  key: string,
  unlessEtag?: string,
): Promise<StoredObject | NotModified> {
  const real = await realFile(folder, key);
  if (real === undefined) throw notFound(folder, key);
  let handle: FileHandle;
  try {
    handle = await open(real, 'r');
  } catch (error) {
    if (MISSING.has(errorCode(error) ?? '')) throw notFound(folder, key);
    throw ioError(folder, 'read', key, error);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notFound(folder, key);
    const sidecar = await readSidecar(real, stats);
    if (unlessEtag !== undefined && sidecar?.etag === unlessEtag) {
      return { notModified: true, key, etag: unlessEtag };
    }
    const body = view(await handle.readFile());
    const etag = sidecar?.etag ?? sha256(body);
    if (unlessEtag !== undefined && etag === unlessEtag) return { notModified: true, key, etag };
    return { ...infoOf(key, stats, etag, sidecar), size: body.byteLength, body };
  } catch (error) {
    throw ioError(folder, 'read', key, error);
  } finally {
    await handle.close().catch(() => {});
  }
}

async function statObject(folder: Folder, key: string): Promise<ObjectInfo | undefined> {
  const real = await realFile(folder, key);
  if (real === undefined) return undefined;
  try {
    const stats = await stat(real);
    if (!stats.isFile()) return undefined;
    const sidecar = await readSidecar(real, stats);
    if (sidecar) return infoOf(key, stats, sidecar.etag, sidecar);
    // No trustworthy sidecar (file copied in by hand, or changed since): hash the content.
    return (await readObject(folder, key)) as ObjectInfo;
  } catch (error) {
    if (MISSING.has(errorCode(error) ?? '')) return undefined;
    if (error instanceof StoreError && error.code === 'NOT_FOUND') return undefined;
    throw ioError(folder, 'stat', key, error);
  }
}

/** Creates the object's folder, refusing to create anything through a link that leads outside. */
async function ensureFolder(folder: Folder, key: string, path: string): Promise<void> {
  const realRoot = await folder.ready();
  let existing = path;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (!isInside(realRoot, real)) throw outside(folder, key, real);
      break;
    } catch (error) {
      if (error instanceof StoreError) throw error;
      if (!MISSING.has(errorCode(error) ?? '') || existing.length <= folder.root.length) throw error;
      existing = dirname(existing);
    }
  }
  await mkdir(path, { recursive: true });
}

async function putObject(
  folder: Folder,
  key: string,
  body: Uint8Array,
  options: PutOptions | undefined,
): Promise<ObjectInfo> {
  const file = fileOf(folder, key);
  const etag = sha256(body);
  // A concurrent delete may remove the (then empty) folder between mkdir and write: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureFolder(folder, key, dirname(file));
      const written = await writeFileAtomic(file, body, { fsync: folder.fsync, mkdir: false });
      const sidecar: Sidecar = { etag, ...written };
      if (options?.contentType !== undefined) sidecar.contentType = options.contentType;
      if (options?.metadata !== undefined) sidecar.metadata = { ...options.metadata };
      // Written after the object: a crash in between leaves an object without metadata, never wrong metadata.
      await writeFileAtomic(sidecarPath(file), JSON.stringify(sidecar), { fsync: false, mkdir: false });
      const info: ObjectInfo = {
        key,
        size: body.byteLength,
        etag,
        lastModified: new Date(written.mtimeMs),
        metadata: { ...options?.metadata },
      };
      if (options?.contentType !== undefined) info.contentType = options.contentType;
      return info;
    } catch (error) {
      if (errorCode(error) === 'ENOENT' && attempt < 3) continue;
      throw ioError(folder, 'write', key, error);
    }
  }
}

async function listObjects(folder: Folder, prefix: string): Promise<ObjectInfo[]> {
  const realRoot = await folder.ready();
  const slash = prefix.lastIndexOf('/');
  const folderKey = slash < 0 ? '' : prefix.slice(0, slash);
  const start = folderKey === '' ? folder.root : fileOf(folder, folderKey);
  if (folderKey !== '') {
    let real: string | undefined;
    try {
      real = await realpath(start);
    } catch {
      real = undefined; // Nothing under this prefix.
    }
    if (real === undefined) return [];
    if (!isInside(realRoot, real)) throw outside(folder, prefix, real);
  }
  const keys: string[] = [];
  await collectKeys({ folder, realRoot, prefix, keys }, start, folderKey === '' ? '' : `${folderKey}/`);
  const infos = await Promise.all(keys.map((key) => statObject(folder, key)));
  return infos
    .filter((info): info is ObjectInfo => info !== undefined)
    .map(({ key, size, etag, lastModified }) => ({ key, size, etag, lastModified }))
    .sort(compareKeys);
}

/** One `list` walk: the keys under `prefix` are pushed to `keys`. */
interface Walk {
  readonly folder: Folder;
  readonly realRoot: string;
  readonly prefix: string;
  readonly keys: string[];
}

/** Walks `path` (whose keys start with `pathPrefix`), descending only into folders that can hold `prefix`. */
async function collectKeys(walk: Walk, path: string, pathPrefix: string): Promise<void> {
  const { folder, realRoot, prefix, keys } = walk;
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    if (MISSING.has(errorCode(error) ?? '')) return;
    throw ioError(folder, 'list', prefix, error);
  }
  await Promise.all(
    entries.map(async (entry) => {
      const child = join(path, entry.name);
      if (isReservedName(entry.name)) {
        if (entry.name.startsWith(TEMP_PREFIX)) await removeIfStale(folder, child);
        return;
      }
      const key = pathPrefix + entry.name;
      try {
        validateKey(key, DRIVER_NAME);
      } catch {
        return; // A name po refuses (e.g. with a backslash), put there by hand.
      }
      let isFile = entry.isFile();
      let isFolder = entry.isDirectory();
      if (entry.isSymbolicLink()) {
        // Links are followed only to files inside the store; linked folders are not walked.
        try {
          const real = await realpath(child);
          isFile = isInside(realRoot, real) && (await stat(real)).isFile();
        } catch {
          isFile = false;
        }
        isFolder = false;
      }
      if (isFile && key.startsWith(prefix)) keys.push(key);
      const childPrefix = `${key}/`;
      if (isFolder && (childPrefix.startsWith(prefix) || prefix.startsWith(childPrefix))) {
        await collectKeys(walk, child, childPrefix);
      }
    }),
  );
}

async function removeObject(folder: Folder, key: string): Promise<void> {
  await folder.ready();
  const file = fileOf(folder, key);
  try {
    const stats = await lstat(file);
    if (stats.isDirectory()) return; // A prefix, not an object.
    await unlink(file); // Removes a link itself, never its target.
  } catch (error) {
    if (MISSING.has(errorCode(error) ?? '')) return;
    throw ioError(folder, 'delete', key, error);
  }
  await unlink(sidecarPath(file)).catch(() => {});
  // S3 has no folders: remove the ones this delete left empty, so that the key can become a file.
  for (let path = dirname(file); path.length > folder.root.length; path = dirname(path)) {
    try {
      await rmdir(path);
    } catch {
      break;
    }
  }
}
