// A replay applies model-plant mismatch as the runner does: the runner is run over the demo kiln's
// history row by row (PGlite, the demo strategy with its ONNX models, a row every 30 minutes, the
// horizon of the demo delta models), then replays over the same rows, whole and interrupted then
// resumed, are compared with what the runner recorded, row by row.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createProcessDataSource,
  createReplayStore,
  createResultStore,
  type Database,
  type ProcessDataSource,
  type ReplayStore,
  type StoredReplayCycle,
  type StoredResult,
} from '@po/db';
import { createDemoKiln, createModelProvider, type DemoKiln, localModelFiles } from '@po/models';
import { type CompiledStrategy, checkStrategy, compileStrategy } from '@po/rto-engine';
import { randomName } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, DEMO_DIR } from '../test/helpers.ts';
import {
  createRunner,
  plantColumns,
  predictionChecks,
  replayReport,
  runReplay,
  staticStrategySource,
} from './index.ts';

const DRIVE = 'im_predict_delta_Kiln_Drive_Current';
const STEP_MS = 30 * 60_000;
const T0 = Date.parse('2026-04-01T00:00:00Z');
const pglite = backends.find((b) => b.name === 'pglite')!;

let db: Database;
let cleanup: () => Promise<void>;
let replays: ReplayStore;
const compiled: CompiledStrategy[] = [];
beforeAll(async () => {
  ({ db, cleanup } = await pglite.open());
  replays = await createReplayStore(db);
});
afterAll(async () => {
  await Promise.all(compiled.map((c) => c.dispose()));
  await cleanup?.();
});

type EditableSpec = {
  skills: Record<string, { class: string; config: Record<string, unknown> }>;
  models?: unknown;
};

/**
 * The demo strategy with `edit` applied, compiled with its real models. The optimizer's time
 * budget is lifted so that it stops on its iterations alone: the same row gives the same answer
 * however loaded the machine is.
 */
async function demoStrategy(edit: (spec: EditableSpec) => void): Promise<CompiledStrategy> {
  const spec = structuredClone(
    checkStrategy(await readFile(join(DEMO_DIR, 'strategy.yaml'), 'utf8')).strategy!,
  ) as unknown as EditableSpec;
  for (const skill of Object.values(spec.skills))
    if (skill.class === 'OptimizationSkill')
      skill.config.options = { ...(skill.config.options as object), max_time_ms: 60_000 };
  edit(spec);
  const strategy = await compileStrategy(spec as never, {
    modelProvider: createModelProvider({ readFile: localModelFiles(join(DEMO_DIR, 'models')) }),
    version: '1.0.0',
  });
  compiled.push(strategy);
  return strategy;
}

/**
 * Runs the runner over the kiln's rows as they come: before row i, `plant(i, kiln)` sets the
 * drift and the operators' setpoints; the row is inserted and one cycle runs. Returns the table
 * (holding every row, for the replays) and the runner's recorded cycles in data-time order.
 */
async function runnerOver(
  strategy: CompiledStrategy,
  kiln: DemoKiln,
  rows: number,
  plant: (i: number, kiln: DemoKiln) => void,
): Promise<{ source: ProcessDataSource; recorded: StoredResult[] }> {
  const table = randomName('pd');
  const results = randomName('res');
  const source = createProcessDataSource(db, { table });
  await source.createProcessDataTable(plantColumns(strategy.spec));
  const store = await createResultStore(db, {
    tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
    dataTable: table,
  });
  let now = T0;
  const runner = createRunner({
    strategies: staticStrategySource(strategy, '1.0.0'),
    data: source,
    results: store,
    clock: { now: () => new Date(now) },
  });
  kiln.tick(T0 - STEP_MS);
  const recorded: StoredResult[] = [];
  for (let i = 0; i < rows; i++) {
    plant(i, kiln);
    now = T0 + i * STEP_MS;
    const { timestamp, ...values } = kiln.tick(now);
    await source.insertRows([{ timestamp: new Date(timestamp), ...values }]);
    await runner.runOnce();
    const [latest] = await store.recent({ limit: 1 });
    expect(latest!.dataTimestamp.getTime()).toBe(now);
    recorded.push(latest!);
  }
  return { source, recorded };
}

/** A replay of the whole table; `stopAfter` interrupts it once that many cycles are stored. */
async function replay(
  source: ProcessDataSource,
  strategy: CompiledStrategy,
  rows: number,
  options: { id?: string; stopAfter?: number } = {},
): Promise<{ id: string; interrupted: boolean; cycles: StoredReplayCycle[] }> {
  const window = { from: new Date(T0), to: new Date(T0 + (rows - 1) * STEP_MS) };
  const id =
    options.id ??
    (
      await replays.create({
        dataTable: source.table,
        ...window,
        every: 1,
        strategyKey: 'test',
        strategyVersion: '1.0.0',
        rowsInWindow: await source.countBetween(window),
        predictionChecks: predictionChecks(strategy.spec),
      })
    ).id;
  const controller = new AbortController();
  const outcome = await runReplay({
    replayId: id,
    strategy: { version: '1.0.0', strategy },
    data: source,
    sink: replays,
    window,
    concurrency: 4,
    batchSize: 3,
    signal: controller.signal,
    onProgress: (p) => {
      if (options.stopAfter !== undefined && p.storedNow >= options.stopAfter) controller.abort();
    },
  });
  await replays.update(id, { status: outcome.interrupted ? 'interrupted' : 'done' });
  return { id, interrupted: outcome.interrupted, cycles: await replays.cycles(id) };
}

/** What the runner and a replay both record of a cycle. */
const runnerView = (r: StoredResult) => ({
  at: r.dataTimestamp.getTime(),
  status: r.status,
  reason: r.reason,
  mode: r.mode,
  costAtCurrent: r.costAtCurrent,
  costRecommended: r.costRecommended,
  setpoints: r.setpoints,
  modelTrust: r.modelTrust,
});
const replayView = (c: StoredReplayCycle) => ({
  at: c.dataTimestamp.getTime(),
  status: c.status,
  reason: c.reason,
  mode: c.mode,
  costAtCurrent: c.costAtCurrent,
  costRecommended: c.costRecommended,
  setpoints: c.setpoints,
  modelTrust: c.models,
});

type Trust = {
  models: Record<string, { bias_correction: number | null; mismatch: { status: string } | null }>;
};
const driveOf = (trust: unknown) => (trust as Trust).models[DRIVE]!;

/** Replays the runner's rows whole, and interrupted then resumed; each equals the runner row by row. */
async function expectReplaysMatchRunner(
  source: ProcessDataSource,
  strategy: CompiledStrategy,
  recorded: StoredResult[],
): Promise<{ id: string; cycles: StoredReplayCycle[] }> {
  const rows = recorded.length;
  const expected = recorded.map(runnerView);
  const whole = await replay(source, strategy, rows);
  expect(whole.interrupted).toBe(false);
  expect(whole.cycles.length).toBe(rows);
  whole.cycles.forEach((c, i) => {
    expect(replayView(c), `row ${i}`).toEqual(expected[i]);
  });

  const first = await replay(source, strategy, rows, { stopAfter: Math.floor(rows / 3) });
  expect(first.interrupted).toBe(true);
  expect(first.cycles.length).toBeLessThan(rows);
  const resumed = await replay(source, strategy, rows, { id: first.id });
  expect(resumed.interrupted).toBe(false);
  expect(resumed.cycles.map(replayView)).toEqual(expected);
  return whole;
}

describe('replay with model-plant mismatch, against the runner (PGlite, demo kiln)', () => {
  it('bias correction: every replayed cycle gets the bias the runner applied, and the report counts them', async () => {
    const strategy = await demoStrategy((spec) => {
      spec.models = { bias_correction: true, mismatch: { filter: 0.3 } };
    });
    const rows = 18;
    const { source, recorded } = await runnerOver(strategy, createDemoKiln({ seed: 12 }), rows, (i, kiln) => {
      // Coating builds up: the drive current creeps up 15 A per cycle, which the delta model cannot know.
      kiln.setDrift({ Kiln_Drive_Current: { offset: 15 * i } });
      const feed = i % 2 === 0 ? 89 : 83;
      kiln.setSetpoints({ Kiln_Feed_SFF_1_Feed_rate: feed, Kiln_Feed_SFF_2_Feed_rate: feed });
    });
    const corrected = recorded.filter(
      (r) => r.status === 'ok' && typeof driveOf(r.modelTrust).bias_correction === 'number',
    );
    // The runner corrects from the third cycle on (a comparison needs the cycle 30 minutes before).
    expect(corrected.length, 'cycles the runner corrected').toBeGreaterThanOrEqual(rows - 3);
    expect(Math.abs(driveOf(recorded.at(-1)!.modelTrust).bias_correction!)).toBeGreaterThan(10);

    const { id, cycles } = await expectReplaysMatchRunner(source, strategy, recorded);
    const report = replayReport((await replays.get(id))!, cycles);
    expect(report.cycles.bias_corrected).toBe(corrected.length);
    expect(report.cycles.forced_monitor).toBe(0);
  }, 600_000);

  it('a bad critical model forces monitor mode on the same rows as in the runner, and the report counts them', async () => {
    const strategy = await demoStrategy((spec) => {
      spec.skills[DRIVE]!.config.critical = true;
      spec.models = {
        mismatch: { filter: 0.3, models: { [DRIVE]: { suspect: 8, bad: 16, cusum: 60, slack: 8 } } },
      };
    });
    const gainAt = (i: number) => (i < 6 ? 1 : i < 14 ? 2.5 : 1);
    const rows = 26;
    const { source, recorded } = await runnerOver(strategy, createDemoKiln({ seed: 11 }), rows, (i, kiln) => {
      kiln.setDrift({ Kiln_Drive_Current: { gain: gainAt(i) } });
      const feed = i % 2 === 0 ? 89 : 83;
      kiln.setSetpoints({ Kiln_Feed_SFF_1_Feed_rate: feed, Kiln_Feed_SFF_2_Feed_rate: feed });
    });
    const forced = recorded.filter((r) => r.status === 'ok' && r.mode === 'monitor');
    expect(forced.length, 'cycles the runner ran in monitor mode').toBeGreaterThan(0);
    expect(recorded.at(-1)!.mode, 'advisory again after the drift').toBe('advisory');
    for (const r of forced) expect(r.reason).toMatch(/critical model 'im_predict_delta_Kiln_Drive_Current'/);

    const { id, cycles } = await expectReplaysMatchRunner(source, strategy, recorded);
    const report = replayReport((await replays.get(id))!, cycles);
    expect(report.cycles.forced_monitor).toBe(forced.length);
    expect(report.cycles.monitored).toBe(forced.length);
  }, 600_000);
});
