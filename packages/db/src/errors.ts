import { PoError } from '@po/core';

/** Stable codes of every error @po/db raises. */
export type DbErrorCode =
  | 'UNREACHABLE'
  | 'QUERY_FAILED'
  | 'LOCKED'
  | 'INVALID_IDENTIFIER'
  | 'MISSING_COLUMNS'
  | 'MISSING_TABLE'
  | 'UNKNOWN_RESULT'
  | 'UNKNOWN_REPLAY'
  | 'INVALID_ARGUMENT';

/** Every error @po/db raises (a `PoError` of scope `db`); `code` is stable, messages start with `[po/db]`. */
export class DbError extends PoError {
  declare readonly code: DbErrorCode;
  constructor(code: DbErrorCode, message: string, options?: { cause?: unknown }) {
    super('db', code, message, options);
  }
}

/**
 * The database could not be reached (after bounded retries), or a query failed.
 * `target` names host:port/database (never a password) or the PGlite folder.
 */
export class DatabaseError extends DbError {
  readonly target: string;
  constructor(code: 'UNREACHABLE' | 'QUERY_FAILED', target: string, message: string, cause?: unknown) {
    super(code, message, { cause });
    this.target = target;
  }
}

/** The embedded database folder is held by another live process. */
export class DatabaseLockedError extends DbError {
  readonly pid: number;
  readonly dataDir: string;
  constructor(dataDir: string, pid: number, lockFile: string) {
    super(
      'LOCKED',
      `The embedded database '${dataDir}' is in use by process ${pid} (lock file '${lockFile}'). ` +
        'PGlite must never be opened by two processes at once: stop that process, or set DATABASE_URL to share a PostgreSQL server.',
    );
    this.pid = pid;
    this.dataDir = dataDir;
  }
}

/** A table lacks columns the strategy reads. */
export class MissingColumnsError extends DbError {
  readonly table: string;
  readonly columns: readonly string[];
  constructor(table: string, columns: readonly string[]) {
    super(
      'MISSING_COLUMNS',
      `Table "${table}" lacks column${columns.length === 1 ? '' : 's'} the strategy reads: ${columns.join(', ')}. ` +
        'Add them to the table, or remove the variables from the strategy.',
    );
    this.table = table;
    this.columns = columns;
  }
}
