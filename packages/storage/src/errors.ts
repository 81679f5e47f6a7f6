import { PoError } from '@po/core';

/** Machine-readable reasons a @po/storage operation failed. */
export type StoreErrorCode =
  /** The object (or the strategy version) does not exist. */
  | 'NOT_FOUND'
  /** A key or prefix was refused by `validateKey` (or links outside the local folder). */
  | 'INVALID_KEY'
  /** An option or argument is malformed (metadata, version, timestamp, endpoint...). */
  | 'INVALID_ARGUMENT'
  /** The store could not be used after bounded retries: refused, reset, timed out, 5xx. */
  | 'UNREACHABLE'
  /** The server refused the credentials or the bucket policy denies the operation. */
  | 'ACCESS_DENIED'
  /** The S3 bucket does not exist (and `createBucket` is off). */
  | 'BUCKET_NOT_FOUND'
  /** The write collides with what is there (an immutable version, a folder in the way). */
  | 'CONFLICT'
  /** The `validate` hook of `uploadStrategy` reported problems (see `problems`). */
  | 'VALIDATION_FAILED'
  /** A metadata file (deploy pointer, last-run timestamp) is malformed. */
  | 'INVALID_FILE'
  /** The store was closed. */
  | 'CLOSED'
  /** Any other I/O failure; `cause` holds the original error. */
  | 'IO_ERROR';

/**
 * Base of every error @po/storage throws (a `PoError` of scope `storage`). Messages start with
 * `[po/storage] [<store>]` (`local`, `s3`, `versions`, `metadata`, `keys`), name the key or file
 * and the location, and say what to do. Secrets are never part of a message.
 */
export class StoreError extends PoError {
  declare readonly code: StoreErrorCode;
  /** The store kind or area the error comes from (`local`, `s3`, ...). */
  readonly store: string;
  /** The key or file concerned, when there is one. */
  readonly key: string | undefined;

  constructor(
    code: StoreErrorCode,
    store: string,
    message: string,
    options?: { key?: string; cause?: unknown },
  ) {
    super('storage', code, `[${store}] ${message}`, { cause: options?.cause });
    this.store = store;
    this.key = options?.key;
  }
}

/** `uploadStrategy` refused a strategy because its `validate` hook reported problems. */
export class StrategyRejectedError extends StoreError {
  /** Every problem the hook reported, in its order. */
  readonly problems: readonly string[];

  constructor(store: string, key: string, problems: readonly string[]) {
    super(
      'VALIDATION_FAILED',
      store,
      `Refused to upload ${key}: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix the strategy and upload it again.`,
      { key },
    );
    this.problems = problems;
  }
}

/** True when `error` is a `StoreError`, optionally with the given code. */
export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  return error instanceof StoreError && (code === undefined || error.code === code);
}
