import { testDatabases } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProcessDataSource,
  createResultStore,
  type Database,
  DbError,
  MissingColumnsError,
  migrate,
  openDatabase,
} from './index.ts';

// Needs the PostgreSQL server at 127.0.0.1:5432 (PO_TEST_DATABASE_URL); PGlite runs in-process.
describe.each(testDatabases(openDatabase, { prefix: 'po_db_test' }))('@po/db on $name', (backend) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await backend.open());
  });
  afterAll(async () => {
    await cleanup?.();
  });

  it('runs the same SQL, with transactions that roll back on error', async () => {
    await db.query('CREATE TABLE tx_probe (n integer)');
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO tx_probe VALUES ($1)', [1]);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO tx_probe VALUES ($1)', [2]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const r = await db.query<{ n: number }>('SELECT n FROM tx_probe ORDER BY n');
    expect(r.rows.map((x) => x.n)).toEqual([1]);
  });

  it('wraps query errors as DbError QUERY_FAILED naming the target', async () => {
    const e = await db.query('SELECT * FROM no_such_table').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DbError);
    expect((e as DbError).code).toBe('QUERY_FAILED');
    expect((e as Error).message).toMatch(/^\[po\/db\] query failed on .*no_such_table/);
  });

  it('migrates idempotently (versioned in po_migrations)', async () => {
    expect(await migrate(db)).toEqual([
      'optimization_results/001_results_feedback_state',
      'optimization_results/002_results_model_trust',
      'optimization_results/003_replays',
      'optimization_results/004_decisions_explanation_audit',
      'optimization_results/005_results_unit',
      'optimization_results/006_replay_prediction_error',
      'optimization_results/007_fleet_unit_mismatch',
    ]);
    expect(await migrate(db)).toEqual([]);
    const again = await Promise.all([migrate(db), migrate(db)]);
    expect(again).toEqual([[], []]);
  });

  it('refuses table names that are not plain identifiers', async () => {
    await expect(createResultStore(db, { tables: { results: 'x; DROP TABLE y' } })).rejects.toMatchObject({
      code: 'INVALID_IDENTIFIER',
    });
    expect(() => createProcessDataSource(db, { table: 'a"b' })).toThrow(/not a valid SQL name/);
  });

  it('records a cycle and advances the runner state in one transaction; a retry is a no-op', async () => {
    const store = await createResultStore(db, { tables: { results: 'res_a' }, dataTable: 'plant_a' });
    expect(await store.lastProcessed()).toBeUndefined();
    const at = new Date('2026-01-01T00:01:00.123Z');
    const record = {
      dataTimestamp: at,
      status: 'ok' as const,
      strategyVersion: '1.2.0',
      modelChecksums: { 'a.onnx': 'abc' },
      mode: 'advisory' as const,
      costAtCurrent: 1.5,
      costRecommended: -2,
      setpoints: { Kiln_Coal_PV: { current: 9, recommended: 8.95 } },
      predictions: { p: 1 },
      constraintScores: { c: 0.5 },
      optimizer: { algorithm: 'SLSQP', iterations: 3 },
      substitutions: [],
      durationMs: 12.5,
    };
    expect(await store.recordCycle(record)).toBe(true);
    expect(await store.recordCycle({ ...record, status: 'failed', reason: 'retry' })).toBe(false);
    expect((await store.lastProcessed())?.toISOString()).toBe(at.toISOString());
    // An older record never moves the state back.
    expect(await store.recordCycle({ ...record, dataTimestamp: new Date('2025-12-31T23:00:00Z') })).toBe(
      true,
    );
    expect((await store.lastProcessed())?.toISOString()).toBe(at.toISOString());
    const recent = await store.recent({ limit: 10 });
    expect(recent.map((r) => r.dataTimestamp.toISOString())).toEqual([
      at.toISOString(),
      '2025-12-31T23:00:00.000Z',
    ]);
    const first = recent[0]!;
    expect(first).toMatchObject({
      status: 'ok',
      reason: null,
      dataTable: 'plant_a',
      strategyVersion: '1.2.0',
      modelChecksums: { 'a.onnx': 'abc' },
      costAtCurrent: 1.5,
      costRecommended: -2,
      substitutions: [],
      durationMs: 12.5,
    });
    expect(typeof first.id).toBe('number');
    expect(await store.recent({ since: new Date('2026-01-01T00:00:00Z') })).toHaveLength(1);
    expect(await store.lastProcessed('other_table')).toBeUndefined();
  });

  it('stores feedback on a result; an unknown id is a clear error', async () => {
    const store = await createResultStore(db, { tables: { results: 'res_b', feedback: 'fb_b' } });
    await store.recordCycle({ dataTimestamp: new Date('2026-01-02T00:00:00Z'), status: 'ok' });
    const [result] = await store.recent({ limit: 1 });
    const fb = await store.addFeedback(String(result!.id), {
      decision: 'modified',
      operator: 'alice',
      reason: 'coal mill limit',
      values: { Kiln_Coal_PV: 9.1 },
    });
    expect(fb).toMatchObject({ resultId: result!.id, decision: 'modified', values: { Kiln_Coal_PV: 9.1 } });
    expect((await store.get(result!.id))?.feedback).toHaveLength(1);
    expect(await store.get(987654)).toBeUndefined();
    await expect(store.addFeedback(987654, { decision: 'accepted' })).rejects.toThrow(
      /\[po\/db\] No result with id 987654/,
    );
    await expect(store.addFeedback(result!.id, { decision: 'maybe' as 'accepted' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('audits feedback in the same transaction, and deploys; recent results carry their newest feedback', async () => {
    const store = await createResultStore(db, {
      tables: { results: 'res_audit', feedback: 'fb_audit', audit: 'audit_a' },
    });
    await store.recordCycle({
      dataTimestamp: new Date('2026-01-03T00:00:00Z'),
      status: 'ok',
      decisionVariables: { Kiln_Coal_PV: { current: 9, recommended: 9.05, at_bound: 'upper' } },
      explanation: { constraints: {} },
    });
    const [result] = await store.recent({ limit: 1 });
    expect(result).toMatchObject({
      decisionVariables: { Kiln_Coal_PV: { at_bound: 'upper' } },
      explanation: { constraints: {} },
      lastFeedback: null,
    });
    await store.addFeedback(
      result!.id,
      { decision: 'rejected', operator: 'ana', reason: 'mill' },
      { actor: 'ana', role: 'operator' },
    );
    await expect(
      store.addFeedback(987654, { decision: 'accepted' }, { actor: 'ana', role: 'operator' }),
    ).rejects.toMatchObject({ code: 'UNKNOWN_RESULT' });
    await store.audit({
      actor: 'eng',
      role: 'engineer',
      action: 'deploy',
      target: 'strategy 1.1.0',
      detail: { from: '1.0.0' },
    });
    await expect(store.audit({ actor: '', role: 'engineer', action: 'deploy', target: 'x' })).rejects.toThrow(
      /non-empty actor/,
    );
    const log = await store.auditLog(10);
    expect(log.map((e) => [e.actor, e.action, e.target])).toEqual([
      ['eng', 'deploy', 'strategy 1.1.0'],
      ['ana', 'feedback', `result ${result!.id}`],
    ]);
    expect(log[1]!.detail).toMatchObject({ decision: 'rejected', reason: 'mill' });
    const [again] = await store.recent({ limit: 1, until: new Date('2026-01-03T00:00:00Z') });
    expect(again!.lastFeedback).toEqual({ decision: 'rejected', operator: 'ana', reason: 'mill' });
    expect(await store.recent({ until: new Date('2026-01-02T00:00:00Z') })).toEqual([]);
  });

  it('reads plant history as column arrays, the newest rows when there are more than the limit', async () => {
    const source = createProcessDataSource(db, { table: 'plant_hist' });
    await source.createProcessDataTable(['a', 'b']);
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    await source.insertRows(
      [0, 1, 2, 3].map((i) => ({ timestamp: new Date(t0 + i * 60_000), a: i, b: i === 2 ? null : 10 * i })),
    );
    const all = await source.history(['a', 'b'], { since: new Date(t0) });
    expect(all).toEqual({
      times: [0, 1, 2, 3].map((i) => t0 + i * 60_000),
      values: { a: [0, 1, 2, 3], b: [0, 10, null, 30] },
    });
    const newest = await source.history(['a'], {
      since: new Date(t0),
      until: new Date(t0 + 2 * 60_000),
      limit: 2,
    });
    expect(newest.values.a).toEqual([1, 2]);
    await expect(source.history(['nope'], { since: new Date(t0) })).rejects.toMatchObject({
      code: 'MISSING_COLUMNS',
    });
  });

  it("reads only its own unit's history from a table shared by units (the filter)", async () => {
    await db.query(
      'CREATE TABLE plant_shared ("timestamp" timestamptz NOT NULL, kiln text NOT NULL, a double precision)',
    );
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    await db.query(
      `INSERT INTO plant_shared VALUES ($1, 'K1', 1), ($1, 'K2', 2), ($2, 'K1', 3), ($2, 'K2', 4)`,
      [new Date(t0), new Date(t0 + 60_000)],
    );
    const k2 = createProcessDataSource(db, { table: 'plant_shared', filter: { kiln: 'K2' } });
    expect(await k2.history(['a'], { since: new Date(t0) })).toEqual({
      times: [t0, t0 + 60_000],
      values: { a: [2, 4] },
    });
    const newest = await k2.history(['a'], { since: new Date(t0), until: new Date(t0 + 60_000), limit: 1 });
    expect(newest.values.a).toEqual([4]);
  });

  it('reads the newest row after a timestamp and counts the skipped ones', async () => {
    const source = createProcessDataSource(db, { table: 'plant_rows' });
    await expect(source.next(undefined)).rejects.toMatchObject({ code: 'MISSING_TABLE' });
    await source.createProcessDataTable(['a', 'b']);
    expect(await source.next(undefined)).toBeUndefined();
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const rows = [0, 1, 2, 3].map((i) => ({ timestamp: new Date(t0 + i * 60_000), a: i, b: 10 * i }));
    expect(await source.insertRows(rows)).toBe(4);
    expect(await source.insertRows(rows.slice(0, 1))).toBe(0);
    const newest = await source.next(undefined, ['a', 'b']);
    expect(newest).toEqual({
      timestamp: new Date(t0 + 180_000),
      time: '2026-01-01T00:03:00.000000Z',
      values: { a: 3, b: 30 },
      skippedRows: 3,
    });
    const afterSecond = await source.next(new Date(t0 + 60_000));
    expect(afterSecond?.skippedRows).toBe(1);
    expect(await source.next(new Date(t0 + 180_000))).toBeUndefined();
    await expect(source.next(undefined, ['a', 'Kiln_Coal_PV', 'c'])).rejects.toThrow(MissingColumnsError);
    await expect(source.next(undefined, ['a', 'Kiln_Coal_PV'])).rejects.toThrow(
      /Table "plant_rows" lacks column the strategy reads: Kiln_Coal_PV/,
    );
    await source.createProcessDataTable(['a', 'b', 'Kiln_Coal_PV']);
    expect((await source.next(undefined, ['Kiln_Coal_PV']))?.values).toEqual({ Kiln_Coal_PV: null });
    // A column dropped while running: the named error, not a generic query failure.
    await db.query('ALTER TABLE plant_rows DROP COLUMN b');
    const dropped = await source.next(undefined, ['a', 'b']).catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(MissingColumnsError);
    expect(dropped).toMatchObject({ code: 'MISSING_COLUMNS', table: 'plant_rows', columns: ['b'] });
  });

  it('keeps timestamps to the microsecond: two rows within one millisecond are both seen, results join their rows exactly', async () => {
    await db.query('CREATE TABLE micro ("timestamp" timestamptz PRIMARY KEY, a double precision)');
    const source = createProcessDataSource(db, { table: 'micro' });
    await source.insertRows([{ timestamp: '2026-01-01T00:00:00.123456Z', a: 1 }]);
    const first = await source.next(undefined);
    expect(first).toMatchObject({ time: '2026-01-01T00:00:00.123456Z', values: { a: 1 } });
    expect(first?.timestamp.toISOString()).toBe('2026-01-01T00:00:00.123Z');
    expect(await source.next(first!.time)).toBeUndefined();
    // A second row in the same millisecond, 1 µs later (given with a zone offset): new, and seen.
    await source.insertRows([{ timestamp: '2026-01-01T01:00:00.123457+01:00', a: 2 }]);
    const second = await source.next(first!.time);
    expect(second).toMatchObject({ time: '2026-01-01T00:00:00.123457Z', values: { a: 2 }, skippedRows: 0 });

    const store = await createResultStore(db, { tables: { results: 'res_micro' }, dataTable: 'micro' });
    for (const row of [first!, second!])
      await store.recordCycle({ dataTimestamp: row.timestamp, dataTime: row.time, status: 'ok' });
    expect(await store.lastProcessedTime()).toBe('2026-01-01T00:00:00.123457Z');
    const joined = await db.query<{ a: number }>(
      'SELECT p.a FROM res_micro r JOIN micro p ON r.data_timestamp = p."timestamp" ORDER BY p.a',
    );
    expect(joined.rows.map((r) => r.a)).toEqual([1, 2]);
    expect((await store.recent()).map((r) => r.dataTime)).toEqual([
      '2026-01-01T00:00:00.123457Z',
      '2026-01-01T00:00:00.123456Z',
    ]);
    await expect(source.insertRows([{ timestamp: '0x10', a: 3 }])).rejects.toThrow(
      /Row timestamp '0x10' is not an ISO 8601 timestamp/,
    );

    // What the fleet schedules and runs: each row's exact time, and the row at exactly that time.
    expect(await source.timestampsAfter(undefined)).toEqual([
      '2026-01-01T00:00:00.123456Z',
      '2026-01-01T00:00:00.123457Z',
    ]);
    expect(await source.timestampsAfter(first!.time)).toEqual(['2026-01-01T00:00:00.123457Z']);
    expect(await source.timestampsAfter(second!.time)).toEqual([]);
    expect(await source.timestampsAfter(new Date('2026-01-01T00:00:00.123Z'), 1)).toEqual([
      '2026-01-01T00:00:00.123456Z',
    ]);
    expect((await source.at(second!.time))?.values).toEqual({ a: 2 });
    expect((await source.at('2026-01-01T00:00:00.123456Z', ['a']))?.values).toEqual({ a: 1 });
    expect(await source.at('2026-01-01T00:00:00.123458Z')).toBeUndefined();
    expect(await source.at(new Date('2026-01-01T00:00:00.123Z'))).toBeUndefined();
    await expect(source.timestampsAfter('yesterday')).rejects.toThrow(
      /The scheduling cursor 'yesterday' is not an ISO 8601 timestamp/,
    );
  });
});
