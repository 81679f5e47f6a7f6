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

const PREFIX = '[po/cache]';

/** Base of every error @po/cache throws. Messages start with `[po/cache]`, name the key or version and say what to do. */
export class CacheError extends Error {
  override readonly name: string = 'CacheError';
  readonly code: CacheErrorCode;
  /** The store key involved, when there is one. */
  readonly key: string | undefined;
  /** The strategy version involved, when there is one. */
  readonly version: string | undefined;

  constructor(
    code: CacheErrorCode,
    message: string,
    options: { cause?: unknown; key?: string | undefined; version?: string | undefined } = {},
  ) {
    super(
      message.startsWith(PREFIX) ? message : `${PREFIX} ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.key = options.key;
    this.version = options.version;
  }
}

/** The `code` of a thrown value (a `StoreError` has one), read structurally. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/** A one-line description of any thrown value, for messages and status. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.replace(/\s+/g, ' ').trim();
  return String(error);
}

/** Codes that say a service did not answer (a `StoreError` UNREACHABLE, or a socket error). */
const UNREACHABLE_CODES = new Set([
  'UNREACHABLE',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** Whether a thrown value says the store (or another service) could not be reached. */
export function isUnreachable(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && UNREACHABLE_CODES.has(code);
}
