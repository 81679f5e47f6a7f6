/**
 * `po start` against PostgreSQL through a link that goes half-open (packets dropped, nothing
 * closed): the runner must not freeze, `/health` must say so while it lasts, the runner must
 * resume without a restart, and SIGTERM must stop it cleanly. Needs the real PostgreSQL at
 * 127.0.0.1:5432 (PO_TEST_DATABASE_URL); the link is @po/test-kit's TCP proxy.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProcessDataSource, type Database, openDatabase } from '@po/db';
import { randomName, startTcpProxy, type TcpProxy, TEST_DATABASE_URL, waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from '../test/po.ts';

const demo = join(root, 'config/demo');
const INTERVAL_S = 2;
const schema = randomName('po_blackhole');
let db: Database;
let proxy: TcpProxy;
let dir: string;

beforeAll(async () => {
  db = await openDatabase({ url: TEST_DATABASE_URL, schema });
  const u = new URL(TEST_DATABASE_URL);
  proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  dir = await mkdtemp(join(tmpdir(), 'po-blackhole-'));
});
afterAll(async () => {
  await proxy?.close();
  await db?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

interface RunnerSection {
  ok: boolean;
  reason?: string;
  lastSuccessAt?: string;
  cycles: { ok: number };
}
interface Health {
  status: string;
  runner?: RunnerSection;
  degraded_reasons: string[];
}

describe('po start on PostgreSQL through a half-open link', () => {
  it('shows the runner unhealthy while the link is dead, resumes within two intervals of its return, and stops on SIGTERM with 0', async () => {
    const example = JSON.parse(await readFile(join(demo, 'example-state.json'), 'utf8'));
    const columns = Object.keys(example);
    const source = createProcessDataSource(db);
    await source.createProcessDataTable(columns);
    const t0 = Date.parse('2026-03-01T06:00:00Z');
    const row = (minute: number) => ({ timestamp: new Date(t0 + minute * 60_000), ...example });
    await source.insertRows([row(0)]);

    const viaProxy = new URL(TEST_DATABASE_URL);
    viaProxy.port = String(proxy.port);
    viaProxy.searchParams.set('options', `-c search_path=${schema}`);
    const child: ChildProcess = spawn(
      process.execPath,
      [join(root, 'apps/cli/dist/bin.js'), 'start', '--port', '0'],
      {
        cwd: dir,
        env: {
          ...process.env,
          DATABASE_URL: viaProxy.toString(),
          PO_STRATEGY_FILE: join(demo, 'strategy.yaml'),
          PO_MODELS_DIR: join(demo, 'models'),
          PO_CYCLE_INTERVAL_S: String(INTERVAL_S),
          PO_DB_QUERY_TIMEOUT_MS: '500',
          PO_DB_CONNECT_TIMEOUT_MS: '500',
          PO_DB_CONNECT_RETRIES: '1',
          PO_THREADS: '1',
          PO_LOG_PRETTY: 'false',
        },
      },
    );
    let log = '';
    child.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const recorded = async () =>
      Number(
        (await db.query<{ n: string }>('SELECT count(*) AS n FROM optimization_results')).rows[0]?.n ?? 0,
      );
    try {
      const url = await waitFor(() => /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1], 60_000, 'the API');
      const health = async () => {
        await new Promise((r) => setTimeout(r, 200)); // a poll every ~quarter second
        return (await (await fetch(`${url}/health`)).json()) as Health;
      };
      await waitFor(async () => (await recorded()) === 1, 60_000, `the first cycle; log:\n${log}`);
      expect((await health()).runner).toMatchObject({ ok: true });

      proxy.blackhole();
      await source.insertRows([row(1)]); // arrives while the runner's link is dead
      // The runner is shown unhealthy (its reads time out, or it stalls) while the API keeps answering.
      const during = await waitFor(
        async () => {
          const h = await health();
          return h.runner?.ok === false ? h : undefined;
        },
        30_000,
        'the runner shown unhealthy',
      );
      expect(during.status).not.toBe('ok');
      expect(during.degraded_reasons.join(' ')).toMatch(/runner: /);
      await new Promise((r) => setTimeout(r, 3 * INTERVAL_S * 1000)); // long enough to have frozen on main
      expect((await health()).runner?.ok).toBe(false);
      expect(await recorded()).toBe(1);

      const restoredAt = Date.now();
      proxy.restore();
      const resumed = await waitFor(
        async () => {
          const at = Date.parse((await health()).runner?.lastSuccessAt ?? '');
          return at > restoredAt ? at : undefined;
        },
        30_000,
        `the runner to resume; log:\n${log.slice(-3000)}`,
      );
      // Resumed without a restart, within two intervals of the link's return (the runner's own clock).
      expect(resumed - restoredAt).toBeLessThanOrEqual(2 * INTERVAL_S * 1000);
      await waitFor(async () => (await recorded()) === 2, 30_000, 'the row that arrived meanwhile');
      await waitFor(async () => (await health()).runner?.ok === true, 30_000, 'the runner healthy again');

      // A link dead again at shutdown: SIGTERM still ends it promptly, with 0.
      proxy.blackhole();
      await new Promise((r) => setTimeout(r, INTERVAL_S * 1000));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(log).toContain('[po] stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      proxy.restore();
    }
  });
});
