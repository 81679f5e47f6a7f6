/**
 * Full-precision timestamps through the fleet: two plant rows of one unit within one
 * millisecond are scheduled as two jobs and each is run exactly once, on its own row, by a
 * real worker (pg-boss on PostgreSQL, the demo strategy through the real engine).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createResultStore, type Database, openDatabase } from '@po/db';
import { createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { openPostgresSchema, TEST_DATABASE_URL, waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CYCLE_QUEUE,
  createUnitRegistry,
  DROPPED_TABLE,
  type FleetWorker,
  startFleetWorker,
} from './index.ts';

const DEMO_DIR = join(import.meta.dirname, '../../../config/demo');
let db: Database;
let schema: string;
let cleanup: () => Promise<void>;
let strategy: CompiledStrategy;
let worker: FleetWorker | undefined;

beforeAll(async () => {
  ({ db, schema, cleanup } = await openPostgresSchema(openDatabase, { prefix: 'po_fleet_exact' }));
  strategy = await compileStrategy(await readFile(join(DEMO_DIR, 'strategy.yaml'), 'utf8'), {
    modelProvider: createModelProvider({ readFile: localModelFiles(join(DEMO_DIR, 'models')) }),
    version: '1.0.0',
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.query(`DROP SCHEMA IF EXISTS "${schema}_q" CASCADE`);
  await cleanup?.();
  await strategy?.dispose();
});

describe('a fleet worker on PostgreSQL', () => {
  it('runs two rows of one unit within one millisecond, each exactly once, on its own row', async () => {
    const state: Record<string, number> = JSON.parse(
      await readFile(join(DEMO_DIR, 'example-state.json'), 'utf8'),
    );
    const columns = Object.keys(state);
    await db.query(
      `CREATE TABLE plant ("timestamp" timestamptz NOT NULL, kiln text NOT NULL,
         ${columns.map((c) => `"${c}" double precision`).join(', ')}, PRIMARY KEY (kiln, "timestamp"))`,
    );
    const results = await createResultStore(db, { dataTable: 'plant' });
    worker = await startFleetWorker({
      db,
      url: TEST_DATABASE_URL,
      results,
      queueSchema: `${schema}_q`,
      concurrency: 2,
      scheduleEveryMs: 200,
      strategies: () => ({
        current: async () => ({ version: '1.0.0', strategy }),
        status: () => ({ state: 'loaded', version: '1.0.0', source: 'test' }),
      }),
    });
    await worker.units.put([
      {
        id: 'k1',
        name: 'k1',
        interval_s: 0.2,
        data: { table: 'plant', timestamp_column: 'timestamp', filter: { kiln: 'k1' } },
      },
    ]);

    // Two rows 1 µs apart in the same millisecond, a few seconds old (well within the late limit).
    const ms = new Date(Date.now() - 3000).toISOString().slice(0, 23);
    const times = [`${ms}001Z`, `${ms}002Z`];
    const feed = [state.Kiln_Coal_PV!, state.Kiln_Coal_PV! + 0.3];
    for (const [i, at] of times.entries())
      await db.query(
        `INSERT INTO plant ("timestamp", kiln, ${columns.map((c) => `"${c}"`).join(', ')})
         VALUES ($1::timestamptz, 'k1', ${columns.map((_, j) => `$${j + 2}`).join(', ')})`,
        [at, ...columns.map((c) => (c === 'Kiln_Coal_PV' ? feed[i] : state[c]))],
      );

    const recorded = () =>
      db.query<{ at: string; status: string; coal: number }>(
        `SELECT to_char(data_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, status,
           (decision_variables -> 'Kiln_Coal_PV' ->> 'current')::double precision AS coal
         FROM optimization_results WHERE unit = 'k1' ORDER BY data_timestamp`,
      );
    await waitFor(async () => (await recorded()).rows.length >= 2, 60_000, 'two results of unit k1');
    // A few more scheduling passes: nothing is queued or run again.
    await new Promise((r) => setTimeout(r, 1500));
    const rows = (await recorded()).rows;
    expect(rows.map((r) => [r.at, r.status])).toEqual([
      [times[0], 'ok'],
      [times[1], 'ok'],
    ]);
    // Each cycle read its own row (the second row's coal differs).
    expect(rows.map((r) => r.coal)).toEqual(feed);
    const dropped = await db.query(`SELECT 1 FROM ${DROPPED_TABLE}`);
    expect(dropped.rows).toEqual([]);
    // Each row in one job, once (a job carries the rows that arrived together).
    const jobs = await db.query<{ n: string }>(
      `SELECT sum(jsonb_array_length(data -> 'times')) AS n FROM "${schema}_q".job WHERE name = $1`,
      [CYCLE_QUEUE],
    );
    expect(Number(jobs.rows[0]!.n)).toBe(2);
    expect((await createUnitRegistry(db).list()).map((u) => u.id)).toEqual(['k1']);
  }, 120_000);
});
