import { createHash } from 'node:crypto';
import type { Logger } from '@po/core';
import { createProcessDataSource, type Database, type ExactTime, exactTimeSql, type Queryable } from '@po/db';
import type { Db as BossDb, JobInsert, PgBoss } from 'pg-boss';
import { FleetError } from './errors.ts';
import { UNITS_TABLE } from './registry.ts';
import { parseUnit } from './units.ts';

/** Rows one cycle job runs at most (a unit's backlog drains this many per delivery). */
export const ROWS_PER_JOB = 10;

/** What one cycle job carries: the unit and the timestamps of the rows it runs on. */
export interface CycleJob {
  unit: string;
  /**
   * The plant rows' timestamps exactly (ISO 8601 UTC, microseconds: `ExactTime`), oldest first:
   * one to `ROWS_PER_JOB` rows that arrived together, each a cycle of its own.
   */
  times: ExactTime[];
}

/** pg-boss runs its statements through our open transaction. */
export function bossDb(tx: Queryable): BossDb {
  return {
    executeSql: async (text, values) => {
      const r = await tx.query(text, values);
      return { rows: r.rows, rowCount: r.rowCount } as { rows: unknown[] };
    },
  };
}

/** Our SQL through pg-boss's transaction (the handler's `db`). */
export function queryableOf(db: BossDb): Queryable {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]) {
      const r = (await db.executeSql(sql, params as unknown[] | undefined)) as {
        rows: Row[];
        rowCount?: number | null;
      };
      return { rows: r.rows, rowCount: r.rowCount ?? r.rows.length };
    },
  };
}

/**
 * The job id of (queue, unit, data timestamp): a name-based UUID, so that pg-boss's primary
 * key refuses a second job for the same cycle even if two schedulers raced past their cursors.
 * It leads with the data timestamp (milliseconds, then the microseconds within: the layout of a
 * UUIDv7, version 8 as it is not random): the cycle queue hands out a unit's jobs in creation
 * order, and jobs queued in one pass share their creation time, so the id puts them in data-time
 * order. The rest is a hash of queue, unit and time.
 */
export function cycleJobId(queue: string, unit: string, at: string): string {
  const ms = Date.parse(at);
  const micros = /\.\d{3}(\d{3})Z$/.exec(at)?.[1] ?? '000';
  if (!Number.isFinite(ms) || ms < 0 || ms >= 2 ** 48)
    throw new FleetError(
      'INVALID_TIME',
      `Cycle of unit '${unit}' at '${at}': not a time a job can be keyed by.`,
    );
  const time = ms.toString(16).padStart(12, '0');
  const h = createHash('sha1').update(`${queue}\u0000${unit}\u0000${at}`).digest('hex');
  const variant = ((Number.parseInt(h.slice(0, 1), 16) & 0x3) | 0x8).toString(16);
  const sub = Number(micros).toString(16).padStart(3, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-8${sub}-${variant}${h.slice(1, 4)}-${h.slice(4, 16)}`;
}

export interface ScheduleOptions {
  db: Database;
  boss: PgBoss;
  queue: string;
  /** Data older than this is not queued when a unit starts with no cursor (it would be dropped late). */
  maxLateS: number;
  logger: Logger;
  /** Most units handled per pass. Default 500. */
  batch?: number;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * One scheduling pass, safe to run on every worker at once: the units due for a look
 * (`next_check_at`) are locked (`FOR UPDATE SKIP LOCKED`, so each is handled by one worker),
 * the new rows are queued, up to `ROWS_PER_JOB` per job (keyed by unit and its first row's data
 * timestamp), and the unit's cursor
 * moves to the newest row queued, in the same transaction as the jobs. Returns the jobs queued.
 */
export async function scheduleDue(options: ScheduleOptions): Promise<number> {
  const { db, boss, queue } = options;
  return db.transaction(async (tx) => {
    // The cursor read exactly (microseconds), so a row 1 µs after it is still new.
    const due = await tx.query<{ id: string; definition: unknown; scheduled_through: ExactTime | null }>(
      `SELECT id, definition, ${exactTimeSql('scheduled_through')} AS scheduled_through FROM ${UNITS_TABLE}
       WHERE next_check_at <= now() ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [options.batch ?? 500],
    );
    let queued = 0;
    const view: Database = { ...db, query: (sql, params) => tx.query(sql, params) };
    for (const row of due.rows) {
      let unit: ReturnType<typeof parseUnit>;
      try {
        unit = parseUnit(row.definition, `${UNITS_TABLE} row '${row.id}'`);
      } catch (e) {
        options.logger.error({ unit: row.id, err: e }, '[po/fleet] unit definition invalid; not scheduled');
        await tx.query(
          `UPDATE ${UNITS_TABLE} SET next_check_at = now() + interval '60 seconds' WHERE id = $1`,
          [row.id],
        );
        continue;
      }
      const source = createProcessDataSource(view, {
        table: unit.data.table,
        timestampColumn: unit.data.timestamp_column,
        ...(unit.data.filter ? { filter: unit.data.filter } : {}),
      });
      const after = row.scheduled_through ?? new Date(Date.now() - options.maxLateS * 1000);
      const times = await source.timestampsAfter(after, 1000);
      if (times.length > 0) {
        const jobs: JobInsert<CycleJob>[] = chunks(times, ROWS_PER_JOB).map((rows) => ({
          id: cycleJobId(queue, unit.id, rows[0]!),
          data: { unit: unit.id, times: rows },
          // The queue delivers a unit's jobs one at a time, oldest first (policy key_strict_fifo).
          singletonKey: unit.id,
        }));
        await boss.insert(queue, jobs, { db: bossDb(tx) });
        queued += jobs.length;
      }
      await tx.query(
        `UPDATE ${UNITS_TABLE} SET scheduled_through = COALESCE($2::timestamptz, scheduled_through),
           next_check_at = now() + make_interval(secs => $3) WHERE id = $1`,
        [unit.id, times.at(-1) ?? null, unit.interval_s],
      );
    }
    return queued;
  });
}
