/**
 * kill -9 while `po start` makes a new PGlite folder: its child process (unpacking the template)
 * is paused once its work folder exists (`PO_TEST_PGLITE_INIT_PAUSE_MS`), the real `po start` is
 * killed with SIGKILL in that window and started again at once. The restart makes the folder in
 * a work folder of its own and listens; the orphaned child ends itself and removes its work
 * folder; the folder made is a working database (opened by SQL after a clean stop).
 */
import { readdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@po/db';
import { afterAll, describe, expect, it } from 'vitest';
import { type PoChild, spawnPo } from '../test/po.ts';

const env = { PO_PORT: '0', PO_THREADS: '1', PO_LOG_PRETTY: 'false' };
const children: PoChild[] = [];
let dir = '';

afterAll(() => {
  for (const c of children)
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Resolves with what `check` returns once it is truthy, checking every 20 ms; throws after `ms`. */
async function until<T>(what: () => string, ms: number, check: () => T | undefined | false): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The work folders beside `data/pglite` (`pglite.init-<pid>`). */
const workFolders = () => readdirSync(join(dir, 'data')).filter((n) => n.startsWith('pglite.init'));

function exited(c: PoChild): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = c;
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('po start killed with SIGKILL while it makes a new PGlite folder', () => {
  it('starts again at once; the orphan ends and leaves nothing; the folder works', async () => {
    dir = await mkdtemp(join(tmpdir(), 'po-kill9-new-'));
    const first = spawnPo('first', ['start'], {
      cwd: dir,
      env: { ...env, PO_TEST_PGLITE_INIT_PAUSE_MS: '60000' },
    });
    children.push(first);
    const [work] = await until(
      () => `the child has made its work folder; log:\n${first.log}`,
      60_000,
      () => {
        const found = readdirSync(dir).includes('data') ? workFolders() : [];
        return found.length > 0 && found;
      },
    );
    expect(work).toMatch(/^pglite\.init-\d+$/);
    const orphan = Number(work!.slice('pglite.init-'.length));
    expect(orphan).not.toBe(first.child.pid);

    first.child.kill('SIGKILL');
    expect(await exited(first)).toEqual({ code: null, signal: 'SIGKILL' });

    const second = spawnPo('second', ['start'], { cwd: dir, env });
    children.push(second);
    await until(
      () => `the restart listens; log:\n${second.log}`,
      120_000,
      () => {
        if (second.child.exitCode !== null) throw new Error(`the restart exited:\n${second.log}`);
        return second.log.includes('[po] listening');
      },
    );
    // The orphan noticed its parent was gone (polled every 100 ms) and removed its work folder.
    await until(
      () => 'the orphaned child has exited',
      5_000,
      () => !alive(orphan),
    );
    expect(workFolders()).toEqual([]);
    expect(second.log).toMatch(/new embedded database: initialised/);

    second.child.kill('SIGTERM');
    expect(await exited(second), second.log.slice(-3000)).toEqual({ code: 0, signal: null });

    const db = await openDatabase({ dataDir: join(dir, 'data/pglite') });
    try {
      const { rows } = await db.query<{ tables: string }>(
        `SELECT count(*) AS tables FROM information_schema.tables WHERE table_schema = 'public'`,
      );
      expect(Number(rows[0]!.tables)).toBeGreaterThan(0);
      await db.query('CREATE TABLE kept (x int)');
      await db.query('INSERT INTO kept VALUES (7)');
      expect((await db.query<{ x: number }>('SELECT x FROM kept')).rows).toEqual([{ x: 7 }]);
    } finally {
      await db.close();
    }
  }, 180_000);
});
