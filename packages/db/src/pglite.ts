import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { describeError, type Logger, silentLogger } from '@po/core';
import { DatabaseError, DbError } from './errors.ts';

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

/**
 * Runs in a child process (CommonJS, `node -e`): unpacks a template into a new folder and exits.
 * Arguments: tar's CommonJS entry, the template, the folder. Entries stay inside the folder (no
 * absolute paths, no `..`); owners are not restored.
 */
const UNPACK_SCRIPT = `
const [entry, file, dir] = process.argv.slice(1);
const tar = require(entry);
require('node:fs').mkdirSync(dir);
tar.x({ file, cwd: dir, strict: true, preserveOwner: false }).then(
  () => process.exit(0),
  (e) => { process.stderr.write(String((e && e.message) || e)); process.exit(1); },
);
`;

/** Runs `script` (CommonJS) in a short-lived child process; rejects with the last line it wrote to stderr. */
function runChild(script: string, args: readonly string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      ['-e', script, ...args],
      { timeout: INIT_TIMEOUT_MS, env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 1 << 20 },
      (error, _stdout, stderr) => {
        if (!error) return resolve();
        const reason = stderr.trim().split('\n').at(-1) || error.message;
        reject(Object.assign(new Error(reason), { cause: error }));
      },
    );
  });
}

/** Whether `dir` is missing or an empty folder (a new database is to be made there). */
async function isNewFolder(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
}

/** PGlite's CommonJS entry (for the child process) and its version (the key of a template). */
async function pglitePackage(): Promise<{ entry: string; version: string }> {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  // The entry is `<package>/dist/index.cjs`; its package.json is not in PGlite's `exports`.
  const manifest = JSON.parse(await readFile(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string')
    throw new DbError('INVALID_ARGUMENT', `[po/db] No version in PGlite's package.json next to '${entry}'.`);
  return { entry, version: manifest.version };
}

/**
 * File name of the template of a new folder, in a templates folder. initdb's output depends on
 * PGlite's version alone (po passes no initdb parameters; its `-c` settings apply at each start).
 */
function templateName(version: string): string {
  return `pglite-${version}.tar.gz`;
}

/** Where the template for the installed PGlite version is (or would be) in the folder `templates`. */
export async function pgliteTemplatePath(templates: string): Promise<string> {
  return join(templates, templateName((await pglitePackage()).version));
}

/** Runs PGlite's initdb for a new folder `work` in a short-lived child process. */
async function initInChild(
  entry: string,
  work: string,
  startParams: readonly string[],
  dataDir: string,
): Promise<void> {
  try {
    await runChild(INIT_SCRIPT, [entry, work, JSON.stringify(startParams)]);
  } catch (e) {
    throw new DatabaseError(
      'QUERY_FAILED',
      dataDir,
      `Could not initialise the embedded database '${dataDir}' (in '${basename(work)}'): ${(e as Error).message}. ` +
        'Check that the folder is writable and the disk has room.',
      (e as Error).cause,
    );
  }
}

/** Entries a PostgreSQL data folder cannot start without. */
const DATA_FOLDER_ENTRIES = ['PG_VERSION', 'global/pg_control', 'base', 'pg_wal'];

/**
 * Unpacks the template `file` into the new folder `work`, in a short-lived child process (the
 * buffers of unpacking ~40 MB would otherwise stay in this process's allocator, about 20 MB of
 * RSS for good). A template that is missing, damaged (gzip and tar checksums) or not a PostgreSQL
 * data folder is logged (warning, with the reason), what was unpacked removed, and `false`
 * returned: the caller then runs initdb, so a bad template costs time, never a wrong database.
 * The child has exited when this returns, so nothing writes into `work` any more.
 */
async function unpackTemplate(file: string, work: string, logger: Logger): Promise<boolean> {
  const unusable = async (reason: string, what = 'template not usable') => {
    logger.warn(
      { template: file, reason },
      `[po/db] new embedded database: ${what}; running initdb instead (slower)`,
    );
    await rm(work, { recursive: true, force: true });
    return false;
  };
  try {
    await access(file);
  } catch {
    return unusable('missing', 'no template');
  }
  try {
    await runChild(UNPACK_SCRIPT, [createRequire(import.meta.url).resolve('tar'), file, work]);
    for (const needed of DATA_FOLDER_ENTRIES)
      await access(join(work, needed)).catch(() => {
        throw new Error(`it holds no '${needed}' (not a PostgreSQL data folder)`);
      });
    return true;
  } catch (e) {
    return unusable(describeError(e));
  }
}

/**
 * Makes a new PGlite folder, then moves it into place: unpacked from a template when `templates`
 * (a folder) holds one for this PGlite version (made by `makePgliteTemplate`), otherwise by
 * PGlite's initdb in a short-lived child process.
 *
 * Why a template: initdb is most of the time a new folder takes (seconds of CPU in a temporary
 * PostgreSQL); unpacking its result takes a fraction of that. Why a child for initdb: PGlite
 * initialises a new folder by starting a second, temporary PostgreSQL in its own WASM memory
 * (128 MB and more, plus initdb's); in the process that keeps the database open, that memory
 * stays resident long after (about 450 MB of the 877 MB `po start` held when ready). A child
 * gives all of it back when it exits. Both work in `<dataDir>.init` and rename it at the end, so
 * an initialisation that is killed half-way leaves no half-made database behind (the next start
 * removes the leftover and begins again). The caller holds the folder's lock.
 */
export async function initPgliteFolder(
  dataDir: string,
  startParams: readonly string[],
  logger: Logger = silentLogger,
  templates?: string,
): Promise<boolean> {
  if (!(await isNewFolder(dataDir))) return false;
  const work = `${dataDir}.init`;
  await rm(work, { recursive: true, force: true });
  const { entry, version } = await pglitePackage();
  logger.info({ database: dataDir }, '[po/db] new embedded database: initialising');
  const started = performance.now();
  try {
    const template = templates && join(templates, templateName(version));
    const unpacked = template ? await unpackTemplate(template, work, logger) : false;
    if (!unpacked) await initInChild(entry, work, startParams, dataDir);
    await rm(dataDir, { recursive: true, force: true });
    await rename(work, dataDir);
    logger.info(
      {
        database: dataDir,
        from: unpacked ? template : 'initdb',
        ms: Math.round(performance.now() - started),
      },
      '[po/db] new embedded database: initialised',
    );
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
  return true;
}

/**
 * Makes the template of a new embedded database folder for the installed PGlite version in the
 * folder `templates` (`pglite-<version>.tar.gz`, about 4.5 MB): PGlite's initdb in a child
 * process, the result packed (gzip). `openDatabase({ pgliteTemplates })` unpacks it for each new
 * folder. Packed in a temporary folder beside it and renamed, so a template is whole or absent.
 * Returns the template's path.
 */
export async function makePgliteTemplate(templates: string): Promise<string> {
  const { PGlite } = await import('@electric-sql/pglite');
  // Loaded here only: a service never packs a template.
  const { create: createTar } = await import('tar');
  const { entry, version } = await pglitePackage();
  const file = join(templates, templateName(version));
  await mkdir(templates, { recursive: true });
  const work = await mkdtemp(join(templates, '.pglite-template-'));
  try {
    const data = join(work, 'data');
    await initInChild(entry, data, pgliteStartParams(PGlite.defaultStartParams), data);
    const packed = join(work, basename(file));
    await createTar(
      { gzip: { level: 9 }, file: packed, cwd: data, portable: true },
      (await readdir(data)).sort(),
    );
    await rename(packed, file);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return file;
}
