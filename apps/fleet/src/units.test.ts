import { createResultStore, type Database, openDatabase } from '@po/db';
import { openPostgresSchema } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUnitRegistry, ensureFleetTables, parseUnitsFile, unitStates } from './index.ts';

describe('units file', () => {
  it('reads units with their defaults', () => {
    const [unit] = parseUnitsFile('units:\n  - id: kiln-1\n    data: { table: plant }\n', 'units.yaml');
    expect(unit).toEqual({
      id: 'kiln-1',
      name: 'kiln-1',
      data: { table: 'plant', timestamp_column: 'timestamp' },
      interval_s: 60,
    });
  });

  it('names a duplicate id with both positions', () => {
    const text = 'units:\n  - { id: a, data: { table: t } }\n  - { id: a, data: { table: u } }\n';
    expect(() => parseUnitsFile(text, 'config/units.yaml')).toThrow(
      "config/units.yaml: units[1] has the id 'a' of units[0]",
    );
  });

  it('names every bad field by file, position and key', () => {
    const text = 'units:\n  - { id: a, data: { table: "x;y" }, interval_s: -1, colour: red }\n';
    let error: unknown;
    try {
      parseUnitsFile(text, 'units.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'INVALID_UNITS', scope: 'fleet' });
    const message = (error as Error).message;
    expect(message).toContain('units.yaml: units[0].data.table: must be a SQL identifier');
    expect(message).toContain('units.yaml: units[0].interval_s');
    expect(message).toContain('colour');
  });

  it('refuses a file that is not a units list', () => {
    expect(() => parseUnitsFile('- a\n- b\n', 'u.yaml')).toThrow(
      /u.yaml: expected a mapping with a 'units' list/,
    );
    expect(() => parseUnitsFile('units: [', 'u.yaml')).toThrow(/u.yaml is not YAML/);
  });
});

describe('units in PostgreSQL', () => {
  let db: Database;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await openPostgresSchema(openDatabase, { prefix: 'po_fleet_units' }));
    await db.query(`CREATE TABLE plant ("timestamp" timestamptz, kiln text, feed double precision)`);
    await ensureFleetTables(db);
  });
  afterAll(() => cleanup?.());

  it('refuses an unknown table or column, naming the unit', async () => {
    const units = createUnitRegistry(db);
    const unit = {
      id: 'k1',
      name: 'k1',
      interval_s: 1,
      data: { table: 'plant', timestamp_column: 'timestamp' },
    };
    await expect(units.put([{ ...unit, data: { ...unit.data, table: 'nope' } }])).rejects.toMatchObject({
      code: 'UNKNOWN_TABLE',
      message: expect.stringContaining("Unit 'k1': the data table 'nope' does not exist"),
    });
    await expect(
      units.put([{ ...unit, data: { ...unit.data, timestamp_column: 'ts' } }]),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_COLUMN',
      message: expect.stringContaining("data.timestamp_column names the column 'ts'"),
    });
    await expect(
      units.put([{ ...unit, data: { ...unit.data, filter: { line: 'a' } } }]),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_COLUMN',
      message: expect.stringContaining("data.filter names the column 'line'"),
    });
    await expect(units.remove('k9')).rejects.toMatchObject({ code: 'UNKNOWN_UNIT' });
    expect(await units.list()).toEqual([]);
  });

  it('keeps one result per unit and data timestamp; two units may share a timestamp', async () => {
    const units = createUnitRegistry(db);
    const k = (id: string) => ({
      id,
      name: id,
      interval_s: 1,
      data: { table: 'plant', timestamp_column: 'timestamp', filter: { kiln: id } },
    });
    await units.put([k('k1'), k('k2')]);
    const results = await createResultStore(db);
    const at = new Date('2026-01-01T00:00:00.000Z');
    const record = { dataTimestamp: at, dataTable: 'plant', status: 'ok' as const };
    expect(await results.recordCycle({ ...record, unit: 'k1' })).toBe(true);
    expect(await results.recordCycle({ ...record, unit: 'k1' })).toBe(false);
    expect(await results.recordCycle({ ...record, unit: 'k2' })).toBe(true);
    expect(await results.recordCycle({ ...record, status: 'failed', unit: 'k2' })).toBe(false);
    const states = await unitStates(db, 'optimization_results');
    expect(states.map((s) => [s.id, s.cycles.ok, s.lastCycle?.status])).toEqual([
      ['k1', 1, 'ok'],
      ['k2', 1, 'ok'],
    ]);
    expect((await results.recent({ unit: 'k2' })).map((r) => r.unit)).toEqual(['k2']);
  });
});
