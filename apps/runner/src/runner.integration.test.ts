import type { Logger } from '@po/core';
import {
  createProcessDataSource,
  createResultStore,
  type Database,
  type ProcessDataSource,
  type ResultStore,
} from '@po/db';
import type { CompiledStrategy, StrategySpec } from '@po/rto-engine';
import { randomName, waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, compileDemoStrategy, exampleState } from '../test/helpers.ts';
import { type CycleStrategy, createRunner, seedDemo, staticStrategySource } from './index.ts';
import { plantColumns } from './validation.ts';

// Needs PostgreSQL at 127.0.0.1:5432 (PO_TEST_DATABASE_URL); PGlite runs in-process.
let compiled: CompiledStrategy;
let example: Record<string, number>;
beforeAll(async () => {
  [compiled, example] = await Promise.all([compileDemoStrategy(), exampleState()]);
});
afterAll(async () => {
  await compiled?.dispose();
});

const T0 = Date.parse('2026-03-01T06:00:00Z');
const at = (minute: number) => new Date(T0 + minute * 60_000);

/** A plant row near the example state; `minute` varies every reading a little (nothing looks frozen). */
const reading = (
  minute: number,
  overrides: Record<string, number | null> = {},
): { timestamp: Date } & Record<string, unknown> => ({
  timestamp: at(minute),
  ...Object.fromEntries(Object.entries(example).map(([k, v]) => [k, v * (1 + 0.0001 * (minute % 7))])),
  ...overrides,
});

const withSpec = (strategy: CycleStrategy, edit: (spec: StrategySpec) => void): CycleStrategy => {
  const spec = structuredClone(strategy.spec);
  edit(spec);
  return { spec, modelFiles: strategy.modelFiles, optimize: strategy.optimize, monitor: strategy.monitor };
};

describe.each(backends)('runner on $name', (backend) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await backend.open());
  });
  afterAll(async () => {
    await cleanup?.();
  });

  /** A data table and result tables of one test (isolated by name inside the test file's database). */
  async function plant(columns = plantColumns(compiled.spec)) {
    const table = randomName('pd');
    const results = randomName('res');
    const source = createProcessDataSource(db, { table });
    await source.createProcessDataTable(columns);
    const store = await createResultStore(db, {
      tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
      dataTable: table,
    });
    return { table, source, store };
  }

  const runnerFor = (
    p: { source: ProcessDataSource; store: ResultStore },
    options: Partial<Parameters<typeof createRunner>[0]> = {},
  ) =>
    createRunner({
      strategies: staticStrategySource(compiled, '1.0.0'),
      data: p.source,
      results: p.store,
      clock: { now: () => new Date(T0 + 3_600_000) },
      intervalMs: 50,
      ...options,
    });

  it('processes each row exactly once across restarts, resuming from the stored state', async () => {
    const p = await plant();
    await p.source.insertRows([reading(0), reading(1), reading(2)]);
    const first = runnerFor(p);
    expect(await first.runOnce()).toBe('ok');
    expect(await first.runOnce()).toBe('idle');
    await p.source.insertRows([reading(3)]);
    const restarted = runnerFor(p);
    expect(await restarted.runOnce()).toBe('ok');
    expect(await restarted.runOnce()).toBe('idle');
    const rows = await p.store.recent({ limit: 10 });
    expect(rows.map((r) => [r.dataTimestamp.toISOString(), r.status, r.skippedRows])).toEqual([
      [at(3).toISOString(), 'ok', 0],
      [at(2).toISOString(), 'ok', 2], // took the newest of three; two skipped, as the predecessor did
    ]);
    const ok = rows[0]!;
    expect(ok).toMatchObject({ strategyVersion: '1.0.0', mode: 'advisory', reason: null });
    expect(Object.keys(ok.setpoints as object)).toContain('Kiln_Coal_PV');
    expect(Object.keys(ok.modelChecksums!)).toContain('saved_models/demo_delta_Kiln_Drive_Current_ann.onnx');
    expect(ok.constraintScores).toHaveProperty('constraint_Kiln_Drive_Current');
    expect(ok.costRecommended).toBeLessThanOrEqual(ok.costAtCurrent!);
  });

  it('validates readings: range, rate, frozen and stale substitute the last good value, then skip', async () => {
    const p = await plant();
    const strategy = withSpec(compiled, (spec) => {
      spec.input_validation = { hold_max_cycles: 2 };
      Object.assign(spec.variables.Kiln_Coal_PV!, { valid_min: 5, valid_max: 13 });
      Object.assign(spec.variables.PH_Fan_Speed_PV!, { max_rate: 100 });
      Object.assign(spec.variables.Cooler_Fan_A_Flow!, { frozen_after: 3 });
      Object.assign(spec.variables.Kiln_Inlet_NOX!, { stale_after_s: 600 });
    });
    let now = at(0);
    const runner = runnerFor(p, { strategies: staticStrategySource(strategy), clock: { now: () => now } });
    const step = async (minute: number, overrides: Record<string, number | null> = {}, lagS = 5) => {
      await p.source.insertRows([reading(minute, overrides)]);
      now = new Date(at(minute).getTime() + lagS * 1000);
      await runner.runOnce();
      return (await p.store.recent({ limit: 1 }))[0]!;
    };
    expect((await step(0)).substitutions).toEqual([]);
    const coal = example.Kiln_Coal_PV! * (1 + 0.0001 * 0);
    let r = await step(1, { Kiln_Coal_PV: 250 });
    expect(r.status).toBe('ok');
    expect(r.substitutions).toEqual([
      expect.objectContaining({
        variable: 'Kiln_Coal_PV',
        value: 250,
        rule: 'valid_max',
        action: 'substituted',
        substitutedWith: coal,
        heldCycles: 1,
      }),
    ]);
    r = await step(2, { Kiln_Coal_PV: null });
    expect(r.substitutions).toEqual([expect.objectContaining({ rule: 'missing', heldCycles: 2 })]);
    r = await step(3, { Kiln_Coal_PV: 250 });
    expect(r.status).toBe('skipped');
    expect(r.reason).toMatch(/Kiln_Coal_PV=250 above valid_max 13 \(valid_max; already held for 2 cycles/);
    expect((await step(4)).status).toBe('ok');

    r = await step(5, { PH_Fan_Speed_PV: example.PH_Fan_Speed_PV! + 400 });
    expect(r.substitutions).toEqual([
      expect.objectContaining({ variable: 'PH_Fan_Speed_PV', rule: 'max_rate' }),
    ]);

    await step(6, { Cooler_Fan_A_Flow: 11000 });
    expect((await step(7, { Cooler_Fan_A_Flow: 11000 })).substitutions).toEqual([]);
    r = await step(8, { Cooler_Fan_A_Flow: 11000 });
    expect(r.substitutions).toEqual([
      expect.objectContaining({ variable: 'Cooler_Fan_A_Flow', rule: 'frozen', substitutedWith: 11000 }),
    ]);

    r = await step(9, {}, 3600);
    expect(r.status).toBe('ok');
    expect(r.substitutions).toEqual([expect.objectContaining({ variable: 'Kiln_Inlet_NOX', rule: 'stale' })]);
  });

  it('skips the cycle at once when a critical reading is bad', async () => {
    const p = await plant();
    const strategy = withSpec(compiled, (spec) => {
      Object.assign(spec.variables.Calciner_temperature_PV!, { valid_min: 700, critical: true });
    });
    const runner = runnerFor(p, { strategies: staticStrategySource(strategy, '2.0.0') });
    await p.source.insertRows([reading(0)]);
    expect(await runner.runOnce()).toBe('ok');
    await p.source.insertRows([reading(1, { Calciner_temperature_PV: 20 })]);
    expect(await runner.runOnce()).toBe('skipped');
    const [r] = await p.store.recent({ limit: 1 });
    expect(r).toMatchObject({ status: 'skipped', strategyVersion: '2.0.0' });
    expect(r!.reason).toBe(
      'bad input: Calciner_temperature_PV=20 below valid_min 700 (valid_min; critical variable)',
    );
    expect(r!.substitutions).toEqual([
      expect.objectContaining({ variable: 'Calciner_temperature_PV', value: 20, action: 'skipped' }),
    ]);
  });

  it('names the columns the data table lacks and reports degraded', async () => {
    const p = await plant(plantColumns(compiled.spec).filter((c) => c !== 'Clinker_temperature'));
    await p.source.insertRows([reading(0, {})].map(({ Clinker_temperature: _, ...r }) => r));
    const runner = runnerFor(p);
    expect(await runner.runOnce()).toBe('unavailable');
    const status = runner.status();
    expect(status.healthy).toBe(false);
    expect(status.degraded[0]).toMatch(
      /^data: \[po\/db\] Table "pd_\w+" lacks column the strategy reads: Clinker_temperature/,
    );
    expect(await p.store.recent()).toEqual([]);
  });

  it('runs monitor mode (setting or strategy): predictions and scores, no recommendation', async () => {
    const p = await plant();
    await p.source.insertRows([reading(0)]);
    expect(await runnerFor(p, { mode: 'monitor' }).runOnce()).toBe('ok');
    await p.source.insertRows([reading(1)]);
    const monitorSpec = withSpec(compiled, (spec) => {
      spec.mode = 'monitor';
    });
    expect(await runnerFor(p, { strategies: staticStrategySource(monitorSpec) }).runOnce()).toBe('ok');
    for (const r of await p.store.recent()) {
      expect(r).toMatchObject({ mode: 'monitor', setpoints: null, costRecommended: null, status: 'ok' });
      expect(r.predictions).toHaveProperty('predicted_Clinker_temperature');
      expect(r.constraintScores).toHaveProperty('constraint_Calciner_outlet_CO');
    }
  });

  it('records the strategy version of each cycle when a new one is deployed between cycles', async () => {
    const p = await plant();
    let version = '1.0.0';
    const runner = runnerFor(p, {
      strategies: {
        current: async () => ({ version, strategy: compiled }),
        status: () => ({ state: 'loaded', version }),
      },
    });
    await p.source.insertRows([reading(0)]);
    await runner.runOnce();
    version = '1.1.0';
    await p.source.insertRows([reading(1)]);
    await runner.runOnce();
    const rows = await p.store.recent();
    expect(rows.map((r) => r.strategyVersion)).toEqual(['1.1.0', '1.0.0']);
  });

  it('records a failed cycle with its message, keeps going, and logs statistics every N cycles', async () => {
    const p = await plant();
    let fail = true;
    const flaky: CycleStrategy = {
      ...withSpec(compiled, () => {}),
      optimize: async (state, options) => {
        if (fail) throw new Error('[po/rto-engine] optimizer exploded\n    at stack line');
        return compiled.optimize(state, options);
      },
    };
    const logs: { obj: object; msg?: string }[] = [];
    const log = (obj: object, msg?: string) => logs.push({ obj, msg });
    const logger: Logger = { debug: log, info: log, warn: log, error: log };
    const runner = runnerFor(p, {
      strategies: staticStrategySource(flaky),
      logger,
      stats: () => ({ hits: 3 }),
      statsEvery: 2,
    });
    await p.source.insertRows([reading(0)]);
    expect(await runner.runOnce()).toBe('failed');
    expect(runner.status().consecutiveFailures).toBe(1);
    fail = false;
    await p.source.insertRows([reading(1)]);
    expect(await runner.runOnce()).toBe('ok');
    const rows = await p.store.recent();
    expect(rows.map((r) => [r.status, r.reason])).toEqual([
      ['ok', null],
      ['failed', '[po/rto-engine] optimizer exploded'],
    ]);
    expect(runner.status()).toMatchObject({
      consecutiveFailures: 0,
      cycles: { ok: 1, failed: 1, skipped: 0 },
    });
    expect(logs.filter((l) => l.msg === '[po/runner] cache statistics')).toEqual([
      { obj: { stats: { hits: 3 } }, msg: '[po/runner] cache statistics' },
    ]);
  });

  it('stops gracefully: the cycle in progress finishes and is recorded', async () => {
    const p = await plant();
    let started = false;
    const slow: CycleStrategy = {
      ...withSpec(compiled, () => {}),
      optimize: async (state, options) => {
        started = true;
        await new Promise((r) => setTimeout(r, 400));
        return compiled.optimize(state, options);
      },
    };
    await p.source.insertRows([reading(0)]);
    const runner = runnerFor(p, { strategies: staticStrategySource(slow) });
    runner.start();
    await waitFor(() => started, 10_000, 'the cycle to start');
    const t = Date.now();
    await runner.stop({ timeoutMs: 10_000 });
    expect(Date.now() - t).toBeGreaterThan(100);
    expect(runner.status().state).toBe('stopped');
    expect((await p.store.recent()).map((r) => r.status)).toEqual(['ok']);
    await p.source.insertRows([reading(1)]);
    await new Promise((r) => setTimeout(r, 150));
    expect(await p.store.recent()).toHaveLength(1); // takes no more work
  });

  it('seeds the demo plant from the demo kiln and runs the demo strategy on it', async () => {
    const table = randomName('demo');
    const { source, inserted } = await seedDemo(db, { table, rows: 30, seed: 7, end: at(29) });
    expect(inserted).toBe(30);
    const again = await seedDemo(db, { table, rows: 30, seed: 7, end: at(29) });
    expect(again.inserted).toBe(0);
    const results = randomName('res');
    const store = await createResultStore(db, {
      tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
      dataTable: table,
    });
    expect(await runnerFor({ source, store }).runOnce()).toBe('ok');
    expect((await store.recent())[0]).toMatchObject({ skippedRows: 29, status: 'ok' });
  });
});
