import { type Database, quoteIdent } from '@po/db';
import { FleetError } from './errors.ts';
import { UNIT_MISMATCH_TABLE, type UnitMismatch } from './mismatch.ts';
import { parseUnit, type Unit } from './units.ts';

/** The fleet's own tables, next to po's results (same schema). */
export const UNITS_TABLE = 'po_units';
export const DROPPED_TABLE = 'po_unit_dropped';

/** Creates the fleet's tables when missing (idempotent, serialized by an advisory lock). */
export async function ensureFleetTables(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('po/fleet tables'))");
    await tx.query(`CREATE TABLE IF NOT EXISTS ${UNITS_TABLE} (
      id text PRIMARY KEY,
      definition jsonb NOT NULL,
      scheduled_through timestamptz,
      next_check_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${DROPPED_TABLE} (
      unit text NOT NULL,
      data_timestamp timestamptz NOT NULL,
      age_s double precision NOT NULL,
      dropped_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (unit, data_timestamp)
    )`);
  });
}

/**
 * Checks a unit's data source against the database: the table exists in the schema, and so
 * do its timestamp column and filter columns. A FleetError names the unit, table and column.
 */
export async function checkUnitSource(db: Database, unit: Unit): Promise<void> {
  const { table, timestamp_column, filter } = unit.data;
  const r = await db.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1`,
    [table],
  );
  if (r.rows.length === 0)
    throw new FleetError(
      'UNKNOWN_TABLE',
      `Unit '${unit.id}': the data table '${table}' does not exist in schema "${db.schema}" of ${db.target}.`,
    );
  const columns = new Set(r.rows.map((c) => c.column_name));
  for (const [role, column] of [
    ['timestamp_column', timestamp_column],
    ...Object.keys(filter ?? {}).map((c) => ['filter', c]),
  ] as const) {
    if (!columns.has(column))
      throw new FleetError(
        'UNKNOWN_COLUMN',
        `Unit '${unit.id}': data.${role} names the column '${column}', which the table '${table}' does not have.`,
      );
  }
}

/** Units in the database, as `po units` and the workers see them. */
export interface UnitRegistry {
  /** Every unit, by id. */
  list(): Promise<Unit[]>;
  get(id: string): Promise<Unit | undefined>;
  /** Adds or replaces units after checking each one's data source; their schedule cursor is kept. */
  put(units: readonly Unit[]): Promise<void>;
  /** Removes a unit (its results stay); UNKNOWN_UNIT when there is none. */
  remove(id: string): Promise<void>;
}

export function createUnitRegistry(db: Database): UnitRegistry {
  const toUnit = (row: { id: string; definition: unknown }) =>
    parseUnit(row.definition, `${UNITS_TABLE} row '${row.id}'`);
  return {
    async list() {
      const r = await db.query<{ id: string; definition: unknown }>(
        `SELECT id, definition FROM ${UNITS_TABLE} ORDER BY id`,
      );
      return r.rows.map(toUnit);
    },
    async get(id) {
      const r = await db.query<{ id: string; definition: unknown }>(
        `SELECT id, definition FROM ${UNITS_TABLE} WHERE id = $1`,
        [id],
      );
      return r.rows[0] && toUnit(r.rows[0]);
    },
    async put(units) {
      for (const unit of units) await checkUnitSource(db, unit);
      await db.transaction(async (tx) => {
        for (const unit of units)
          await tx.query(
            `INSERT INTO ${UNITS_TABLE} (id, definition) VALUES ($1, $2::jsonb)
             ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition, updated_at = now()`,
            [unit.id, JSON.stringify(unit)],
          );
      });
    },
    async remove(id) {
      const r = await db.query(`DELETE FROM ${UNITS_TABLE} WHERE id = $1`, [id]);
      if (r.rowCount === 0)
        throw new FleetError('UNKNOWN_UNIT', `No unit '${id}' in ${UNITS_TABLE} (po units list shows them).`);
    },
  };
}

/** A unit's progress and health, read from the database (any worker's work counts). */
export interface UnitState {
  id: string;
  name: string;
  dataTable: string;
  intervalS: number;
  /** The newest data timestamp queued for a cycle. */
  scheduledThrough: Date | null;
  lastCycle: {
    dataTimestamp: Date;
    status: string;
    reason: string | null;
    strategyVersion: string | null;
    durationMs: number | null;
    recordedAt: Date;
  } | null;
  /** Seconds between the newest data queued and the newest data run (0 when caught up). */
  lagS: number | null;
  cycles: { ok: number; skipped: number; failed: number };
  /** Failed cycles since the last ok one. */
  consecutiveFailures: number;
  /** Jobs dropped because their data was older than the late limit. */
  droppedLate: number;
  /**
   * Model-plant mismatch of the unit's models (the tracker in the database, whichever worker ran
   * the cycles): each monitored model's status, and why a bad critical model forces monitor mode
   * (null when it does not). Null while the unit's strategy has no monitored model or no cycle ran.
   */
  mismatch: UnitMismatch | null;
}

/** The state of each unit (all units, or those named). */
export async function unitStates(
  db: Database,
  resultsTable: string,
  ids?: readonly string[],
  mismatchTable: string = UNIT_MISMATCH_TABLE,
): Promise<UnitState[]> {
  const results = quoteIdent(resultsTable, 'results table');
  const mismatch = quoteIdent(mismatchTable, 'unit mismatch table');
  // Before migration 007 (no fleet worker of this version has started yet) there is no tracker.
  const tracked = await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [mismatch]);
  const r = await db.query<Record<string, unknown>>(
    `SELECT u.id, u.definition, u.scheduled_through,
       ${
         tracked.rows[0]?.t
           ? `(SELECT row_to_json(m) FROM (SELECT strategy_version, data_timestamp AS through, models, forced_monitor
          FROM ${mismatch} WHERE unit = u.id ORDER BY data_timestamp DESC LIMIT 1) m)`
           : 'NULL'
       } AS mismatch,
       (SELECT row_to_json(l) FROM (SELECT data_timestamp, status, reason, strategy_version, duration_ms, created_at
          FROM ${results} WHERE unit = u.id ORDER BY data_timestamp DESC LIMIT 1) l) AS last,
       (SELECT json_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM ${results}
          WHERE unit = u.id GROUP BY status) c) AS counts,
       (SELECT count(*) FROM ${results} WHERE unit = u.id AND status = 'failed' AND data_timestamp >
          COALESCE((SELECT max(data_timestamp) FROM ${results} WHERE unit = u.id AND status = 'ok'), '-infinity')) AS failing,
       (SELECT count(*) FROM ${DROPPED_TABLE} d WHERE d.unit = u.id) AS dropped
     FROM ${UNITS_TABLE} u ${ids ? 'WHERE u.id = ANY($1)' : ''} ORDER BY u.id`,
    ids ? [ids] : [],
  );
  return r.rows.map(toState);
}

function toState(row: Record<string, unknown>): UnitState {
  const unit = parseUnit(row.definition, `${UNITS_TABLE} row '${String(row.id)}'`);
  const last = row.last as Record<string, unknown> | null;
  const counts = (row.counts ?? {}) as Record<string, unknown>;
  const scheduled = (row.scheduled_through as Date | null) ?? null;
  const lastAt = last ? new Date(String(last.data_timestamp)) : null;
  return {
    id: unit.id,
    name: unit.name,
    dataTable: unit.data.table,
    intervalS: unit.interval_s,
    scheduledThrough: scheduled,
    lastCycle:
      last && lastAt
        ? {
            dataTimestamp: lastAt,
            status: String(last.status),
            reason: (last.reason as string | null) ?? null,
            strategyVersion: (last.strategy_version as string | null) ?? null,
            durationMs: last.duration_ms === null ? null : Number(last.duration_ms),
            recordedAt: new Date(String(last.created_at)),
          }
        : null,
    lagS:
      scheduled && lastAt
        ? Math.max(0, (scheduled.getTime() - lastAt.getTime()) / 1000)
        : scheduled
          ? null
          : 0,
    cycles: {
      ok: Number(counts.ok ?? 0),
      skipped: Number(counts.skipped ?? 0),
      failed: Number(counts.failed ?? 0),
    },
    consecutiveFailures: Number(row.failing ?? 0),
    droppedLate: Number(row.dropped ?? 0),
    mismatch: mismatchOf(row.mismatch as Record<string, unknown> | null),
  };
}

function mismatchOf(row: Record<string, unknown> | null): UnitMismatch | null {
  if (!row) return null;
  return {
    models: (row.models ?? {}) as UnitMismatch['models'],
    forcedMonitor: (row.forced_monitor as string | null) ?? null,
    strategyVersion: (row.strategy_version as string | null) ?? null,
    through: new Date(String(row.through)),
  };
}
