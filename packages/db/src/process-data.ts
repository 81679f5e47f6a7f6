import { DbError, MissingColumnsError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import type { Database } from './types.ts';

/** One plant row: its timestamp and a value per column. */
export interface PlantRow {
  /** The row's timestamp, to the millisecond (finer digits are dropped). */
  timestamp: Date;
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
  next(after: Date | undefined, columns?: readonly string[]): Promise<PlantRow | undefined>;
  /** The row taken at exactly `timestamp` (to the millisecond), or undefined when there is none. */
  at(timestamp: Date, columns?: readonly string[]): Promise<PlantRow | undefined>;
  /** Timestamps of the rows strictly after `after`, oldest first, at most `limit` (default 1000). */
  timestampsAfter(after: Date | undefined, limit?: number): Promise<Date[]>;
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
      // Rows within the millisecond of `after` count as processed: JS dates keep milliseconds only.
      const r = await db.query(
        `SELECT ${select}, count(*) OVER () AS po_new_rows FROM ${t}
         WHERE ${after ? `${ts} >= $1::timestamptz + interval '1 millisecond'` : 'true'}${and}
         ORDER BY ${ts} DESC LIMIT 1`,
        after ? [after, ...values] : values,
      );
      const row = r.rows[0];
      if (!row) return undefined;
      const { [timeColumn]: time, po_new_rows: count, ...rest } = row;
      return { timestamp: toDate(time), values: rest, skippedRows: Number(count) - 1 };
    },
    async at(timestamp, columns) {
      await checkColumns(columns ?? []);
      const select = columns
        ? [ts, ...columns.filter((c) => c !== timeColumn).map((c) => quoteIdent(c))].join(', ')
        : '*';
      const [and, values] = where(1);
      const r = await db.query(
        `SELECT ${select} FROM ${t}
         WHERE ${ts} >= $1::timestamptz AND ${ts} < $1::timestamptz + interval '1 millisecond'${and}
         ORDER BY ${ts} DESC LIMIT 1`,
        [timestamp, ...values],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      const { [timeColumn]: time, ...rest } = row;
      return { timestamp: toDate(time), values: rest, skippedRows: 0 };
    },
    async timestampsAfter(after, limit = 1000) {
      // No column check (a scheduler calls this often): a missing column fails the query itself.
      const [and, values] = where(after ? 2 : 1);
      const r = await db.query<Record<string, unknown>>(
        `SELECT ${ts} AS t FROM ${t}
         WHERE ${after ? `${ts} >= $2::timestamptz + interval '1 millisecond'` : 'true'}${and}
         ORDER BY ${ts} LIMIT $1`,
        after
          ? [Math.max(1, Math.trunc(limit)), after, ...values]
          : [Math.max(1, Math.trunc(limit)), ...values],
      );
      return r.rows.map((row) => toDate(row.t));
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
      params.push(new Date(row.timestamp));
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
