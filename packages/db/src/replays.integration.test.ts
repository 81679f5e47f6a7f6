import { testDatabases } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProcessDataSource,
  createReplayStore,
  type Database,
  exactTime,
  openDatabase,
  type ReplayStore,
} from './index.ts';

// Needs the PostgreSQL server at 127.0.0.1:5432 (PO_TEST_DATABASE_URL).
const backends = testDatabases(openDatabase, { prefix: 'po_db_replays' });
const postgres = backends.filter((b) => b.name === 'postgres');
const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (minute: number) => new Date(T0 + minute * 60_000);
/** A replay of the first ten minutes. */
const firstTenMinutes = { dataTable: 'process_data', from: at(0), to: at(9), every: 1, strategyKey: 'k' };

/**
 * The database and replay store of one `describe` block on `backend`: opened in its `beforeAll`,
 * removed in its `afterAll`. Read `db` and `store` inside tests.
 */
function replayStoreOn(backend: (typeof backends)[number]): { db: Database; store: ReplayStore } {
  let opened: { db: Database; store: ReplayStore; cleanup: () => Promise<void> } | undefined;
  beforeAll(async () => {
    const { db, cleanup } = await backend.open();
    opened = { db, cleanup, store: await createReplayStore(db) };
  });
  afterAll(async () => {
    await opened?.cleanup();
  });
  const get = () => {
    if (!opened) throw new Error(`replayStoreOn(${backend.name}): the database opens in beforeAll`);
    return opened;
  };
  return {
    get db() {
      return get().db;
    },
    get store() {
      return get().store;
    },
  };
}

describe.each(postgres)('replays on $name', (backend) => {
  const on = replayStoreOn(backend);

  const newReplay = () => on.store.create({ ...firstTenMinutes, rowsInWindow: 10 });

  it('stores each (replay, data timestamp) once, and reads cycles back in time order', async () => {
    const replay = await newReplay();
    expect(replay).toMatchObject({ status: 'running', every: 1, rowsInWindow: 10, counts: null });
    const cycle = (minute: number, costAtCurrent: number) => ({
      dataTimestamp: at(minute),
      status: 'ok' as const,
      held: false,
      costAtCurrent,
      costRecommended: Number.NaN,
      decisions: {
        Fuel: { current: 1, recommended: 2, lower_bound: 0, upper_bound: 2, at_bound: 'upper' as const },
      },
    });
    expect(await on.store.record(replay.id, [cycle(2, 5), cycle(1, 4)])).toBe(2);
    expect(await on.store.record(replay.id, [cycle(2, 99), cycle(3, 6)])).toBe(1);
    const cycles = await on.store.cycles(replay.id);
    expect(cycles.map((c) => [c.dataTimestamp.getTime(), c.costAtCurrent])).toEqual([
      [at(1).getTime(), 4],
      [at(2).getTime(), 5],
      [at(3).getTime(), 6],
    ]);
    expect(cycles[0]).toMatchObject({ costRecommended: null, decisions: { Fuel: { at_bound: 'upper' } } });
    expect([...(await on.store.recorded(replay.id))].sort()).toEqual([1, 2, 3].map((m) => exactTime(at(m))));
    await on.store.update(replay.id, { status: 'done', counts: { ok: 3 } });
    expect(await on.store.get(replay.id)).toMatchObject({ status: 'done', counts: { ok: 3 } });
  });

  it('names what is wrong: an unknown replay, a bad every', async () => {
    await expect(on.store.update('nope', { status: 'done' })).rejects.toMatchObject({
      code: 'UNKNOWN_REPLAY',
    });
    await expect(
      on.store.create({ dataTable: 'd', from: at(0), to: at(1), every: 0, strategyKey: 'k' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('every') });
    expect(await on.store.get('nope')).toBeUndefined();
  });

  it('reads plant rows of a window in pages, in time order', async () => {
    const source = createProcessDataSource(on.db, { table: 'pd_window' });
    await source.createProcessDataTable(['Feed']);
    await source.insertRows(Array.from({ length: 20 }, (_, m) => ({ timestamp: at(m), Feed: m })));
    const window = { from: at(5), to: at(14) };
    expect(await source.countBetween(window)).toBe(10);
    const first = await source.between(window, ['Feed'], { limit: 4 });
    expect(first.map((r) => r.values.Feed)).toEqual([5, 6, 7, 8]);
    const rest = await source.between(window, ['Feed'], { after: first.at(-1)!.timestamp, limit: 100 });
    expect(rest.map((r) => r.values.Feed)).toEqual([9, 10, 11, 12, 13, 14]);
    await expect(source.between(window, ['Coal'])).rejects.toMatchObject({ code: 'MISSING_COLUMNS' });
  });
});

describe.each(backends)('replay cycles keyed by exact time on $name', (backend) => {
  const on = replayStoreOn(backend);

  it('stores two cycles within one millisecond apart, each once, and reads them back exactly', async () => {
    const predictionChecks = {
      horizon_s: 0,
      outputs: { predicted_X: { model: 'm', measured_by: 'X', inferred: true } },
    };
    const replay = await on.store.create({ ...firstTenMinutes, predictionChecks });
    expect((await on.store.get(replay.id))!.predictionChecks).toEqual(predictionChecks);
    const cycle = (dataTime: string, x: number | null) => ({
      dataTimestamp: new Date(dataTime),
      dataTime,
      status: 'ok' as const,
      measured: { X: x },
    });
    const a = '2026-03-01T00:01:00.000100Z';
    const b = '2026-03-01T00:01:00.000900Z';
    expect(await on.store.record(replay.id, [cycle(a, 1)])).toBe(1);
    expect(await on.store.record(replay.id, [cycle(b, 2), cycle(a, 99)])).toBe(1);
    expect([...(await on.store.recorded(replay.id))].sort()).toEqual([a, b]);
    const cycles = await on.store.cycles(replay.id);
    expect(cycles.map((c) => [c.dataTime, c.measured])).toEqual([
      [a, { X: 1 }],
      [b, { X: 2 }],
    ]);
    // A time with a zone offset is the same instant as its UTC text.
    expect(await on.store.record(replay.id, [cycle('2026-03-01T01:31:00.0009+01:30', 3)])).toBe(0);
    await expect(on.store.record(replay.id, [cycle('yesterday', 1)])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining("dataTime 'yesterday'"),
    });
  });
});

describe.each(backends)('replay cycle outcomes on $name', (backend) => {
  const on = replayStoreOn(backend);

  it("are the stored cycles' outcomes in time order, each model's bias correction alone", async () => {
    const replay = await on.store.create(firstTenMinutes);
    const trust = (bias: number | null) => ({
      models: {
        kiln: { bias_correction: bias, in_domain: true, training_error: 0.5 },
        cooler: { in_domain: false },
      },
      note: 'more figures',
    });
    await on.store.record(replay.id, [
      { dataTimestamp: at(3), status: 'ok', mode: 'advisory', held: true, models: trust(null) },
      { dataTimestamp: at(1), status: 'ok', mode: 'advisory', held: false, models: trust(-2.5) },
      {
        dataTimestamp: at(2),
        status: 'skipped',
        reason: 'bad input',
        substitutions: [{ variable: 'Feed', rule: 'valid_max', action: 'skipped' }],
      },
      { dataTimestamp: at(4), status: 'ok', mode: 'monitor', reason: 'forced', models: { models: {} } },
      { dataTimestamp: at(5), status: 'failed', reason: 'optimizer failed' },
    ]);
    const outcomes = await on.store.outcomes(replay.id);
    expect(outcomes).toEqual([
      {
        status: 'ok',
        reason: null,
        mode: 'advisory',
        held: false,
        substitutions: null,
        models: { models: { kiln: { bias_correction: -2.5 }, cooler: { bias_correction: null } } },
      },
      {
        status: 'skipped',
        reason: 'bad input',
        mode: null,
        held: null,
        substitutions: [{ variable: 'Feed', rule: 'valid_max', action: 'skipped' }],
        models: null,
      },
      {
        status: 'ok',
        reason: null,
        mode: 'advisory',
        held: true,
        substitutions: null,
        models: { models: { kiln: { bias_correction: null }, cooler: { bias_correction: null } } },
      },
      {
        status: 'ok',
        reason: 'forced',
        mode: 'monitor',
        held: null,
        substitutions: null,
        models: { models: null },
      },
      {
        status: 'failed',
        reason: 'optimizer failed',
        mode: null,
        held: null,
        substitutions: null,
        models: null,
      },
    ]);
    // The same outcomes as the full cycles give.
    const cycles = await on.store.cycles(replay.id);
    expect(outcomes.map((o) => [o.status, o.reason, o.mode, o.held, o.substitutions])).toEqual(
      cycles.map((c) => [c.status, c.reason, c.mode, c.held, c.substitutions]),
    );
  });
});

describe('exactTime', () => {
  it('writes one text per instant', () => {
    expect(exactTime(new Date('2026-03-01T00:00:00.123Z'))).toBe('2026-03-01T00:00:00.123000Z');
    expect(exactTime('2026-03-01T00:00:00.1234Z')).toBe('2026-03-01T00:00:00.123400Z');
    expect(exactTime('2026-03-01T05:30:00+05:30')).toBe('2026-03-01T00:00:00.000000Z');
    expect(exactTime('2026-03-01T05:30:00.000007+0530')).toBe('2026-03-01T00:00:00.000007Z');
    expect(() => exactTime('2026-03-01 00:00:00', 'row time')).toThrow(
      /row time '2026-03-01 00:00:00' is not an ISO 8601/,
    );
    expect(() => exactTime(new Date(Number.NaN), 'row time')).toThrow(/row time is an invalid date/);
  });
});
