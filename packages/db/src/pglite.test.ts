import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, PGLITE_SETTINGS, pgliteStartParams } from './index.ts';

describe('embedded PGlite settings and new folders', () => {
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
    expect(await readdir(dir)).not.toContain('new.init');
    const again = await openDatabase({ dataDir });
    try {
      expect((await again.query<{ x: number }>('SELECT x FROM kept')).rows).toEqual([{ x: 7 }]);
    } finally {
      await again.close();
    }
  });

  it('starts over after an initialisation killed half-way (a leftover work folder)', async () => {
    const dataDir = join(dir, 'interrupted');
    await mkdir(`${dataDir}.init/base`, { recursive: true });
    await writeFile(`${dataDir}.init/base/half-written`, 'x');
    await mkdir(dataDir); // an empty folder counts as new
    const db = await openDatabase({ dataDir });
    try {
      expect((await db.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
    expect(await readdir(dir)).not.toContain('interrupted.init');
  });
});
