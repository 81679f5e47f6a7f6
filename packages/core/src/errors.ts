const BRAND = Symbol.for('po.error');

/** What every `PoError` may carry besides its code and message. */
export interface PoErrorOptions {
  /** The error that made this one, kept for logs and `--debug`. */
  cause?: unknown;
}

/**
 * The one error base of po. Each package extends it once (`StoreError`, `DbError`, ...) and names
 * its subclasses for what went wrong (`StrategyValidationError`, `ModelLoadError`).
 *
 * - `code` is stable and machine-readable (`STRATEGY_INVALID`, `NOT_FOUND`); apps map it to exit
 *   codes and HTTP statuses, each in one place.
 * - `scope` is the package or area that raised it (`rto-engine`, `storage`, `db`); the message
 *   starts with `[po/<scope>]`, and `detail` is the same text without that prefix.
 * - Messages name the object (skill, file, variable, key) and say what to do.
 */
export class PoError extends Error {
  override name: string;
  readonly code: string;
  readonly scope: string;
  /** The message without the `[po/<scope>] ` prefix: what an HTTP client or a form is shown. */
  readonly detail: string;

  constructor(scope: string, code: string, message: string, options?: PoErrorOptions) {
    const prefix = `[po/${scope}] `;
    const detail = message.startsWith(prefix) ? message.slice(prefix.length) : message;
    super(prefix + detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.scope = scope;
    this.detail = detail;
  }
}
Object.defineProperty(PoError.prototype, BRAND, { value: true });
// `x instanceof PoError` is true for a PoError built by another copy of this package (src and dist
// both loaded, a bundled worker); subclasses keep the usual prototype-chain check.
Object.defineProperty(PoError, Symbol.hasInstance, {
  value(this: abstract new (...args: never[]) => unknown, value: unknown): boolean {
    if (this !== PoError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  },
});

/** True when `error` is a `PoError`, optionally with the given `code` (and `scope`). */
export function isPoError(error: unknown, code?: string, scope?: string): error is PoError {
  return (
    error instanceof PoError &&
    (code === undefined || error.code === code) &&
    (scope === undefined || error.scope === scope)
  );
}

/** How `describeError` words a thrown value. */
export interface DescribeOptions {
  /** Keep the `[po/<scope>]` prefix of a `PoError` (default true; clients of the API get it without). */
  scope?: boolean;
  /** Collapse line breaks and runs of spaces into one space (default false). */
  oneLine?: boolean;
}

/**
 * What a person is told about a thrown value: a `PoError`'s message (which names the object and
 * the fix), any other error's message, or the value itself. Used by the CLI and the API alike.
 */
export function describeError(error: unknown, options: DescribeOptions = {}): string {
  let text: string;
  if (error instanceof PoError) text = options.scope === false ? error.detail : error.message;
  else if (error instanceof Error) text = error.message || error.name;
  else text = String(error);
  return options.oneLine ? text.replace(/\s+/g, ' ').trim() : text;
}

/** The `code` of a thrown value: a `PoError`'s code, or a Node.js system error's (`ENOENT`, `ECONNRESET`). */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/** Codes that say a service did not answer: a po `UNREACHABLE`, or a socket error. */
const UNREACHABLE_CODES = new Set([
  'UNREACHABLE',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** Whether a thrown value says a store, database or other service could not be reached. */
export function isUnreachable(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && UNREACHABLE_CODES.has(code);
}
