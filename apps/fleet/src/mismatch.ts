import type { Logger } from '@po/core';
import { type Database, type ExactTime, exactTimeSql, type Queryable, quoteIdent } from '@po/db';
import type { MismatchSnapshot, ModelMismatchHealth } from '@po/runner';
import { MismatchTracker } from '@po/runner';
import { FleetError } from './errors.ts';

/** The table of each unit's model-plant mismatch tracker (migration `007_fleet_unit_mismatch` of @po/db). */
export const UNIT_MISMATCH_TABLE = 'po_unit_mismatch';

/** Refuses to start when the tracker table is missing (the result store was opened without migrations). */
export async function checkMismatchTable(db: Database, table: string): Promise<void> {
  const r = await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
    `${quoteIdent(db.schema, 'schema')}.${quoteIdent(table, 'unit mismatch table')}`,
  ]);
  if (!r.rows[0]?.t)
    throw new FleetError(
      'NOT_MIGRATED',
      `The table '${table}' (each unit's model-plant mismatch tracker) does not exist in schema "${db.schema}" of ${db.target}: run po's migrations (open the result store with migrations, as po start does).`,
    );
}

/** Where a job's cycles stand, before they run. */
export interface CycleStanding {
  /** Those recorded or dropped already (a job sent again), in the exact form. */
  done: Set<ExactTime>;
  /** The unit's tracker after its newest cycle before `before` (none: the unit starts one). */
  tracker: MismatchSnapshot | undefined;
}

/**
 * Which of the unit's cycles at `times` are recorded or dropped, and the tracker state after its
 * newest cycle before `before`: one round trip. The queue hands a unit's jobs out one at a time in
 * data-time order, so that state is the one its previous cycle stored.
 */
export async function cycleStanding(
  tx: Queryable,
  tables: { results: string; dropped: string; mismatch: string },
  unit: string,
  times: readonly ExactTime[],
  before: ExactTime,
): Promise<CycleStanding> {
  const r = await tx.query<{ done: ExactTime[] | null; tracker: unknown }>(
    `SELECT ARRAY(SELECT ${exactTimeSql('data_timestamp')} FROM ${tables.results}
           WHERE unit = $1 AND data_timestamp = ANY($2::timestamptz[])
         UNION SELECT ${exactTimeSql('data_timestamp')} FROM ${tables.dropped}
           WHERE unit = $1 AND data_timestamp = ANY($2::timestamptz[])) AS done,
       (SELECT tracker FROM ${quoteIdent(tables.mismatch, 'unit mismatch table')}
         WHERE unit = $1 AND data_timestamp < $3::timestamptz ORDER BY data_timestamp DESC LIMIT 1) AS tracker`,
    [unit, times, before],
  );
  const row = r.rows[0]!;
  return {
    done: new Set(row.done ?? []),
    tracker: row.tracker == null ? undefined : (revive(row.tracker) as MismatchSnapshot),
  };
}

/** Stores the tracker after the unit's cycle at `at`, in that cycle's transaction (once: a retry adds nothing). */
export async function saveTracker(
  tx: Queryable,
  table: string,
  unit: string,
  at: ExactTime,
  tracker: MismatchTracker,
): Promise<void> {
  const snapshot = tracker.snapshot();
  if (!snapshot) return;
  const health = tracker.health();
  await tx.query(
    `INSERT INTO ${quoteIdent(table, 'unit mismatch table')}
       (unit, data_timestamp, strategy_version, tracker, models, forced_monitor)
     VALUES ($1, $2::timestamptz, $3, $4::jsonb, $5::jsonb, $6) ON CONFLICT (unit, data_timestamp) DO NOTHING`,
    [
      unit,
      at,
      snapshot.version,
      JSON.stringify(snapshot, tag),
      JSON.stringify(health.models),
      health.forcedMonitor,
    ],
  );
}

/**
 * Deletes the states no cycle can start from any more: per unit, those older than its newest
 * state whose data is past the late limit (a job older than that is dropped, not run). Returns
 * how many went.
 */
export async function pruneTrackers(db: Database, table: string, maxLateS: number): Promise<number> {
  const t = quoteIdent(table, 'unit mismatch table');
  const r = await db.query(
    `DELETE FROM ${t} s USING (SELECT unit, max(data_timestamp) AS keep FROM ${t}
       WHERE data_timestamp < now() - make_interval(secs => $1) GROUP BY unit) k
     WHERE s.unit = k.unit AND s.data_timestamp < k.keep`,
    [maxLateS],
  );
  return r.rowCount;
}

/** A tracker continuing from the stored state (a new one when there is none). */
export function trackerOf(snapshot: MismatchSnapshot | undefined, logger: Logger): MismatchTracker {
  return snapshot ? MismatchTracker.restore(logger, snapshot) : new MismatchTracker(logger);
}

/** Each unit's model-plant mismatch after its newest cycle (any worker's work). */
export interface UnitMismatch extends ModelMismatchHealth {
  /** The strategy version the tracker follows. */
  strategyVersion: string | null;
  /** The data timestamp of that cycle. */
  through: Date;
}

/** The mismatch of every unit that has a tracker (or of those named), after its newest cycle. */
export async function unitMismatch(
  db: Database,
  ids?: readonly string[],
  table: string = UNIT_MISMATCH_TABLE,
): Promise<Map<string, UnitMismatch>> {
  const t = quoteIdent(table, 'unit mismatch table');
  const r = await db.query<{
    unit: string;
    strategy_version: string | null;
    data_timestamp: Date;
    models: ModelMismatchHealth['models'];
    forced_monitor: string | null;
  }>(
    `SELECT DISTINCT ON (unit) unit, strategy_version, data_timestamp, models, forced_monitor FROM ${t}
     ${ids ? 'WHERE unit = ANY($1)' : ''} ORDER BY unit, data_timestamp DESC`,
    ids ? [ids] : [],
  );
  return new Map(
    r.rows.map((row) => [
      row.unit,
      {
        strategyVersion: row.strategy_version,
        through: row.data_timestamp,
        models: row.models,
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
