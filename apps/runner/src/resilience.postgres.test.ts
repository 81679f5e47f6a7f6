import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createProcessDataSource, createResultStore, type Database, openDatabase } from '@po/db';
import type { CompiledStrategy } from '@po/rto-engine';
import { randomName, startTcpProxy, TEST_DATABASE_URL, waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileDemoStrategy, exampleState } from '../test/helpers.ts';
import { createRunner, staticStrategySource } from './index.ts';
import { plantColumns } from './validation.ts';

// Needs the real PostgreSQL at 127.0.0.1:5432 (PO_TEST_DATABASE_URL): a cut link and a killed runner.
const T0 = Date.parse('2026-03-01T06:00:00Z');
/** A row's time, with microseconds (a JS Date would drop them): results must keep them exactly. */
const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString().replace('Z', '123Z');

let db: Database;
let compiled: CompiledStrategy;
let example: Record<string, number>;
const schema = randomName('po_resilience');
beforeAll(async () => {
  db = await openDatabase({ url: TEST_DATABASE_URL, schema });
  [compiled, example] = await Promise.all([compileDemoStrategy(), exampleState()]);
});
afterAll(async () => {
  await compiled?.dispose();
  await db?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db?.close();
});

const reading = (minute: number) => ({
  timestamp: at(minute),
  ...Object.fromEntries(Object.entries(example).map(([k, v]) => [k, v * (1 + 0.0001 * (minute % 7))])),
});

async function resultCounts(results: string) {
  const r = await db.query<{ t: string; n: string }>(
    `SELECT to_char(data_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t, count(*) AS n
     FROM "${results}" GROUP BY data_timestamp ORDER BY data_timestamp`,
  );
  return r.rows.map((x) => [x.t, Number(x.n)]);
}

/** Results that join their plant row exactly (`data_timestamp = timestamp`). */
async function joined(results: string, table: string): Promise<number> {
  const r = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${results}" r JOIN "${table}" p ON r.data_timestamp = p."timestamp"`,
  );
  return Number(r.rows[0]?.n);
}

describe('runner against PostgreSQL through a cut link', () => {
  it('keeps running while the database is unreachable, reports degraded, then catches up exactly once', async () => {
    const table = randomName('pd');
    const results = randomName('res');
    const source = createProcessDataSource(db, { table });
    await source.createProcessDataTable(plantColumns(compiled.spec));
    await createResultStore(db, {
      tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
    });

    const u = new URL(TEST_DATABASE_URL);
    const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    const viaProxy = new URL(TEST_DATABASE_URL);
    viaProxy.port = String(proxy.port);
    const linked = await openDatabase({
      url: viaProxy.toString(),
      schema,
      retry: { retries: 1, minTimeoutMs: 20, maxTimeoutMs: 50 },
      connectTimeoutMs: 1000,
    });
    const runner = createRunner({
      strategies: staticStrategySource(compiled, '1.0.0'),
      data: createProcessDataSource(linked, { table }),
      results: await createResultStore(linked, {
        tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
        dataTable: table,
        migrate: false,
      }),
      intervalMs: 100,
      minRetryMs: 50,
    });
    try {
      await source.insertRows([reading(0)]);
      runner.start();
      await waitFor(async () => (await resultCounts(results)).length === 1, 20_000, 'the first cycle');

      await proxy.stop();
      await source.insertRows([reading(1)]); // arrives while the runner cannot see the database
      await waitFor(() => !runner.status().healthy, 20_000, 'degraded status');
      const degraded = runner.status();
      expect(degraded.state).toBe('running');
      expect(degraded.consecutiveFailures).toBeGreaterThan(0);
      expect(degraded.degraded.join(' ')).toMatch(/Cannot reach the database at 127\.0\.0\.1:\d+\/test/);
      await new Promise((r) => setTimeout(r, 300)); // several failed attempts; the loop lives on

      await proxy.start();
      await waitFor(async () => (await resultCounts(results)).length === 2, 20_000, 'the pending row');
      await waitFor(() => runner.status().healthy, 10_000, 'recovery');
      await new Promise((r) => setTimeout(r, 300));
      expect(await resultCounts(results)).toEqual([
        [at(0), 1],
        [at(1), 1],
      ]);
      expect(await joined(results, table)).toBe(2);
      expect(runner.status()).toMatchObject({ healthy: true, degraded: [], consecutiveFailures: 0 });
    } finally {
      await runner.stop({ timeoutMs: 5000 });
      await linked.close();
      await proxy.stop();
    }
  });
});

describe('runner killed with SIGKILL mid-cycle', () => {
  it('loses no row and records none twice after a restart', { timeout: 180_000 }, async () => {
    const table = randomName('pd');
    const results = randomName('res');
    const source = createProcessDataSource(db, { table });
    await source.createProcessDataTable(plantColumns(compiled.spec));
    await createResultStore(db, {
      tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
    });

    const children: ChildProcess[] = [];
    const startChild = () => {
      // One process (node --import tsx), so that SIGKILL hits the runner itself, not a wrapper.
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(import.meta.dirname, '../test/child-runner.ts'),
          TEST_DATABASE_URL,
          schema,
          table,
          results,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(child);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      return { child, output: () => out };
    };
    const killMidCycle = async (run: ReturnType<typeof startChild>, nth: number) => {
      await waitFor(
        () => run.output().split('cycle-start').length - 1 >= nth,
        60_000,
        `cycle ${nth} to start`,
      );
      run.child.kill('SIGKILL');
      await new Promise((r) => run.child.once('exit', r));
    };
    const recorded = async (minute: number) => (await resultCounts(results)).some(([t]) => t === at(minute));
    try {
      // Each row is inserted after the previous one is recorded, so each has its own cycle; every
      // kill lands during a cycle (the child's optimizer is slowed by 2 s), before its commit.
      await source.insertRows([reading(0)]);
      const first = startChild();
      await waitFor(() => recorded(0), 60_000, 'the first result');
      await source.insertRows([reading(1)]);
      await killMidCycle(first, 2);
      expect(await recorded(1)).toBe(false);

      const second = startChild();
      await waitFor(() => recorded(1), 60_000, 'the interrupted row, after a restart');
      await source.insertRows([reading(2)]);
      await killMidCycle(second, 2);
      expect(await recorded(2)).toBe(false);

      const third = startChild();
      await waitFor(() => recorded(2), 60_000, 'the interrupted row, after a second restart');
      third.child.kill('SIGKILL');

      expect(await resultCounts(results)).toEqual([
        [at(0), 1],
        [at(1), 1],
        [at(2), 1],
      ]);
      expect(await joined(results, table)).toBe(3);
      const state = await db.query<{ t: string }>(
        `SELECT to_char(last_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t FROM "${results}_st"`,
      );
      expect(state.rows.map((r) => r.t)).toEqual([at(2)]);
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  });
});
