import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseLockedError, openDatabase } from './index.ts';

const run = promisify(execFile);

describe('PGlite lock', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'po-lock-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a second process with a message naming the pid and the folder', async () => {
    const dataDir = join(dir, 'pglite');
    const db = await openDatabase({ dataDir });
    try {
      expect((await readFile(`${dataDir}.lock`, 'utf8')).trim()).toBe(String(process.pid));
      // The same process opening it again is refused too.
      await expect(openDatabase({ dataDir })).rejects.toBeInstanceOf(DatabaseLockedError);
      const { stdout } = await run(process.execPath, [
        '--import',
        'tsx',
        join(import.meta.dirname, '../test/open-pglite.ts'),
        dataDir,
      ]);
      expect(stdout).toContain('LOCKED [po/db] The embedded database');
      expect(stdout).toContain(`in use by process ${process.pid}`);
      expect(stdout).toContain(dataDir);
    } finally {
      await db.close();
    }
    // Released on close.
    await expect(readFile(`${dataDir}.lock`, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes over the stale lock of a dead process', async () => {
    const dataDir = join(dir, 'stale');
    const { stdout } = await run(process.execPath, ['-e', 'console.log(process.pid)']);
    await writeFile(`${dataDir}.lock`, stdout); // that process has exited
    const warnings: unknown[] = [];
    const db = await openDatabase({
      dataDir,
      logger: { debug() {}, info() {}, error() {}, warn: (o) => warnings.push(o) },
    });
    expect((await readFile(`${dataDir}.lock`, 'utf8')).trim()).toBe(String(process.pid));
    expect(warnings).toHaveLength(1);
    await db.close();
  });
});
