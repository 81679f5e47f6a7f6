import type { Logger } from '@po/core';
import { type Database, type ExactTime, exactTimeSql, type Queryable, quoteIdent } from '@po/db';
import type { MismatchSnapshot, ModelMismatchHealth } from '@po/runner';
import { MismatchTracker } from '@po/runner';
import { FleetError } from './errors.ts';

/** The table of each unit's model-plant mismatch tracker (migration `007_fleet_unit_mismatch` of @po/db). */
export const UNIT_MISMATCH_TABLE = 'po_unit_mismatch';

/** A unit's tracker as the database holds it, locked by the transaction that read it. */
export interface LockedTracker {
  /** The newest data timestamp the tracker has taken in (null: none yet). */
  through: ExactTime | null;
  /** The job's data timestamp in the same exact form (comparable as text with `through`). */
  at: ExactTime;
  snapshot: MismatchSnapshot | null;
}

/** Refuses to start when the tracker table is missing (the result store was opened without migrations). */
export async function checkMismatchTable(db: Database, table: string): Promise<void> {
  const r = await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
    `${quoteIdent(db.schema, 'schema')}.${quoteIdent(table, 'unit mismatch table')}`,
  ]);
  if (!r.rows[0]?.t)
    throw new FleetError(
      'NOT_MIGRATED',
      `The table '${table}' (each unit's model-plant mismatch tracker) does not exist in schema "${db.schema}" of ${db.target}: run po's migrations (po db migrate, or open the result store with migrations).`,
    );
}

/**
 * Locks the unit's tracker row for the transaction (creating it empty), which serializes the
 * unit's cycles across workers, and reads it.
 */
export async function lockTracker(
  tx: Queryable,
  table: string,
  unit: string,
  at: ExactTime,
): Promise<LockedTracker> {
  const t = quoteIdent(table, 'unit mismatch table');
  await tx.query(`INSERT INTO ${t} (unit) VALUES ($1) ON CONFLICT (unit) DO NOTHING`, [unit]);
  const r = await tx.query<{ through: ExactTime | null; at: ExactTime; tracker: unknown }>(
    `SELECT ${exactTimeSql('through')} AS through, ${exactTimeSql('$2::timestamptz')} AS at, tracker
     FROM ${t} WHERE unit = $1 FOR UPDATE`,
    [unit, at],
  );
  const row = r.rows[0]!;
  return {
    through: row.through ?? null,
    at: row.at,
    snapshot: row.tracker ? (revive(row.tracker) as MismatchSnapshot) : null,
  };
}

/** Writes the tracker after the cycles of the transaction: it has taken in every row through `through`. */
export async function saveTracker(
  tx: Queryable,
  table: string,
  unit: string,
  through: ExactTime,
  tracker: MismatchTracker,
): Promise<void> {
  const t = quoteIdent(table, 'unit mismatch table');
  const snapshot = tracker.snapshot();
  const health = tracker.health();
  await tx.query(
    `UPDATE ${t} SET through = $2::timestamptz, strategy_version = $3, tracker = $4::jsonb,
       models = $5::jsonb, forced_monitor = $6, updated_at = now() WHERE unit = $1`,
    [
      unit,
      through,
      snapshot?.version ?? null,
      snapshot ? JSON.stringify(snapshot, tag) : null,
      JSON.stringify(health.models),
      health.forcedMonitor,
    ],
  );
}

/** A tracker continuing from the stored state (a new one when there is none). */
export function trackerOf(snapshot: MismatchSnapshot | null, logger: Logger): MismatchTracker {
  return snapshot ? MismatchTracker.restore(logger, snapshot) : new MismatchTracker(logger);
}

/** Each unit's model-plant mismatch as the database holds it (any worker's work), by unit. */
export interface UnitMismatch extends ModelMismatchHealth {
  /** The strategy version the tracker follows. */
  strategyVersion: string | null;
  /** The newest data timestamp the tracker has taken in. */
  through: Date | null;
}

/** The mismatch of every unit that has a tracker (or of those named). */
export async function unitMismatch(
  db: Database,
  ids?: readonly string[],
  table: string = UNIT_MISMATCH_TABLE,
): Promise<Map<string, UnitMismatch>> {
  const t = quoteIdent(table, 'unit mismatch table');
  const r = await db.query<{
    unit: string;
    strategy_version: string | null;
    through: Date | null;
    models: ModelMismatchHealth['models'] | null;
    forced_monitor: string | null;
  }>(
    `SELECT unit, strategy_version, through, models, forced_monitor FROM ${t}
     WHERE tracker IS NOT NULL ${ids ? 'AND unit = ANY($1)' : ''} ORDER BY unit`,
    ids ? [ids] : [],
  );
  return new Map(
    r.rows.map((row) => [
      row.unit,
      {
        strategyVersion: row.strategy_version,
        through: row.through,
        models: row.models ?? {},
        forcedMonitor: row.forced_monitor,
      },
    ]),
  );
}

// Plant states may hold non-finite readings, which JSON cannot: they are stored tagged.
const NON_FINITE = '$po_number';

function tag(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? { [NON_FINITE]: String(value) } : value;
}

function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0]![0] === NON_FINITE) return Number(entries[0]![1]);
  return Object.fromEntries(entries.map(([k, v]) => [k, revive(v)]));
}
