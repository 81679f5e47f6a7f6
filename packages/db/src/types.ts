/** Rows and count of one statement. Values are as the driver parses them (timestamptz -> Date, jsonb -> object). */
export interface QueryResult<Row> {
  rows: Row[];
  /** Rows inserted, updated, deleted or returned. */
  rowCount: number;
}

/** What runs SQL: the database itself, or an open transaction. */
export interface Queryable {
  /** Runs one statement with `$1..$n` parameters. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

/**
 * One SQL interface over PostgreSQL (`pg` pool) and embedded PGlite; the same SQL runs on
 * both. Connection failures are retried with backoff (bounded), then raised as a
 * `DatabaseError` with code UNREACHABLE; the next call tries again (the pool reconnects).
 */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Where the data lives, safe to log: `host:port/database` or the PGlite folder. */
  readonly target: string;
  /** The schema po's tables live in (`search_path`). */
  readonly schema: string;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws.
   * A connection failure before the commit retries the whole function, so `fn` must be
   * safe to run again (po's writes are idempotent).
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Closes the pool, or PGlite and its lock. */
  close(): Promise<void>;
}
