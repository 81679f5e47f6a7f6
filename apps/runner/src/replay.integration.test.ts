import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createProcessDataSource,
  type Database,
  type ProcessDataSource,
  type StoredReplayCycle,
} from '@po/db';
import { createDemoKiln, createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { mulberry32, randomName } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, compileDemoStrategy, replayStoreOn } from '../test/helpers.ts';
import { type CycleStrategy, plantColumns, predictionChecks, replayReport, runReplay } from './index.ts';

// Needs PostgreSQL at 127.0.0.1:5432 (PO_TEST_DATABASE_URL); the replay runs the real engine in process.
const postgres = backends.filter((b) => b.name === 'postgres');
const START = new Date('2026-03-01T00:00:00Z');
const ROWS = 240;
const window = { from: START, to: new Date(START.getTime() + (ROWS - 1) * 60_000) };

let demo: CompiledStrategy;
beforeAll(async () => {
  demo = await compileDemoStrategy();
});
afterAll(async () => {
  await demo?.dispose();
});

describe.each(postgres)('replay on $name', (backend) => {
  const on = replayStoreOn(backend);

  /**
   * The demo kiln's generated history, with a few bad readings so that skips happen, and two
   * missing drive-current readings (held by the input validation: no measurement to compare).
   */
  async function kilnHistory(): Promise<ProcessDataSource> {
    const source = createProcessDataSource(on.db, { table: randomName('kiln') });
    const rows = createDemoKiln({ seed: 7 }).history({ rows: ROWS, start: START }) as Record<
      string,
      unknown
    >[];
    const columns = Object.keys(rows[0]!).filter((c) => c !== 'timestamp');
    await source.createProcessDataTable(columns);
    // A gap of missing readings long enough to exhaust the hold (3 cycles) of a non-critical tag.
    for (let i = 100; i < 106; i++) rows[i]![columns[0]!] = null;
    for (let i = 150; i < 152; i++) rows[i]!.Kiln_Drive_Current = null;
    await source.insertRows(rows as never);
    return source;
  }

  async function replay(
    source: ProcessDataSource,
    strategy: CycleStrategy,
    options: { every?: number; stopAfter?: number; id?: string; version?: string } = {},
  ) {
    const id =
      options.id ??
      (
        await on.store.create({
          dataTable: source.table,
          ...window,
          every: options.every ?? 1,
          strategyKey: 'test',
          strategyVersion: options.version ?? '1.0.0',
          rowsInWindow: await source.countBetween(window),
          predictionChecks: predictionChecks(strategy.spec),
        })
      ).id;
    const controller = new AbortController();
    const outcome = await runReplay({
      replayId: id,
      strategy: { version: options.version ?? '1.0.0', strategy },
      data: source,
      sink: on.store,
      window,
      every: options.every ?? 1,
      batchSize: 25,
      signal: controller.signal,
      onProgress: (p) => {
        if (options.stopAfter !== undefined && p.storedNow >= options.stopAfter) controller.abort();
      },
    });
    await on.store.update(id, { status: outcome.interrupted ? 'interrupted' : 'done' });
    return { id, outcome };
  }

  it('accounts for every row of the window, and a resumed replay equals an uninterrupted one', async () => {
    const source = await kilnHistory();
    const whole = await replay(source, demo);
    expect(whole.outcome).toMatchObject({
      rowsInWindow: ROWS,
      selected: ROWS,
      stored: ROWS,
      interrupted: false,
    });
    const cycles = await on.store.cycles(whole.id);
    const report = replayReport((await on.store.get(whole.id))!, cycles);
    expect(report.cycles.run + report.cycles.skipped).toBe(ROWS);
    expect(report.cycles.skipped).toBeGreaterThan(0);
    expect(report.rows).toMatchObject({ in_window: ROWS, stored: ROWS, pending: 0, not_selected: 0 });

    const first = await replay(source, demo, { stopAfter: 50 });
    expect(first.outcome.interrupted).toBe(true);
    const partial = await on.store.cycles(first.id);
    expect(partial.length).toBeGreaterThanOrEqual(50);
    expect(partial.length).toBeLessThan(ROWS);
    const resumed = await replay(source, demo, { id: first.id });
    expect(resumed.outcome).toMatchObject({ storedBefore: partial.length, stored: ROWS, interrupted: false });
    expect(resumed.outcome.storedNow).toBe(ROWS - partial.length);
    const resumedCycles = await on.store.cycles(first.id);
    expect(comparable(resumedCycles)).toEqual(comparable(cycles));
    // The prediction error is a post-pass in data-time order: a resumed replay gives the same figures.
    const resumedReport = replayReport((await on.store.get(first.id))!, resumedCycles);
    expect(resumedReport.prediction_error).toEqual(report.prediction_error);
  });

  it('runs every Nth row and reports the ones left out', async () => {
    const source = await kilnHistory();
    const { id, outcome } = await replay(source, demo, { every: 7 });
    expect(outcome).toMatchObject({ rowsInWindow: ROWS, selected: Math.ceil(ROWS / 7), interrupted: false });
    const cycles = await on.store.cycles(id);
    expect(cycles.map((c) => c.dataTimestamp.getTime())).toEqual(
      Array.from({ length: Math.ceil(ROWS / 7) }, (_, i) => START.getTime() + i * 7 * 60_000),
    );
    const report = replayReport((await on.store.get(id))!, cycles);
    expect(report.rows.stored + report.rows.not_selected!).toBe(ROWS);
    // Every 7th minute: a prediction is judged on the first replayed row at least 30 min later (35 min).
    const drive = report.prediction_error.outputs.predicted_Kiln_Drive_Current!;
    expect(drive.pairs).toBeGreaterThan(0);
    expectFigures(drive, await independentPredictionError(on.db, id, 'predicted_Kiln_Drive_Current'));
  });

  it("replays the predecessor's strategy over a generated history", async () => {
    const fixtures = join(import.meta.dirname, '../../../packages/rto-engine/test/fixtures/compat');
    const predecessor = await compileStrategy(
      await readFile(join(fixtures, 'predecessor-strategy.onnx.yaml'), 'utf8'),
      {
        modelProvider: createModelProvider({ readFile: localModelFiles(join(fixtures, 'models')) }),
        version: 'predecessor',
      },
    );
    try {
      const cases = JSON.parse(await readFile(join(fixtures, 'expected/optimize-cases.json'), 'utf8'));
      const base = firstState(cases);
      const columns = plantColumns(predecessor.spec);
      expect(columns.filter((c) => typeof base[c] !== 'number')).toEqual([]);
      const random = mulberry32(11);
      const rows = Array.from({ length: 60 }, (_, i) => ({
        timestamp: new Date(START.getTime() + i * 60_000),
        ...Object.fromEntries(columns.map((c) => [c, base[c]! * (1 + 0.01 * (random() - 0.5))])),
      }));
      const source = createProcessDataSource(on.db, { table: randomName('pred') });
      await source.createProcessDataTable(columns);
      await source.insertRows(rows);
      const { id, outcome } = await replay(source, predecessor, { version: 'predecessor' });
      expect(outcome).toMatchObject({ rowsInWindow: 60, stored: 60 });
      const report = replayReport((await on.store.get(id))!, await on.store.cycles(id));
      expect(report.cycles.failed).toBe(0);
      expect(report.cycles.solved + report.cycles.held).toBe(60);
      expect(Object.keys(report.decision_variables).length).toBeGreaterThan(0);
      expect(report.cost.cycles).toBe(60);
      // The predecessor's delta models: predicted_X = X_current + delta_X, measured by X (inferred);
      // no horizon in the strategy, so each prediction is judged on the next row.
      expect(report.prediction_error).toMatchObject({ recorded: true, comparison: 'next_row', horizon_s: 0 });
      for (const name of ['Kiln_Drive_Current', 'Calciner_outlet_CO', 'Clinker_temperature']) {
        const output = report.prediction_error.outputs[`predicted_${name}`]!;
        expect(output).toMatchObject({
          measured_by: name,
          inferred: true,
          predictions: 60,
          pairs: 59,
          past_last_row: 1,
        });
        expectFigures(output, await independentPredictionError(on.db, id, `predicted_${name}`));
        expect(report.prediction_error.outputs[`delta_${name}`]).toMatchObject({
          measured_by: null,
          pairs: 0,
          bias: null,
          note: expect.stringContaining('no plant-data column measures it'),
        });
      }
    } finally {
      await predecessor.dispose();
    }
  });

  it('recomputes every figure of the report from replay_results', async () => {
    const source = await kilnHistory();
    const { id } = await replay(source, demo);
    const report = replayReport((await on.store.get(id))!, await on.store.cycles(id));
    const table = await on.db.query<Record<string, unknown>>(
      'SELECT * FROM replay_results WHERE replay_id = $1 ORDER BY data_timestamp',
      [id],
    );
    expect(report).toMatchObject(independentReport(table.rows));
    // The demo strategy's three models are each checked against their training domain every cycle.
    expect(Object.keys(report.models)).toHaveLength(3);
    for (const m of Object.values(report.models))
      expect(m.cycles).toBe(report.cycles.solved + report.cycles.held);

    // Prediction error: each delta model's holding prediction against the reading 30 min later.
    const errors = report.prediction_error;
    expect(errors).toMatchObject({
      model_estimated: true,
      recorded: true,
      comparison: 'horizon',
      horizon_s: 1800,
    });
    expect(Object.keys(errors.outputs).sort()).toEqual(
      ['Calciner_outlet_CO', 'Clinker_temperature', 'Kiln_Drive_Current']
        .flatMap((n) => [`delta_${n}`, `predicted_${n}`])
        .sort(),
    );
    for (const name of ['Kiln_Drive_Current', 'Calciner_outlet_CO', 'Clinker_temperature']) {
      const output = errors.outputs[`predicted_${name}`]!;
      expect(output).toMatchObject({ measured_by: name, inferred: true, note: null });
      expect(output.model).toEqual(expect.any(String));
      expect(output.predictions).toBe(report.cycles.run - report.cycles.failed);
      expect(output.pairs + output.without_measurement + output.past_last_row).toBe(output.predictions);
      expect(output.pairs).toBeGreaterThan(100);
      expect(output.past_last_row).toBeGreaterThan(0);
      expectFigures(output, await independentPredictionError(on.db, id, `predicted_${name}`));
      expect(errors.outputs[`delta_${name}`]).toMatchObject({
        measured_by: null,
        predictions: 0,
        pairs: 0,
        rmse: null,
      });
    }
    // The two missing drive-current readings leave their predictions without a measurement.
    expect(errors.outputs.predicted_Kiln_Drive_Current!.without_measurement).toBeGreaterThanOrEqual(2);
  });
});

describe.each(backends)('replay keyed by exact data time on $name', (backend) => {
  const on = replayStoreOn(backend);

  it('runs two rows within one millisecond as two cycles, and a resume between them runs the second once', async () => {
    const minute = (m: number, micros = '000000') =>
      `${new Date(START.getTime() + m * 60_000).toISOString().slice(0, 19)}.${micros}Z`;
    // Rows 3 and 4 lie 300 µs apart inside the same millisecond.
    const times = [
      minute(0),
      minute(1),
      minute(2),
      minute(3, '000100'),
      minute(3, '000400'),
      minute(4),
      minute(5),
    ];
    const kiln = createDemoKiln({ seed: 3 }).history({ rows: times.length, start: START }) as Record<
      string,
      unknown
    >[];
    const source = createProcessDataSource(on.db, { table: randomName('same_ms') });
    const columns = Object.keys(kiln[0]!).filter((c) => c !== 'timestamp');
    await source.createProcessDataTable(columns);
    await source.insertRows(kiln.map((row, i) => ({ ...row, timestamp: times[i]! })));
    const span = { from: START, to: new Date(START.getTime() + 5 * 60_000) };
    expect(await source.countBetween(span)).toBe(times.length);

    const run = async (id: string, stopAfter?: number) => {
      const controller = new AbortController();
      return runReplay({
        replayId: id,
        strategy: { version: '1.0.0', strategy: demo },
        data: source,
        sink: on.store,
        window: span,
        concurrency: 1,
        batchSize: 1,
        signal: controller.signal,
        onProgress: (p) => {
          if (stopAfter !== undefined && p.storedNow >= stopAfter) controller.abort();
        },
      });
    };
    const create = async () =>
      (
        await on.store.create({
          dataTable: source.table,
          ...span,
          every: 1,
          strategyKey: 'test',
          rowsInWindow: times.length,
          predictionChecks: predictionChecks(demo.spec),
        })
      ).id;

    const whole = await create();
    expect(await run(whole)).toMatchObject({
      stored: times.length,
      storedNow: times.length,
      interrupted: false,
    });
    const wholeCycles = await on.store.cycles(whole);
    expect(wholeCycles.map((c) => c.dataTime)).toEqual(times);
    expect([...(await on.store.recorded(whole))].sort()).toEqual(times);

    // Interrupted right after the first row of the pair: the resume runs the second, and nothing twice.
    const parted = await create();
    expect(await run(parted, 4)).toMatchObject({ stored: 4, storedNow: 4, interrupted: true });
    expect((await on.store.cycles(parted)).map((c) => c.dataTime)).toEqual(times.slice(0, 4));
    expect(await run(parted)).toMatchObject({
      storedBefore: 4,
      storedNow: times.length - 4,
      stored: times.length,
      interrupted: false,
    });
    // A second resume finds everything stored and runs nothing.
    expect(await run(parted)).toMatchObject({ storedBefore: times.length, storedNow: 0 });
    const partedCycles = await on.store.cycles(parted);
    expect(comparable(partedCycles)).toEqual(comparable(wholeCycles));
    const reportOf = async (id: string, cycles: StoredReplayCycle[]) =>
      replayReport((await on.store.get(id))!, cycles);
    expect((await reportOf(parted, partedCycles)).prediction_error).toEqual(
      (await reportOf(whole, wholeCycles)).prediction_error,
    );
  });
});

type OutputFigures = {
  predictions: number;
  pairs: number;
  without_measurement: number;
  past_last_row: number;
  bias: number | null;
  mean_abs_error: number | null;
  rmse: number | null;
  p95_abs_error: number | null;
};

/** The report's figures equal the independent ones (sums in another order: close, not bit-equal). */
function expectFigures(output: OutputFigures, independent: OutputFigures) {
  const { bias, mean_abs_error, rmse, p95_abs_error, ...counts } = independent;
  expect(output).toMatchObject(counts);
  expect(output.bias).toBeCloseTo(bias!, 9);
  expect(output.mean_abs_error).toBeCloseTo(mean_abs_error!, 9);
  expect(output.rmse).toBeCloseTo(rmse!, 9);
  expect(output.p95_abs_error).toBe(p95_abs_error);
}

/**
 * A prediction's error against the plant, recomputed in SQL straight from replay_results and the
 * replay's recorded checks: for each cycle that ran, the first stored row at least the horizon later
 * (strictly later), its reading of the measuring column minus the prediction at the plant's values.
 */
async function independentPredictionError(
  db: Database,
  id: string,
  variable: string,
): Promise<OutputFigures> {
  const checks = await db.query<{ measured_by: string; horizon_s: number }>(
    `SELECT prediction_checks->'outputs'->$2->>'measured_by' AS measured_by,
            (prediction_checks->>'horizon_s')::float8 AS horizon_s
       FROM replays WHERE id = $1`,
    [id, variable],
  );
  const { measured_by, horizon_s } = checks.rows[0]!;
  const r = await db.query<Record<string, string | number | null>>(
    `WITH r AS (SELECT data_timestamp AS t, status, predictions, measured FROM replay_results WHERE replay_id = $1),
     p AS (
       SELECT (a.predictions->$2->>'at_current')::float8 AS predicted,
              (SELECT b.measured->>$3 FROM r b
                WHERE b.t > a.t AND b.t >= a.t + make_interval(secs => $4::float8) ORDER BY b.t LIMIT 1) AS measured,
              EXISTS (SELECT 1 FROM r b WHERE b.t > a.t AND b.t >= a.t + make_interval(secs => $4::float8)) AS has_row
         FROM r a WHERE a.status = 'ok' AND a.predictions->$2->>'at_current' IS NOT NULL
     ),
     e AS (SELECT measured::float8 - predicted AS err FROM p WHERE measured IS NOT NULL)
     SELECT (SELECT count(*) FROM p) AS predictions,
            (SELECT count(*) FROM p WHERE has_row AND measured IS NULL) AS without_measurement,
            (SELECT count(*) FROM p WHERE NOT has_row) AS past_last_row,
            count(*) AS pairs, avg(err) AS bias, avg(abs(err)) AS mean_abs_error, sqrt(avg(err * err)) AS rmse,
            percentile_disc(0.95) WITHIN GROUP (ORDER BY abs(err)) AS p95_abs_error
       FROM e`,
    [id, variable, measured_by, horizon_s],
  );
  const row = r.rows[0]!;
  const n = (v: string | number | null | undefined) => (v === null || v === undefined ? null : Number(v));
  return {
    predictions: n(row.predictions)!,
    without_measurement: n(row.without_measurement)!,
    past_last_row: n(row.past_last_row)!,
    pairs: n(row.pairs)!,
    bias: n(row.bias),
    mean_abs_error: n(row.mean_abs_error),
    rmse: n(row.rmse),
    p95_abs_error: n(row.p95_abs_error),
  };
}

/** The stored cycles without what differs between two runs of the same cycle (durations). */
const comparable = (cycles: StoredReplayCycle[]) => cycles.map(({ durationMs: _, ...c }) => c);

/** The plant state of the predecessor's first reference case. */
function firstState(cases: { cases: { input_data: Record<string, number> }[] }): Record<string, number> {
  return cases.cases[0]!.input_data;
}

/** The report's figures, recomputed from raw replay_results rows by a second, plain implementation. */
function independentReport(rows: Record<string, unknown>[]) {
  const sortNum = (v: number[]) => [...v].sort((a, b) => a - b);
  const med = (v: number[]) => {
    const s = sortNum(v);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const p95 = (v: number[]) => sortNum(v)[Math.ceil(0.95 * v.length) - 1];
  const ok = rows.filter((r) => r.status === 'ok');
  const moves: Record<string, { m: number[]; bound: number }> = {};
  for (const r of ok)
    for (const [name, d] of Object.entries(
      r.decisions as Record<string, Record<string, number | string | null>>,
    )) {
      moves[name] ??= { m: [], bound: 0 };
      moves[name].m.push(Math.abs((d.recommended as number) - (d.current as number)));
      if (d.at_bound) moves[name].bound++;
    }
  const scores: Record<string, { rec: number[]; act: number[] }> = {};
  for (const r of ok)
    for (const [name, s] of Object.entries(r.constraint_scores as Record<string, Record<string, number>>)) {
      scores[name] ??= { rec: [], act: [] };
      scores[name].rec.push(s.recommended!);
      scores[name].act.push(s.at_current!);
    }
  const withCost = ok.filter((r) => r.cost_at_current !== null && r.cost_recommended !== null);
  const actual = withCost.map((r) => Number(r.cost_at_current));
  const rec = withCost.map((r) => Number(r.cost_recommended));
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  type Check = { inside: boolean; outside: { fraction: number | null }[] } | null;
  const trust: Record<
    string,
    { n: number; actual: number; recN: number; rec: number; worst: number | null }
  > = {};
  for (const r of ok)
    for (const [name, m] of Object.entries(
      (r.models as { models: Record<string, { at_current: Check; at_recommendation: Check }> }).models,
    )) {
      const t = (trust[name] ??= { n: 0, actual: 0, recN: 0, rec: 0, worst: null });
      t.n++;
      if (!m.at_current!.inside) t.actual++;
      if (m.at_recommendation) {
        t.recN++;
        if (!m.at_recommendation.inside) t.rec++;
      }
      for (const o of [...m.at_current!.outside, ...(m.at_recommendation?.outside ?? [])])
        if (o.fraction !== null) t.worst = Math.max(t.worst ?? o.fraction, o.fraction);
    }
  return {
    cycles: {
      run: rows.filter((r) => r.status !== 'skipped').length,
      skipped: rows.filter((r) => r.status === 'skipped').length,
      failed: rows.filter((r) => r.status === 'failed').length,
      held: ok.filter((r) => r.held === true).length,
      solved: ok.filter((r) => r.held === false).length,
    },
    decision_variables: Object.fromEntries(
      Object.entries(moves).map(([name, { m, bound }]) => [
        name,
        {
          cycles: m.length,
          move: { median: med(m), p95: p95(m), max: Math.max(...m) },
          at_bound_pct: (100 * bound) / m.length,
        },
      ]),
    ),
    constraints: Object.fromEntries(
      Object.entries(scores).map(([name, s]) => [
        name,
        {
          active_at_recommendation_pct: (100 * s.rec.filter((x) => x < 1).length) / s.rec.length,
          active_at_actual_pct: (100 * s.act.filter((x) => x < 1).length) / s.act.length,
          worst_at_recommendation: Math.min(...s.rec),
          worst_at_actual: Math.min(...s.act),
        },
      ]),
    ),
    cost: {
      cycles: withCost.length,
      at_actual: { mean: sum(actual) / actual.length, median: med(actual), total: sum(actual) },
      at_recommendation: { mean: sum(rec) / rec.length, median: med(rec), total: sum(rec) },
    },
    models: Object.fromEntries(
      Object.entries(trust).map(([name, t]) => [
        name,
        {
          cycles: t.n,
          extrapolating_at_actual_pct: (100 * t.actual) / t.n,
          extrapolating_at_recommendation_pct: t.recN === 0 ? null : (100 * t.rec) / t.recN,
          worst_excursion_fraction: t.worst,
        },
      ]),
    ),
  };
}
