import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { describeError, type Logger, silentLogger } from '@po/core';
import { DatabaseError, DbError } from './errors.ts';
import { isAlive } from './lock.ts';

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

/**
 * V8 option for PGlite's WebAssembly: compiled by the baseline compiler (Liftoff) only, never
 * tiered up to the optimising one (TurboFan). Tiering up PostgreSQL's hot functions took ~50 MB
 * of compiler memory at start, which glibc kept as RSS for good, and it competed for the CPU
 * while the database opened; Liftoff's code answered po's queries as fast (BENCHMARKS.md,
 * footprint). It applies to all WebAssembly compiled afterwards in the process; PGlite is po's
 * only WebAssembly.
 */
const PGLITE_WASM_FLAG = '--liftoff-only';

/** Sets `PGLITE_WASM_FLAG` in this process, before PGlite's module is compiled (at its first open). */
export function useLiftoffForPglite(): void {
  setFlagsFromString(PGLITE_WASM_FLAG);
}

/** Longest a new folder's initialisation may take before it counts as failed. */
const INIT_TIMEOUT_MS = 120_000;

/** How often a child making a new folder checks that its parent is still there, ms. */
const PARENT_POLL_MS = 100;

/**
 * Test hook: a child making a new folder waits this long (ms) once its work folder exists, so a
 * test can kill its parent in that window. Unset in use.
 */
const TEST_PAUSE_ENV = 'PO_TEST_PGLITE_INIT_PAUSE_MS';

/**
 * Start of the scripts below (CommonJS, `node -e`). Arguments: the work folder's prefix, then the
 * script's own. The child works in `<prefix><its pid>` (the parent derives the same name from
 * the pid it started) and ends with its parent: once it is re-parented (the parent was killed,
 * even with -9), it removes its work folder and exits, between two steps of its work. So an
 * orphan never goes on writing, and the next start never shares a folder with one.
 */
const CHILD_PRELUDE = `
const fs = require('node:fs');
const [prefix, ...args] = process.argv.slice(1);
const dir = prefix + process.pid;
const parent = process.ppid;
setInterval(() => {
  if (process.ppid === parent) return;
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch {}
  process.exit(1);
}, ${PARENT_POLL_MS}).unref();
const fail = (e) => { process.stderr.write(String((e && e.message) || e)); process.exit(1); };
try { fs.mkdirSync(dir); } catch (e) { fail(e); }
const pause = Number(process.env.${TEST_PAUSE_ENV} || 0);
const begin = (work) => setTimeout(() => Promise.resolve().then(work).then(() => process.exit(0), fail), pause);
`;

/**
 * Runs in a child process: initialises a new PGlite folder and exits.
 * Arguments: PGlite's CommonJS entry, the start parameters (JSON).
 */
const INIT_SCRIPT = `${CHILD_PRELUDE}
const [entry, params] = args;
const { PGlite } = require(entry);
begin(() => PGlite.create(dir, { startParams: JSON.parse(params) }).then((pg) => pg.close()));
`;

/**
 * Runs in a child process: unpacks a template into a new folder and exits.
 * Arguments: tar's CommonJS entry, the template. Entries stay inside the folder (no absolute
 * paths, no `..`); owners are not restored.
 */
const UNPACK_SCRIPT = `${CHILD_PRELUDE}
const [entry, file] = args;
const tar = require(entry);
begin(() => tar.x({ file, cwd: dir, strict: true, preserveOwner: false }));
`;

/** Prefix of the work folders of a new folder `dataDir`: `<dataDir>.init-<pid of the child making it>`. */
function workPrefix(dataDir: string): string {
  return `${dataDir}.init-`;
}

/**
 * Runs `script` (CommonJS, starting with `CHILD_PRELUDE`) in a short-lived child process whose
 * work folder starts with `prefix`. Calls `onWork` with that folder as soon as the child runs (so
 * the caller can remove it whatever happens) and resolves when the child has exited with 0;
 * rejects with the last line it wrote to stderr.
 */
function runChild(
  script: string,
  prefix: string,
  args: readonly string[],
  onWork: (work: string) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = execFile(
      process.execPath,
      // PGlite's WebAssembly by Liftoff alone there too: initdb starts sooner (PGLITE_WASM_FLAG).
      [PGLITE_WASM_FLAG, '-e', script, prefix, ...args],
      { timeout: INIT_TIMEOUT_MS, env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 1 << 20 },
      (error, _stdout, stderr) => {
        if (!error) return resolve();
        const reason = stderr.trim().split('\n').at(-1) || error.message;
        reject(Object.assign(new Error(reason), { cause: error }));
      },
    );
    if (child.pid !== undefined) onWork(`${prefix}${child.pid}`);
  });
}

/**
 * Removes what earlier starts left beside `dataDir` while making it: work folders
 * (`<dataDir>.init-<pid>`) whose process is gone, and the one `<dataDir>.init` earlier
 * versions of po used. A work folder whose process still runs is left alone (an
 * orphan of a killed start, ending itself: `CHILD_PRELUDE`); a recycled pid keeps a leftover
 * until that process ends (the safe side). The caller holds the folder's lock.
 */
async function removeStaleWork(dataDir: string, logger: Logger): Promise<void> {
  const own = basename(workPrefix(dataDir));
  const legacy = `${basename(dataDir)}.init`;
  const names = await readdir(dirname(dataDir)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  for (const name of names) {
    const pid =
      name.startsWith(own) && /^\d+$/.test(name.slice(own.length)) ? Number(name.slice(own.length)) : 0;
    if (name !== legacy && !pid) continue;
    if (pid && isAlive(pid)) {
      logger.warn(
        { folder: join(dirname(dataDir), name), pid },
        '[po/db] new embedded database: a work folder of a running process, left alone',
      );
      continue;
    }
    logger.info(
      { folder: join(dirname(dataDir), name) },
      '[po/db] removing an unfinished new embedded database',
    );
    await rm(join(dirname(dataDir), name), { recursive: true, force: true });
  }
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

/**
 * Runs PGlite's initdb for a new folder in a short-lived child process, in a work folder beside
 * `dataDir` (`onWork` is told its path); rejects with a `DatabaseError` naming `dataDir`.
 */
async function initInChild(
  entry: string,
  dataDir: string,
  startParams: readonly string[],
  onWork: (work: string) => void,
): Promise<void> {
  let work = workPrefix(dataDir);
  try {
    await runChild(INIT_SCRIPT, workPrefix(dataDir), [entry, JSON.stringify(startParams)], (w) => {
      work = w;
      onWork(w);
    });
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
 * Unpacks the template `file` for the new folder `dataDir` in a short-lived child process, in a
 * work folder beside it (the buffers of unpacking ~40 MB would otherwise stay in this process's
 * allocator, about 20 MB of RSS for good). Returns the work folder. A template that is missing,
 * damaged (gzip and tar checksums) or not a PostgreSQL data folder is logged (warning, with the
 * reason), what was unpacked removed, and `undefined` returned: the caller then runs initdb, so a
 * bad template costs time, never a wrong database. The child has exited when this returns, so
 * nothing writes into the work folder any more.
 */
async function unpackTemplate(file: string, dataDir: string, logger: Logger): Promise<string | undefined> {
  let work: string | undefined;
  const unusable = async (reason: string, what = 'template not usable') => {
    logger.warn(
      { template: file, reason },
      `[po/db] new embedded database: ${what}; running initdb instead (slower)`,
    );
    if (work) await rm(work, { recursive: true, force: true });
    return undefined;
  };
  try {
    await access(file);
  } catch {
    return unusable('missing', 'no template');
  }
  try {
    await runChild(
      UNPACK_SCRIPT,
      workPrefix(dataDir),
      [createRequire(import.meta.url).resolve('tar'), file],
      (w) => {
        work = w;
      },
    );
    for (const needed of DATA_FOLDER_ENTRIES)
      await access(join(work!, needed)).catch(() => {
        throw new Error(`it holds no '${needed}' (not a PostgreSQL data folder)`);
      });
    return work;
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
 * gives all of it back when it exits.
 *
 * Each child works in its own folder, `<dataDir>.init-<its pid>`, renamed to `dataDir` at the
 * end, so an initialisation that is killed half-way leaves no half-made database behind. A child
 * whose parent is killed removes its folder and exits (`CHILD_PRELUDE`); the next start removes
 * the folders of children that are gone and never touches one still running. The caller holds
 * the folder's lock.
 */
export async function initPgliteFolder(
  dataDir: string,
  startParams: readonly string[],
  logger: Logger = silentLogger,
  templates?: string,
): Promise<boolean> {
  await removeStaleWork(dataDir, logger);
  if (!(await isNewFolder(dataDir))) return false;
  const { entry, version } = await pglitePackage();
  logger.info({ database: dataDir }, '[po/db] new embedded database: initialising');
  const started = performance.now();
  let work: string | undefined;
  try {
    const template = templates && join(templates, templateName(version));
    work = template ? await unpackTemplate(template, dataDir, logger) : undefined;
    const unpacked = work !== undefined;
    if (!unpacked)
      await initInChild(entry, dataDir, startParams, (w) => {
        work = w;
      });
    await rm(dataDir, { recursive: true, force: true });
    await rename(work!, dataDir);
    logger.info(
      {
        database: dataDir,
        from: unpacked ? template : 'initdb',
        ms: Math.round(performance.now() - started),
      },
      '[po/db] new embedded database: initialised',
    );
  } catch (e) {
    if (work) await rm(work, { recursive: true, force: true });
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
  const folder = await mkdtemp(join(templates, '.pglite-template-'));
  try {
    let data = '';
    await initInChild(entry, join(folder, 'data'), pgliteStartParams(PGlite.defaultStartParams), (w) => {
      data = w;
    });
    const packed = join(folder, basename(file));
    await createTar(
      { gzip: { level: 9 }, file: packed, cwd: data, portable: true },
      (await readdir(data)).sort(),
    );
    await rename(packed, file);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return file;
}
