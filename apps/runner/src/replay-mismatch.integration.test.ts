// A replay applies model-plant mismatch as the runner does: the runner is run over the demo kiln's
// history row by row (PGlite, the demo strategy with its ONNX models, a row every 30 minutes, the
// horizon of the demo delta models), then replays over the same rows, whole and interrupted then
// resumed, are compared with what the runner recorded, row by row.
import {
  createReplayStore,
  type ProcessDataSource,
  type ReplayStore,
  type StoredReplayCycle,
  type StoredResult,
} from '@po/db';
import { createDemoKiln, type DemoKiln } from '@po/models';
import type { CompiledStrategy, ModelValues } from '@po/rto-engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { DRIVE, mismatchPlant, STEP_MS, T0 } from '../test/mismatch-plant.ts';
import { type CycleStrategy, predictionChecks, replayReport, runReplay } from './index.ts';

const plant = mismatchPlant();
let replays: ReplayStore;
beforeAll(async () => {
  replays = await createReplayStore(plant.db);
});

/**
 * Runs the runner over the kiln's rows as they come: before row i, `drive(i, kiln)` sets the
 * drift and the operators' setpoints; the row is inserted and one cycle runs. Returns the table
 * (holding every row, for the replays) and the runner's recorded cycles in data-time order.
 */
async function runnerOver(
  strategy: CompiledStrategy,
  kiln: DemoKiln,
  rows: number,
  drive: (i: number, kiln: DemoKiln) => void,
): Promise<{ source: ProcessDataSource; recorded: StoredResult[] }> {
  const { source, cycle } = await plant.plantLoop(strategy, kiln);
  kiln.tick(T0 - STEP_MS);
  const recorded: StoredResult[] = [];
  for (let i = 0; i < rows; i++) {
    drive(i, kiln);
    recorded.push(await cycle(i));
  }
  return { source, recorded };
}

/**
 * The strategy as a worker-pool strategy offers it to a replay: with `evaluateMany` (here in
 * process, one evaluation after the other as a worker runs them), counting what is asked of it.
 */
function batching(strategy: CompiledStrategy) {
  const asked = { batches: 0, batched: 0, simulate: 0 };
  const batched: CycleStrategy = {
    spec: strategy.spec,
    modelFiles: strategy.modelFiles,
    optimize: (state, options) => strategy.optimize(state, options),
    monitor: (state) => strategy.monitor(state),
    simulate: (state, decisions) => {
      asked.simulate++;
      return strategy.simulate(state, decisions);
    },
    async evaluateMany(evaluations, names) {
      asked.batches++;
      asked.batched += evaluations.length;
      const settled: PromiseSettledResult<ModelValues>[] = [];
      for (const e of evaluations) {
        const evaluation = strategy.modelValues(
          e.state,
          names,
          e.mode === 'monitor' ? undefined : e.decisions,
        );
        settled.push(
          await evaluation.then(
            (value) => ({ status: 'fulfilled' as const, value }),
            (reason: unknown) => ({ status: 'rejected' as const, reason }),
          ),
        );
      }
      return settled;
    },
  };
  return { batched, asked };
}

/** A replay of the whole table; `stopAfter` interrupts it once that many cycles are stored. */
async function replay(
  source: ProcessDataSource,
  strategy: CycleStrategy,
  rows: number,
  options: { id?: string; stopAfter?: number; lookahead?: number } = {},
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
    ...(options.lookahead ? { lookahead: options.lookahead } : {}),
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

/**
 * Replays the runner's rows whole, and interrupted then resumed; each equals the runner row by
 * row. The interrupted and resumed replays (and a second whole one) go through the batched
 * evaluations a worker-pool strategy offers, 5 rows ahead: batch boundaries fall inside the
 * window, and every model evaluation of the mismatch tracker must come from a batch.
 */
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

  const { batched, asked } = batching(strategy);
  const lookahead = 5;
  const wholeBatched = await replay(source, batched, rows, { lookahead });
  expect(wholeBatched.cycles.map(replayView)).toEqual(expected);
  // A monitor per row and a simulate per row after the first (the reference 30 minutes earlier),
  // in a handful of batches; nothing evaluated one by one.
  expect(asked).toEqual({ batches: expect.any(Number), batched: 2 * rows - 1, simulate: 0 });
  expect(asked.batches).toBeLessThanOrEqual(2 * Math.ceil(rows / lookahead));

  const first = await replay(source, batched, rows, { stopAfter: Math.floor(rows / 3), lookahead });
  expect(first.interrupted).toBe(true);
  expect(first.cycles.length).toBeLessThan(rows);
  const resumed = await replay(source, batched, rows, { id: first.id, lookahead });
  expect(resumed.interrupted).toBe(false);
  expect(resumed.cycles.map(replayView)).toEqual(expected);
  expect(asked.simulate).toBe(0);
  return whole;
}

describe('replay with model-plant mismatch, against the runner (PGlite, demo kiln)', () => {
  it('bias correction: every replayed cycle gets the bias the runner applied, and the report counts them', async () => {
    const strategy = await plant.demoStrategy((spec) => {
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
    const strategy = await plant.demoStrategy((spec) => {
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
