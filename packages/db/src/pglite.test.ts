import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Logger } from '@po/core';
import { create as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MIGRATIONS_TABLE,
  makePgliteTemplate,
  migrate,
  openDatabase,
  PGLITE_SETTINGS,
  pgliteStartParams,
  pgliteTemplatePath,
} from './index.ts';

// Each initdb takes seconds of CPU, and much more on a loaded machine.
describe('embedded PGlite settings and new folders', { timeout: 180_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'po-pglite-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends po settings to PGlite start parameters as -c name=value', () => {
    expect(pgliteStartParams(['--single'], { shared_buffers: '16MB', work_mem: '1MB' })).toEqual([
      '--single',
      '-c',
      'shared_buffers=16MB',
      '-c',
      'work_mem=1MB',
    ]);
  });

  it('initialises a new folder apart, then runs with small shared buffers', async () => {
    const dataDir = join(dir, 'new');
    const db = await openDatabase({ dataDir });
    try {
      const { rows } = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      expect(rows[0]?.shared_buffers).toBe(PGLITE_SETTINGS.shared_buffers);
      expect(await readdir(dataDir)).toContain('PG_VERSION');
      await db.query('CREATE TABLE kept (x int)');
      await db.query('INSERT INTO kept VALUES (7)');
    } finally {
      await db.close();
    }
    // No work folder is left; the database opens again with its data.
    expect((await readdir(dir)).filter((n) => n.startsWith('new.init'))).toEqual([]);
    const again = await openDatabase({ dataDir });
    try {
      expect((await again.query<{ x: number }>('SELECT x FROM kept')).rows).toEqual([{ x: 7 }]);
    } finally {
      await again.close();
    }
  });

  it('starts over after initialisations killed half-way; a work folder of a running process is left alone', async () => {
    const dataDir = join(dir, 'interrupted');
    // A process that ended (its pid is free) and one that runs.
    const ended = spawn(process.execPath, ['-e', '']);
    await once(ended, 'exit');
    const running = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const leftovers = [`${dataDir}.init`, `${dataDir}.init-${ended.pid}`, `${dataDir}.init-${running.pid}`];
      for (const work of leftovers) {
        await mkdir(join(work, 'base'), { recursive: true });
        await writeFile(join(work, 'base/half-written'), 'x');
      }
      await mkdir(dataDir); // an empty folder counts as new
      const db = await openDatabase({ dataDir });
      try {
        expect((await db.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
      } finally {
        await db.close();
      }
      expect((await readdir(dir)).filter((n) => n.startsWith('interrupted.init'))).toEqual([
        `interrupted.init-${running.pid}`,
      ]);
      expect(await readFile(join(leftovers[2]!, 'base/half-written'), 'utf8')).toBe('x');
    } finally {
      running.kill('SIGKILL');
    }
  });
});

/** A logger keeping what it is given, for the lines a test expects. */
function recordingLogger(): Logger & { lines: { level: string; fields: object; message: string }[] } {
  const lines: { level: string; fields: object; message: string }[] = [];
  const at =
    (level: string) =>
    (fields: object, message = '') =>
      void lines.push({ level, fields, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('new embedded folders from a template', { timeout: 180_000 }, () => {
  let dir: string;
  let templates: string;
  let template: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'po-pglite-template-'));
    templates = join(dir, 'templates');
    template = await makePgliteTemplate(templates);
  }, 180_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Opens a new folder with these templates; the database it gives answers like any other. */
  async function openNew(name: string, from: string) {
    const logger = recordingLogger();
    const dataDir = join(dir, name);
    const db = await openDatabase({ dataDir, pgliteTemplates: from, logger });
    try {
      const { rows } = await db.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1');
      expect(rows.map((r) => r.datname)).toEqual(['postgres', 'template0', 'template1']);
      const shown = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      expect(shown.rows[0]?.shared_buffers).toBe(PGLITE_SETTINGS.shared_buffers);
      await migrate(db);
      await db.query('CREATE TABLE kept (x int)');
      await db.query('INSERT INTO kept VALUES (7)');
    } finally {
      await db.close();
    }
    expect((await readdir(dir)).filter((n) => n.startsWith(`${name}.init`))).toEqual([]);
    const again = await openDatabase({ dataDir });
    try {
      expect((await again.query<{ x: number }>('SELECT x FROM kept')).rows).toEqual([{ x: 7 }]);
      const { rows } = await again.query<{ id: string }>(`SELECT id FROM ${MIGRATIONS_TABLE} LIMIT 1`);
      expect(rows.length).toBe(1);
    } finally {
      await again.close();
    }
    const initialised = logger.lines.find((l) => l.message.endsWith('new embedded database: initialised'));
    const warnings = logger.lines
      .filter((l) => l.level === 'warn')
      .map((l) => ({ message: l.message, ...(l.fields as Record<string, unknown>) }));
    return { warnings, from: initialised?.fields };
  }

  it('is named after the PGlite version and small', async () => {
    expect(basename(template)).toMatch(/^pglite-\d+\.\d+\.\d+.*\.tar\.gz$/);
    expect(template).toBe(await pgliteTemplatePath(templates));
    expect((await stat(template)).size).toBeLessThan(10 * 1024 * 1024);
    // Only the template is left in its folder.
    expect(await readdir(templates)).toEqual([basename(template)]);
  });

  it('unpacks a new folder from the template: a working database, no initdb', async () => {
    const { warnings, from } = await openNew('from-template', templates);
    expect(warnings).toEqual([]);
    expect(from).toMatchObject({ from: template });
  });

  it('runs initdb, with a warning naming the template, when there is none for this PGlite', async () => {
    const empty = join(dir, 'no-templates');
    await mkdir(empty);
    const { warnings, from } = await openNew('no-template', empty);
    expect(from).toMatchObject({ from: 'initdb' });
    expect(warnings).toEqual([
      {
        message: expect.stringMatching(/no template; running initdb instead/),
        template: join(empty, basename(template)),
        reason: 'missing',
      },
    ]);
  });

  it('runs initdb, with a warning and the reason, when the template is damaged', async () => {
    const damaged = join(dir, 'damaged');
    await mkdir(damaged);
    const bytes = await readFile(template);
    await writeFile(join(damaged, basename(template)), bytes.subarray(0, bytes.length >> 1));
    const { warnings, from } = await openNew('damaged-template', damaged);
    expect(from).toMatchObject({ from: 'initdb' });
    expect(warnings).toEqual([
      {
        message: expect.stringMatching(/template not usable; running initdb instead/),
        template: join(damaged, basename(template)),
        reason: expect.stringMatching(/unexpected end of file|TAR_BAD_ARCHIVE|Z_BUF_ERROR/i),
      },
    ]);
  });

  it('runs initdb when the template is a whole archive of something else than a data folder', async () => {
    const other = join(dir, 'other');
    const content = join(dir, 'other-content');
    await mkdir(other);
    await mkdir(content);
    await writeFile(join(content, 'PG_VERSION'), '17\n');
    await createTar({ gzip: true, file: join(other, basename(template)), cwd: content }, ['PG_VERSION']);
    const { warnings, from } = await openNew('other-template', other);
    expect(from).toMatchObject({ from: 'initdb' });
    expect(warnings).toEqual([
      expect.objectContaining({
        reason: expect.stringMatching(/holds no 'global\/pg_control' \(not a PostgreSQL data folder\)/),
      }),
    ]);
  });
});
