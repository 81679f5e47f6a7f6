/**
 * Model-plant mismatch in the fleet (real PostgreSQL, pg-boss, the demo strategy with its ONNX
 * models, the demo kiln as the plant): a unit whose drive-current model drifts gets, record by
 * record, what the single-unit runner gets on the same rows (biases applied, monitor mode forced
 * by the bad critical model), although its rows arrive in bursts (jobs of several rows) taken by
 * the worker's concurrent fetch loops, its worker is replaced half-way, and a cycle's transaction
 * fails after the tracker moved in memory (the job is retried); a completed job run again
 * changes nothing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createProcessDataSource,
  createResultStore,
  type Database,
  openDatabase,
  type StoredResult,
} from '@po/db';
import { createDemoKiln, createModelProvider, localModelFiles } from '@po/models';
import {
  type CompiledStrategy,
  checkStrategy,
  compileStrategy,
  type ModelTrustSection,
} from '@po/rto-engine';
import { createRunner, plantColumns, type RunnerStatus, staticStrategySource } from '@po/runner';
import { openPostgresSchema, TEST_DATABASE_URL, waitFor } from '@po/test-kit';
import { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CYCLE_QUEUE,
  type FleetWorker,
  startFleetWorker,
  UNIT_MISMATCH_TABLE,
  unitMismatch,
  unitStates,
} from './index.ts';

const DEMO_DIR = join(import.meta.dirname, '../../../config/demo');
const DRIVE = 'im_predict_delta_Kiln_Drive_Current';
const STEP_MS = 30 * 60_000;
const T0 = Date.parse('2026-04-01T00:00:00Z');
const VERSION = '1.0.0';
/** Rows i < HALF are run by the first worker, the others by its replacement. */
const HALF = 15;
/** The row whose first transaction fails (a constraint refuses its result), with the worker's replacement. */
const FAILING = 20;

let db: Database;
let schema: string;
let cleanup: () => Promise<void>;
let strategy: CompiledStrategy;
const workers: FleetWorker[] = [];
let boss: PgBoss | undefined;

beforeAll(async () => {
  ({ db, schema, cleanup } = await openPostgresSchema(openDatabase, { prefix: 'po_fleet_mismatch' }));
  const spec = structuredClone(
    checkStrategy(await readFile(join(DEMO_DIR, 'strategy.yaml'), 'utf8')).strategy!,
  ) as unknown as { skills: Record<string, { config: Record<string, unknown> }>; models?: unknown };
  // The drive-current model is critical (bad -> monitor mode) and its bias is corrected.
  spec.skills[DRIVE]!.config.critical = true;
  spec.models = {
    bias_correction: true,
    mismatch: { filter: 0.3, models: { [DRIVE]: { suspect: 8, bad: 16, cusum: 60, slack: 8 } } },
  };
  strategy = await compileStrategy(spec as unknown as Parameters<typeof compileStrategy>[0], {
    modelProvider: createModelProvider({ readFile: localModelFiles(join(DEMO_DIR, 'models')) }),
    version: VERSION,
  });
});

afterAll(async () => {
  for (const w of workers) await w.stop();
  await boss?.stop({ graceful: false, close: true });
  await db?.query(`DROP SCHEMA IF EXISTS "${schema}_q" CASCADE`);
  await cleanup?.();
  await strategy?.dispose();
});

/** The demo kiln's rows: steady, then a gain drift and a creeping offset on the drive current, then steady again. */
function kilnRows(): { at: string; values: Record<string, number> }[] {
  const kiln = createDemoKiln({ seed: 11 });
  kiln.tick(T0 - STEP_MS);
  const columns = plantColumns(strategy.spec);
  const phases = [
    { cycles: 8, drift: () => ({ gain: 1 }) },
    { cycles: 10, drift: (k: number) => ({ gain: 2.5, offset: 10 * k }) },
    { cycles: 14, drift: () => ({ gain: 1 }) },
  ];
  const rows: { at: string; values: Record<string, number> }[] = [];
  let i = 0;
  for (const phase of phases) {
    for (let k = 0; k < phase.cycles; k++, i++) {
      kiln.setDrift({ Kiln_Drive_Current: phase.drift(k) });
      const { timestamp, ...values } = kiln.tick(T0 + i * STEP_MS);
      rows.push({
        at: new Date(timestamp).toISOString(),
        values: Object.fromEntries(columns.map((c) => [c, Number((values as Record<string, number>)[c])])),
      });
      const feed = i % 2 === 0 ? 89 : 83;
      kiln.setSetpoints({ Kiln_Feed_SFF_1_Feed_rate: feed, Kiln_Feed_SFF_2_Feed_rate: feed });
    }
  }
  return rows;
}

/** The single-unit runner on the same rows, one row then one cycle: its records and its health after each. */
async function singleUnit(rows: ReturnType<typeof kilnRows>) {
  const source = createProcessDataSource(db, { table: 'plant_single' });
  await source.createProcessDataTable(plantColumns(strategy.spec));
  const store = await createResultStore(db, {
    tables: { results: 'single_results', feedback: 'single_fb', runnerState: 'single_state' },
    dataTable: 'plant_single',
  });
  let now = T0;
  const runner = createRunner({
    strategies: staticStrategySource(strategy, VERSION),
    data: source,
    results: store,
    clock: { now: () => new Date(now) },
  });
  const health: NonNullable<RunnerStatus['models']>[] = [];
  for (const row of rows) {
    now = Date.parse(row.at);
    await source.insertRows([{ timestamp: new Date(row.at), ...row.values }]);
    expect(await runner.runOnce()).toBe('ok');
    health.push(structuredClone(runner.status().models!));
  }
  const records = await store.recent({ limit: 1000 });
  return { records: records.sort(byTime), health };
}

const byTime = (a: StoredResult, b: StoredResult) => a.dataTimestamp.getTime() - b.dataTimestamp.getTime();

/** What a cycle decided and why, without what differs by process (ids, durations, table, unit). */
function decided(r: StoredResult) {
  return {
    at: r.dataTime,
    status: r.status,
    reason: r.reason,
    mode: r.mode,
    strategyVersion: r.strategyVersion,
    costAtCurrent: r.costAtCurrent,
    costRecommended: r.costRecommended,
    setpoints: r.setpoints,
    predictions: r.predictions,
    constraintScores: r.constraintScores,
    decisionVariables: r.decisionVariables,
    modelTrust: r.modelTrust,
    substitutions: r.substitutions,
  };
}

const trustOf = (r: StoredResult) => (r.modelTrust as ModelTrustSection).models[DRIVE]!;

describe('model-plant mismatch of a fleet unit (PostgreSQL, pg-boss)', () => {
  it('matches the single-unit runner record by record, across a worker replaced and a failed transaction retried', async () => {
    const rows = kilnRows();
    const single = await singleUnit(rows);
    // The drift is seen: the bias is learnt and applied, the critical model goes bad (monitor mode) and recovers.
    expect(single.records.map((r) => r.status).every((s) => s === 'ok')).toBe(true);
    expect(single.records.some((r) => r.mode === 'monitor')).toBe(true);
    expect(single.records.at(-1)!.mode).toBe('advisory');
    expect(single.records.some((r) => typeof trustOf(r).bias_correction === 'number')).toBe(true);
    expect(single.records.map((r) => trustOf(r).mismatch?.status)).toContain('bad');

    const columns = plantColumns(strategy.spec);
    await db.query(
      `CREATE TABLE plant ("timestamp" timestamptz NOT NULL, kiln text NOT NULL,
         ${columns.map((c) => `"${c}" double precision`).join(', ')}, PRIMARY KEY (kiln, "timestamp"))`,
    );
    const insert = async (from: number, to: number) => {
      for (const row of rows.slice(from, to))
        await db.query(
          `INSERT INTO plant ("timestamp", kiln, ${columns.map((c) => `"${c}"`).join(', ')})
           VALUES ($1::timestamptz, 'k1', ${columns.map((_, j) => `$${j + 2}`).join(', ')})`,
          [row.at, ...columns.map((c) => row.values[c])],
        );
    };
    const results = await createResultStore(db, { dataTable: 'plant' });
    const start = async () => {
      const w = await startFleetWorker({
        db,
        url: TEST_DATABASE_URL,
        results,
        queueSchema: `${schema}_q`,
        concurrency: 3,
        // The kiln's rows are months old: nothing is dropped late here.
        maxLateS: 10 * 365 * 86400,
        scheduleEveryMs: 200,
        strategies: () => ({
          current: async () => ({ version: VERSION, strategy }),
          status: () => ({ state: 'loaded', version: VERSION, source: 'test' }),
        }),
      });
      workers.push(w);
      return w;
    };
    const recorded = async () => (await results.recent({ unit: 'k1', limit: 1000 })).sort(byTime);

    // The first worker: half the rows arrive at once (jobs fetched by three loops in batches).
    const first = await start();
    await first.units.put([
      {
        id: 'k1',
        name: 'kiln 1',
        interval_s: 0.2,
        data: { table: 'plant', timestamp_column: 'timestamp', filter: { kiln: 'k1' } },
      },
    ]);
    await insert(0, HALF);
    await waitFor(async () => (await recorded()).length >= HALF, 120_000, `${HALF} results of unit k1`);
    await first.stop();

    // What the tracker reached is in the database: the single-unit runner's health after the same rows.
    const [mid] = (await unitMismatch(db, ['k1'])).values();
    expect(mid!.through.toISOString()).toBe(rows[HALF - 1]!.at);
    expect(mid!.strategyVersion).toBe(VERSION);
    expect({ models: mid!.models, forcedMonitor: mid!.forcedMonitor }).toEqual(single.health[HALF - 1]);

    // Its replacement continues it. The result of row FAILING is refused by the database at first:
    // that transaction (and those of later rows, which run it first) roll back, the tracker with them.
    await db.query(
      `ALTER TABLE optimization_results ADD CONSTRAINT refuse_one
         CHECK (unit <> 'k1' OR data_timestamp <> '${rows[FAILING]!.at}'::timestamptz)`,
    );
    await start();
    await insert(HALF, rows.length);
    await waitFor(
      async () => {
        const r = await db.query<{ retry_count: number }>(
          `SELECT retry_count FROM "${schema}_q".job WHERE name = $1 AND data -> 'times' ? $2`,
          [CYCLE_QUEUE, exact(rows[FAILING]!.at)],
        );
        return (r.rows[0]?.retry_count ?? 0) >= 1;
      },
      120_000,
      `the job of row ${FAILING} retried`,
    );
    // Rows before it in the same job or batch (one transaction) rolled back too: what is recorded is a
    // prefix of the rows without it, and the tracker stands at the last of them (same transactions).
    const beforeFix = (await recorded()).map((r) => r.dataTime);
    expect(beforeFix.length).toBeGreaterThanOrEqual(HALF);
    expect(beforeFix.length).toBeLessThanOrEqual(FAILING);
    expect(beforeFix).toEqual(rows.slice(0, beforeFix.length).map((r) => exact(r.at)));
    const [stuck] = (await unitMismatch(db, ['k1'])).values();
    expect(stuck!.through.toISOString()).toBe(rows[beforeFix.length - 1]!.at);
    await db.query('ALTER TABLE optimization_results DROP CONSTRAINT refuse_one');
    await waitFor(async () => (await recorded()).length >= rows.length, 180_000, 'every row of unit k1');

    const fleet = await recorded();
    expect(fleet.map((r) => r.dataTime)).toEqual(rows.map((r) => exact(r.at)));
    for (const [i, r] of fleet.entries()) expect(decided(r), `row ${i}`).toEqual(decided(single.records[i]!));

    // A completed job sent again (pg-boss retrying it) runs nothing and leaves the tracker as it was.
    const tracker = async () =>
      (
        await db.query<{ data_timestamp: Date; tracker: string; created_at: Date }>(
          `SELECT data_timestamp, tracker::text AS tracker, created_at FROM ${UNIT_MISMATCH_TABLE}
           WHERE unit = 'k1' ORDER BY data_timestamp`,
        )
      ).rows;
    const settled = await tracker();
    // Stored after each job's last cycle: the newest is after the last row.
    expect(settled.length).toBeGreaterThanOrEqual(2);
    expect(settled.at(-1)!.data_timestamp.toISOString()).toBe(rows.at(-1)!.at);
    boss = new PgBoss({ connectionString: TEST_DATABASE_URL, schema: `${schema}_q`, supervise: false });
    await boss.start();
    const again = await Promise.all(
      [3, HALF, rows.length - 1].map((i) =>
        boss!.send(CYCLE_QUEUE, { unit: 'k1', times: [exact(rows[i]!.at)] }, { singletonKey: 'k1' }),
      ),
    );
    await waitFor(
      async () => {
        const jobs = await Promise.all(again.map((id) => boss!.getJobById(CYCLE_QUEUE, id!)));
        return jobs.every((j) => j?.state === 'completed');
      },
      60_000,
      'the jobs sent again completed',
    );
    expect(await tracker()).toEqual(settled);
    expect((await recorded()).length).toBe(rows.length);

    // The unit's status shows its models' mismatch as the single-unit runner's /health does.
    const [state] = await unitStates(db, 'optimization_results', ['k1']);
    expect(state!.mismatch).toMatchObject(single.health.at(-1)!);
    expect(state!.mismatch!.models[DRIVE]!.status).toBe('good');
  }, 600_000);
});

/** The exact form of an ISO time with milliseconds (as the database gives it back). */
function exact(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}
