import { PoError } from '@po/core';

/** Machine-readable reasons a @po/cache operation failed. */
export type CacheErrorCode =
  /** The object does not exist in the store. */
  | 'NOT_FOUND'
  /** The store could not be reached and nothing was cached to serve instead. */
  | 'UNREACHABLE'
  /** The store answered with an error other than NOT_FOUND. */
  | 'READ_FAILED'
  /** The key or path is not a valid store key. */
  | 'INVALID_KEY'
  /** An option or argument is not valid. */
  | 'INVALID_OPTIONS'
  /** The deployed-version pointer could not be read. */
  | 'POINTER_FAILED'
  /** A version could not be loaded; the previous one keeps serving. */
  | 'LOAD_FAILED'
  /** The last-run timestamp could not be read or written. */
  | 'STATE_FAILED'
  /** The cache or deployment was closed. */
  | 'CLOSED';

/**
 * Base of every error @po/cache throws (a `PoError` of scope `cache`). Messages start with
 * `[po/cache]`, name the key or version and say what to do.
 */
export class CacheError extends PoError {
  declare readonly code: CacheErrorCode;
  /** The store key involved, when there is one. */
  readonly key: string | undefined;
  /** The strategy version involved, when there is one. */
  readonly version: string | undefined;

  constructor(
    code: CacheErrorCode,
    message: string,
    options: { cause?: unknown; key?: string | undefined; version?: string | undefined } = {},
  ) {
    super('cache', code, message, { cause: options.cause });
    this.key = options.key;
    this.version = options.version;
  }
}
