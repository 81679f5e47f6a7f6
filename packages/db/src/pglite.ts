import { execFile } from 'node:child_process';
import { readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { type Logger, silentLogger } from '@po/core';
import { DatabaseError } from './errors.ts';

/**
 * PostgreSQL settings of the embedded database, passed to PGlite at start (`-c name=value`).
 *
 * `shared_buffers`: initdb writes 128MB, and PGlite's single process touches all of it at start,
 * inside its WASM memory, so it stays resident (about 110 MB more RSS than 16MB, measured in
 * BENCHMARKS.md). The embedded database holds one unit's plant history and results (a few MB a
 * day); pages not in the buffers are read from the operating system's file cache.
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  shared_buffers: '16MB',
});

/** PGlite's own start parameters followed by po's settings (`-c name=value` each). */
export function pgliteStartParams(
  defaults: readonly string[],
  settings: Readonly<Record<string, string>> = PGLITE_SETTINGS,
): string[] {
  return [...defaults, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
}

/** Longest a new folder's initialisation may take before it counts as failed. */
const INIT_TIMEOUT_MS = 120_000;

/**
 * Runs in a child process (CommonJS, `node -e`): initialises a new PGlite folder and exits.
 * Arguments: PGlite's CommonJS entry, the folder, the start parameters (JSON).
 */
const INIT_SCRIPT = `
const [entry, dir, params] = process.argv.slice(1);
const { PGlite } = require(entry);
PGlite.create(dir, { startParams: JSON.parse(params) })
  .then((pg) => pg.close())
  .then(
    () => process.exit(0),
    (e) => { process.stderr.write(String((e && e.message) || e)); process.exit(1); },
  );
`;

/** Whether `dir` is missing or an empty folder (a new database is to be made there). */
async function isNewFolder(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
}

/**
 * Makes a new PGlite folder in a short-lived child process, then moves it into place.
 *
 * Why a child: PGlite initialises a new folder by starting a second, temporary PostgreSQL in
 * its own WASM memory (128 MB and more, plus initdb's); in the process that keeps the database
 * open, that memory stays resident long after (about 450 MB of the 877 MB `po start` held when
 * ready). A child gives all of it back when it exits. It works in `<dataDir>.init` and renames it
 * at the end, so an initialisation that is killed half-way leaves no half-made database behind
 * (the next start removes the leftover and begins again). The caller holds the folder's lock.
 */
export async function initPgliteFolder(
  dataDir: string,
  startParams: readonly string[],
  logger: Logger = silentLogger,
): Promise<boolean> {
  if (!(await isNewFolder(dataDir))) return false;
  const work = `${dataDir}.init`;
  await rm(work, { recursive: true, force: true });
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  logger.info({ database: dataDir }, '[po/db] new embedded database: initialising');
  const started = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-e', INIT_SCRIPT, entry, work, JSON.stringify(startParams)],
        { timeout: INIT_TIMEOUT_MS, env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 1 << 20 },
        (error, _stdout, stderr) => {
          if (!error) return resolve();
          const reason = stderr.trim().split('\n').at(-1) || error.message;
          reject(
            new DatabaseError(
              'QUERY_FAILED',
              dataDir,
              `Could not initialise the embedded database '${dataDir}' (in '${basename(work)}'): ${reason}. ` +
                'Check that the folder is writable and the disk has room.',
              error,
            ),
          );
        },
      );
    });
    await rm(dataDir, { recursive: true, force: true });
    await rename(work, dataDir);
    logger.info(
      { database: dataDir, ms: Math.round(performance.now() - started) },
      '[po/db] new embedded database: initialised',
    );
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
  return true;
}
