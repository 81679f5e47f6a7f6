import { DbError, MissingColumnsError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import type { Database } from './types.ts';

/**
 * A timestamp exactly as the database keeps it: ISO 8601 in UTC with microseconds,
 * `2026-03-01T06:00:00.123456Z` (a JS `Date` keeps milliseconds only).
 */
export type ExactTime = string;

/** Cast of a timestamptz to its `ExactTime` text (the same SQL on PostgreSQL and PGlite). */
export const exactTimeSql = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const EXACT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$/;

/** A timestamp parameter without loss: a Date as it is, an ISO text (microseconds kept) checked, else refused naming `what`. */
export function timeParameter(value: Date | string | number, what: string): Date | string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new DbError('INVALID_ARGUMENT', `${what} is an invalid date.`);
    return value;
  }
  if (typeof value === 'number') return timeParameter(new Date(value), what);
  if (typeof value === 'string' && EXACT_TIME.test(value) && !Number.isNaN(Date.parse(value))) return value;
  throw new DbError(
    'INVALID_ARGUMENT',
    `${what} '${String(value)}' is not an ISO 8601 timestamp with a zone (e.g. 2026-03-01T06:00:00.123456Z).`,
  );
}

/**
 * A timestamp in the one text form `exactTimeSql` produces (UTC, six fraction digits,
 * `2026-03-01T06:00:00.123456Z`), so that two texts of the same instant compare equal: a Date
 * (milliseconds, padded), or an ISO text with a zone and up to six fraction digits (digits
 * beyond the millisecond kept). Anything else is refused naming `what`.
 */
export function exactTime(value: Date | ExactTime, what = 'timestamp'): ExactTime {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new DbError('INVALID_ARGUMENT', `${what} is an invalid date.`);
    return value.toISOString().replace(/Z$/, '000Z');
  }
  const m = typeof value === 'string' ? EXACT_PARTS.exec(value) : null;
  const fraction = (m?.[2] ?? '').padEnd(6, '0');
  const ms = m ? Date.parse(`${m[1]}.${fraction.slice(0, 3)}${m[3]}`) : Number.NaN;
  if (Number.isNaN(ms))
    throw new DbError(
      'INVALID_ARGUMENT',
      `${what} '${String(value)}' is not an ISO 8601 timestamp with a zone (e.g. 2026-03-01T06:00:00.123456Z).`,
    );
  // A zone offset is whole minutes: the digits beyond the millisecond do not change with it.
  return new Date(ms).toISOString().replace(/Z$/, `${fraction.slice(3)}Z`);
}
const EXACT_PARTS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})$/;

/** One plant row: its timestamp and a value per column. */
export interface PlantRow {
  /** The row's timestamp, to the millisecond (for display; `time` is exact). */
  timestamp: Date;
  /** The row's timestamp exactly as stored (microseconds): its identity. */
  time: ExactTime;
  /** Column -> value (numbers; `numeric` columns arrive as strings; NULL as null). */
  values: Record<string, unknown>;
  /** Rows newer than `after` other than this one: they arrived since the last cycle and are not run. */
  skippedRows: number;
}

export interface ProcessDataSourceOptions {
  /** The table in the predecessor's wide format (one row per time, one column per variable). Default `process_data` (`PO_DATA_TABLE`). */
  table?: string;
  /** The time column. Default `timestamp`. */
  timestampColumn?: string;
  /**
   * Only rows whose columns equal these values (a table holding several units' data, e.g.
   * `{ kiln_id: 'K2' }`). Each column must exist (else `MissingColumnsError`).
   */
  filter?: Readonly<Record<string, string | number | boolean>>;
}

/** A closed time window of plant data. */
export interface TimeWindow {
  from: Date;
  to: Date;
}

/** A plant row to insert: a timestamp and numbers by column. */
export type ProcessDataInput = { timestamp: Date | string | number } & Record<string, unknown>;

/** Reads plant data from a wide table, as the predecessor did (the newest row). */
export interface ProcessDataSource {
  readonly table: string;
  /**
   * The newest row strictly after `after` (all rows when undefined), or undefined when there is
   * none (idle, not an error). Like the predecessor, it takes the newest: when several rows
   * arrived since `after`, the older ones are not run and `skippedRows` says how many.
   * With `columns`, only those are read, and a table lacking any of them is a
   * `MissingColumnsError` naming them.
   */
  next(after: Date | ExactTime | undefined, columns?: readonly string[]): Promise<PlantRow | undefined>;
  /**
   * Rows of a time window in time order (`from` and `to` included), for replays: at most
   * `limit` rows (default 1000) strictly after `after` when given. `columns` as in `next`.
   */
  between(
    window: TimeWindow,
    columns: readonly string[],
    page?: { after?: Date | ExactTime; limit?: number },
  ): Promise<PlantRow[]>;
  /** How many rows a time window holds (`from` and `to` included). */
  countBetween(window: TimeWindow): Promise<number>;
  /**
   * Rows of `columns` with timestamps in [since, until], oldest first, as column arrays (for trends):
   * `times` in ms since the epoch, a value or null per row and column. At most `limit` rows
   * (default 20,000), the newest ones when there are more. A missing column is a `MissingColumnsError`.
   */
  history(
    columns: readonly string[],
    window: { since: Date; until?: Date; limit?: number },
  ): Promise<{ times: number[]; values: Record<string, (number | null)[]> }>;
  /**
   * The row taken at exactly `time` (an `ExactTime` to the microsecond, or a Date to the
   * millisecond), or undefined when there is none.
   */
  at(time: Date | ExactTime, columns?: readonly string[]): Promise<PlantRow | undefined>;
  /**
   * Timestamps of the rows strictly after `after`, exactly (microseconds), oldest first, at most
   * `limit` (default 1000): two rows within one millisecond are two timestamps.
   */
  timestampsAfter(after: Date | ExactTime | undefined, limit?: number): Promise<ExactTime[]>;
  /** The table's columns (without the time column). */
  columns(): Promise<string[]>;
  /** Creates the table (time column as primary key, double precision columns) or adds missing columns. */
  createProcessDataTable(columns: readonly string[]): Promise<void>;
  /** Inserts rows (an existing timestamp is left as it is); returns how many were new. */
  insertRows(rows: readonly ProcessDataInput[]): Promise<number>;
}

export function createProcessDataSource(
  db: Database,
  options: ProcessDataSourceOptions = {},
): ProcessDataSource {
  const table = options.table ?? 'process_data';
  const timeColumn = options.timestampColumn ?? 'timestamp';
  const t = quoteIdent(table, 'data table');
  const ts = quoteIdent(timeColumn, 'timestamp column');
  let known: Set<string> | undefined;
  const filter = Object.entries(options.filter ?? {});
  for (const [c] of filter) quoteIdent(c, 'filter column');
  /** `AND col = $n ...` for the filter, its parameters numbered after `offset`. */
  const where = (offset: number): [string, unknown[]] => [
    filter.map(([c], i) => ` AND ${quoteIdent(c)} = $${offset + i + 1}`).join(''),
    filter.map(([, v]) => v),
  ];
  const toDate = (time: unknown) => (time instanceof Date ? time : new Date(String(time)));

  async function readColumns(): Promise<Set<string>> {
    const r = await db.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = $1`,
      [table],
    );
    if (r.rows.length === 0) {
      throw new DbError(
        'MISSING_TABLE',
        `Table "${table}" does not exist in schema "${db.schema}" of ${db.target}: create it, or set PO_DATA_TABLE to the table holding the plant data.`,
      );
    }
    const set = new Set(r.rows.map((c) => c.column_name));
    if (!set.has(timeColumn)) {
      throw new MissingColumnsError(table, [timeColumn]);
    }
    return set;
  }

  async function checkColumns(requested: readonly string[]): Promise<void> {
    const columns = [...requested, ...filter.map(([c]) => c)];
    for (const c of columns) quoteIdent(c, 'column');
    if (known && columns.every((c) => known!.has(c))) return;
    known = await readColumns(); // re-read: the table may have gained columns
    const missing = columns.filter((c) => !known!.has(c));
    if (missing.length > 0) throw new MissingColumnsError(table, missing);
  }

  return {
    table,
    async next(after, columns) {
      await checkColumns(columns ?? []);
      const select = columns
        ? [ts, ...columns.filter((c) => c !== timeColumn).map((c) => quoteIdent(c))].join(', ')
        : '*';
      const [and, values] = where(after ? 1 : 0);
      // Compared at full precision: `after` is exact text (microseconds), so a row 1 µs later is new.
      const r = await db
        .query(
          `SELECT ${select}, ${exactTimeSql(ts)} AS po_time, count(*) OVER () AS po_new_rows FROM ${t}
         WHERE ${after ? `${ts} > $1::timestamptz` : 'true'}${and}
         ORDER BY ${ts} DESC LIMIT 1`,
          after ? [timeParameter(after, 'The last processed timestamp'), ...values] : values,
        )
        .catch(async (e: unknown) => {
          // A column dropped since it was checked: re-read the table, so the error names it.
          if (columns && isUndefinedColumn(e)) {
            known = undefined;
            await checkColumns(columns);
          }
          throw e;
        });
      const row = r.rows[0];
      if (!row) return undefined;
      const { [timeColumn]: _, po_time: time, po_new_rows: count, ...rest } = row;
      return {
        timestamp: new Date(String(time)),
        time: String(time),
        values: rest,
        skippedRows: Number(count) - 1,
      };
    },
    async between(window, columns, page = {}) {
      await checkColumns(columns);
      const select = [ts, ...columns.filter((c) => c !== timeColumn).map((c) => quoteIdent(c))].join(', ');
      const params: unknown[] = [window.from, window.to, Math.max(1, Math.min(page.limit ?? 1000, 100_000))];
      // Paged at full precision: `after` is exact text (microseconds), so no row of a page boundary is lost.
      if (page.after) params.push(timeParameter(page.after, 'The page start'));
      const r = await db.query(
        `SELECT ${select}, ${exactTimeSql(ts)} AS po_time FROM ${t} WHERE ${ts} >= $1 AND ${ts} <= $2
         ${page.after ? `AND ${ts} > $4::timestamptz` : ''}
         ORDER BY ${ts} LIMIT $3`,
        params,
      );
      return r.rows.map((row) => {
        const { [timeColumn]: _, po_time: time, ...values } = row;
        return { timestamp: new Date(String(time)), time: String(time), values, skippedRows: 0 };
      });
    },
    async countBetween(window) {
      known ??= await readColumns();
      const r = await db.query<{ n: string | number }>(
        `SELECT count(*) AS n FROM ${t} WHERE ${ts} >= $1 AND ${ts} <= $2`,
        [window.from, window.to],
      );
      return Number(r.rows[0]?.n ?? 0);
    },
    async history(columns, window) {
      await checkColumns(columns);
      const limit = Math.min(Math.max(Math.trunc(window.limit ?? 20_000), 1), 200_000);
      const cols = columns.filter((c) => c !== timeColumn);
      const params: unknown[] = [window.since];
      if (window.until) params.push(window.until);
      // A table shared by units: only this source's rows (its filter).
      const [and, filterValues] = where(params.length);
      params.push(...filterValues, limit);
      const r = await db.query(
        `SELECT * FROM (SELECT ${[ts, ...cols.map((c) => quoteIdent(c))].join(', ')} FROM ${t}
           WHERE ${ts} >= $1 ${window.until ? `AND ${ts} <= $2` : ''}${and}
           ORDER BY ${ts} DESC LIMIT $${params.length}) newest ORDER BY ${ts}`,
        params,
      );
      const times = r.rows.map((row) => new Date(row[timeColumn] as Date | string).getTime());
      const values = Object.fromEntries(
        cols.map((c) => [c, r.rows.map((row) => (row[c] === null ? null : Number(row[c])))]),
      );
      return { times, values };
    },
    async at(when, columns) {
      await checkColumns(columns ?? []);
      const select = columns
        ? [ts, ...columns.filter((c) => c !== timeColumn).map((c) => quoteIdent(c))].join(', ')
        : '*';
      const [and, values] = where(1);
      const r = await db.query(
        `SELECT ${select}, ${exactTimeSql(ts)} AS po_time FROM ${t}
         WHERE ${ts} = $1::timestamptz${and} LIMIT 1`,
        [timeParameter(when, 'The row time'), ...values],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      const { [timeColumn]: _, po_time: time, ...rest } = row;
      return { timestamp: toDate(time), time: String(time), values: rest, skippedRows: 0 };
    },
    async timestampsAfter(after, limit = 1000) {
      // No column check (a scheduler calls this often): a missing column fails the query itself.
      const [and, values] = where(after ? 2 : 1);
      // Compared and returned at full precision: a row 1 µs after `after` is new.
      const r = await db.query<{ t: string }>(
        `SELECT ${exactTimeSql(ts)} AS t FROM ${t}
         WHERE ${after ? `${ts} > $2::timestamptz` : 'true'}${and}
         ORDER BY ${ts} LIMIT $1`,
        after
          ? [Math.max(1, Math.trunc(limit)), timeParameter(after, 'The scheduling cursor'), ...values]
          : [Math.max(1, Math.trunc(limit)), ...values],
      );
      return r.rows.map((row) => String(row.t));
    },
    async columns() {
      known = await readColumns();
      return [...known].filter((c) => c !== timeColumn);
    },
    async createProcessDataTable(columns) {
      const cols = columns.filter((c) => c !== timeColumn).map((c) => quoteIdent(c, 'column'));
      await db.query(
        `CREATE TABLE IF NOT EXISTS ${t} (${[`${ts} timestamptz PRIMARY KEY`, ...cols.map((c) => `${c} double precision`)].join(', ')})`,
      );
      for (const c of cols) await db.query(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${c} double precision`);
      known = undefined;
    },
    insertRows: (rows) => insertRows(db, t, ts, rows),
  };
}

/** PostgreSQL's undefined_column (42703), on the error or its cause. */
function isUndefinedColumn(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause)
    if ((e as { code?: unknown }).code === '42703') return true;
  return false;
}

/** Inserts plant rows in chunks of at most ~30,000 parameters; an existing timestamp is left as it is. */
async function insertRows(
  db: Database,
  quotedTable: string,
  quotedTimeColumn: string,
  rows: readonly ProcessDataInput[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== 'timestamp');
  const cols = [quotedTimeColumn, ...names.map((c) => quoteIdent(c, 'column'))];
  const width = cols.length;
  const chunk = Math.max(1, Math.floor(30_000 / width));
  let inserted = 0;
  for (let start = 0; start < rows.length; start += chunk) {
    const part = rows.slice(start, start + chunk);
    const params: unknown[] = [];
    const tuples = part.map((row) => {
      params.push(timeParameter(row.timestamp, `Row timestamp`));
      for (const c of names) params.push(row[c] ?? null);
      const base = params.length - width;
      return `(${cols.map((_, i) => `$${base + i + 1}`).join(', ')})`;
    });
    const r = await db.query(
      `INSERT INTO ${quotedTable} (${cols.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`,
      params,
    );
    inserted += r.rowCount;
  }
  return inserted;
}
