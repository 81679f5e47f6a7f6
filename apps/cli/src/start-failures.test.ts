/**
 * `po start` that cannot start ends at once: exit 1, one line naming the problem, no stack. The
 * real binary as a child process; the first `po start` holding the folder is a real one too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { po, root } from '../test/po.ts';

const env = { PO_PORT: '0', PO_LOG_PRETTY: 'false', PO_THREADS: '1', DATABASE_URL: '' };
let dir: string;
let first: ChildProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'po-start-fail-'));
});
afterAll(async () => {
  if (first && first.exitCode === null) first.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** `po start` to its end, with how long it took. */
async function startToEnd(extra: Record<string, string>) {
  const began = Date.now();
  const run = await po(['start'], { cwd: dir, env: { ...env, ...extra } });
  return { ...run, seconds: (Date.now() - began) / 1000 };
}

describe('po start that cannot start', () => {
  it('a second po start on the same PGlite folder exits 1 within 10 s with the named lock error', async () => {
    first = spawn(process.execPath, [join(root, 'apps/cli/dist/bin.js'), 'start'], {
      cwd: dir,
      env: { ...process.env, ...env },
    });
    let log = '';
    first.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    first.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    await waitFor(() => log.includes('[po] listening'), 150_000, 'the first po start to listen');

    const second = await startToEnd({});
    expect(second.code).toBe(1);
    expect(second.seconds).toBeLessThan(10);
    const error = second.stderr.trim();
    expect(error.split('\n')).toHaveLength(1);
    expect(error).toMatch(
      new RegExp(`^\\[po/db\\] The embedded database '.*data/pglite' is in use by process ${first.pid} `),
    );
    expect(second.stderr + second.stdout).not.toMatch(/unexpected error|\n\s+at /);
    expect(first.exitCode).toBeNull(); // the first one is untouched

    first.kill('SIGTERM');
    expect(await new Promise((r) => first!.once('exit', r))).toBe(0);
  }, 240_000);

  it('an unreachable DATABASE_URL: says it retries a bounded number of times, then exits 1 naming it', async () => {
    const run = await startToEnd({
      DATABASE_URL: 'postgresql://po:s3cret@127.0.0.1:9/plant',
      PO_DB_CONNECT_RETRIES: '2',
      PO_DB_CONNECT_TIMEOUT_MS: '1000',
    });
    expect(run.code).toBe(1);
    expect(run.seconds).toBeLessThan(10);
    expect(run.stdout).toContain('[po] connecting to the database (retried with backoff, then po gives up');
    const error = run.stderr.trim();
    expect(error.split('\n')).toHaveLength(1);
    expect(error).toMatch(
      /^\[po\/db\] Cannot reach the database at 127\.0\.0\.1:9\/plant .* po gives up at start after 3 attempts/,
    );
    expect(run.stderr + run.stdout).not.toContain('s3cret');
  }, 60_000);
});
