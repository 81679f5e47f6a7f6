import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createProcessDataSource,
  createReplayStore,
  type Database,
  type ProcessDataSource,
  type ReplayStore,
  type StoredReplayCycle,
} from '@po/db';
import { createDemoKiln, createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { mulberry32, randomName } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, compileDemoStrategy } from '../test/helpers.ts';
import { type CycleStrategy, plantColumns, replayReport, runReplay } from './index.ts';

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
  let db: Database;
  let cleanup: () => Promise<void>;
  let store: ReplayStore;
  beforeAll(async () => {
    ({ db, cleanup } = await backend.open());
    store = await createReplayStore(db);
  });
  afterAll(async () => {
    await cleanup?.();
  });

  /** The demo kiln's generated history, with a few bad readings so that skips happen. */
  async function kilnHistory(): Promise<ProcessDataSource> {
    const source = createProcessDataSource(db, { table: randomName('kiln') });
    const rows = createDemoKiln({ seed: 7 }).history({ rows: ROWS, start: START }) as Record<
      string,
      unknown
    >[];
    const columns = Object.keys(rows[0]!).filter((c) => c !== 'timestamp');
    await source.createProcessDataTable(columns);
    // A gap of missing readings long enough to exhaust the hold (3 cycles) of a non-critical tag.
    for (let i = 100; i < 106; i++) rows[i]![columns[0]!] = null;
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
        await store.create({
          dataTable: source.table,
          ...window,
          every: options.every ?? 1,
          strategyKey: 'test',
          strategyVersion: options.version ?? '1.0.0',
          rowsInWindow: await source.countBetween(window),
        })
      ).id;
    const controller = new AbortController();
    const outcome = await runReplay({
      replayId: id,
      strategy: { version: options.version ?? '1.0.0', strategy },
      data: source,
      sink: store,
      window,
      every: options.every ?? 1,
      batchSize: 25,
      signal: controller.signal,
      onProgress: (p) => {
        if (options.stopAfter !== undefined && p.storedNow >= options.stopAfter) controller.abort();
      },
    });
    await store.update(id, { status: outcome.interrupted ? 'interrupted' : 'done' });
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
    const cycles = await store.cycles(whole.id);
    const report = replayReport((await store.get(whole.id))!, cycles);
    expect(report.cycles.run + report.cycles.skipped).toBe(ROWS);
    expect(report.cycles.skipped).toBeGreaterThan(0);
    expect(report.rows).toMatchObject({ in_window: ROWS, stored: ROWS, pending: 0, not_selected: 0 });

    const first = await replay(source, demo, { stopAfter: 50 });
    expect(first.outcome.interrupted).toBe(true);
    const partial = await store.cycles(first.id);
    expect(partial.length).toBeGreaterThanOrEqual(50);
    expect(partial.length).toBeLessThan(ROWS);
    const resumed = await replay(source, demo, { id: first.id });
    expect(resumed.outcome).toMatchObject({ storedBefore: partial.length, stored: ROWS, interrupted: false });
    expect(resumed.outcome.storedNow).toBe(ROWS - partial.length);
    expect(comparable(await store.cycles(first.id))).toEqual(comparable(cycles));
  });

  it('runs every Nth row and reports the ones left out', async () => {
    const source = await kilnHistory();
    const { id, outcome } = await replay(source, demo, { every: 7 });
    expect(outcome).toMatchObject({ rowsInWindow: ROWS, selected: Math.ceil(ROWS / 7), interrupted: false });
    const cycles = await store.cycles(id);
    expect(cycles.map((c) => c.dataTimestamp.getTime())).toEqual(
      Array.from({ length: Math.ceil(ROWS / 7) }, (_, i) => START.getTime() + i * 7 * 60_000),
    );
    const report = replayReport((await store.get(id))!, cycles);
    expect(report.rows.stored + report.rows.not_selected!).toBe(ROWS);
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
      const source = createProcessDataSource(db, { table: randomName('pred') });
      await source.createProcessDataTable(columns);
      await source.insertRows(rows);
      const { id, outcome } = await replay(source, predecessor, { version: 'predecessor' });
      expect(outcome).toMatchObject({ rowsInWindow: 60, stored: 60 });
      const report = replayReport((await store.get(id))!, await store.cycles(id));
      expect(report.cycles.failed).toBe(0);
      expect(report.cycles.solved + report.cycles.held).toBe(60);
      expect(Object.keys(report.decision_variables).length).toBeGreaterThan(0);
      expect(report.cost.cycles).toBe(60);
    } finally {
      await predecessor.dispose();
    }
  });

  it('recomputes every figure of the report from replay_results', async () => {
    const source = await kilnHistory();
    const { id } = await replay(source, demo);
    const report = replayReport((await store.get(id))!, await store.cycles(id));
    const table = await db.query<Record<string, unknown>>(
      'SELECT * FROM replay_results WHERE replay_id = $1 ORDER BY data_timestamp',
      [id],
    );
    expect(report).toMatchObject(independentReport(table.rows));
    // The demo strategy's three models are each checked against their training domain every cycle.
    expect(Object.keys(report.models)).toHaveLength(3);
    for (const m of Object.values(report.models))
      expect(m.cycles).toBe(report.cycles.solved + report.cycles.held);
  });
});

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
