import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temp files start with this; nothing that lists a folder shows them. */
export const TEMP_PREFIX = '.po-tmp-';

/** A temp file name in the same folder as `path` (same file system, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
}

export interface WriteAtomicOptions {
  /** fsync the file and its folder, so that a power loss leaves the old or the new file. Default true. */
  fsync?: boolean;
  /** Create the folder when missing. Default true. */
  mkdir?: boolean;
}

/** What `writeFileAtomic` wrote: the identity of the file now at `path`. */
export interface WrittenFile {
  ino: number;
  size: number;
  mtimeMs: number;
}

async function syncFolder(folder: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // Some platforms cannot fsync a folder; the rename itself is still atomic.
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * Writes `bytes` to `path` atomically: a temp file in the same folder is written, fsynced
 * and renamed over `path`. A reader sees the old file or the new one, never part of one; if
 * anything fails the temp file is removed and `path` is untouched. Temp files left by a
 * process killed mid-write are named `.po-tmp-*`.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
  options: WriteAtomicOptions = {},
): Promise<WrittenFile> {
  const fsync = options.fsync ?? true;
  const folder = dirname(path);
  if (options.mkdir ?? true) await mkdir(folder, { recursive: true });
  const temp = tempPathFor(path);
  let written: WrittenFile;
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(bytes);
    if (fsync) await handle.sync();
    const stats = await handle.stat();
    written = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs };
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  if (fsync) await syncFolder(folder);
  return written;
}

/** True for the name of a temp or sidecar file (never an object). */
export function isReservedName(name: string): boolean {
  return basename(name).startsWith('.po-');
}
