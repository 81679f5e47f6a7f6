import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '@po/core';
import { DatabaseLockedError } from './errors.ts';

/** Whether the process `pid` exists (this one included). */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the exclusive lock of an embedded database folder: `<dataDir>.lock`, created with
 * O_EXCL and holding our pid. A lock whose pid is dead (a crash, kill -9) is taken over; a
 * live one is refused with `DatabaseLockedError`. Returns the release function.
 *
 * Limits: a recycled pid of an unrelated live process is taken as a holder (refused, never
 * taken over: the safe side); two processes taking over the same stale lock at the same
 * instant are separated by re-reading the pid just before removing it.
 */
export async function lockDataDir(dataDir: string, logger: Logger): Promise<() => Promise<void>> {
  const file = `${dataDir}.lock`;
  await mkdir(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(`${process.pid}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return async () => {
        if ((await readPid(file)) === process.pid) await rm(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = await readPid(file);
    if (pid === undefined) {
      // Being written by another opener (created, pid not yet written): wait, then call it stale.
      if (attempt < 10) {
        await sleep(50);
        continue;
      }
    } else if (isAlive(pid)) {
      throw new DatabaseLockedError(dataDir, pid, file);
    }
    if ((await readPid(file)) !== pid) continue;
    logger.warn(
      { lockFile: file, stalePid: pid },
      '[po/db] taking over the stale lock of a process that is gone',
    );
    await rm(file, { force: true });
  }
  throw new DatabaseLockedError(dataDir, (await readPid(file)) ?? 0, file);
}
