/**
 * The one place where errors become HTTP answers. Routes and middleware only throw: an `ApiError`
 * from `httpError` below when the API itself refuses a request, or whatever the engine, the pool
 * or a store raised; `toApiError` maps those by their `code`, and `onError` writes the JSON.
 */
import { describeError, errorCode, type Logger, ModelLoadError, PoError } from '@po/core';
import type { StrategyIssue } from '@po/rto-engine';
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CycleTaskError, serializeError } from './pool/protocol.ts';
import type { ErrorBody } from './schemas.ts';

/** An error that knows its HTTP status (like Hono's `HTTPException`); `onError` turns it into JSON. */
export class ApiError extends PoError {
  readonly status: ContentfulStatusCode;
  /** Every problem, for invalid strategies and request bodies. */
  readonly details: readonly StrategyIssue[] | undefined;
  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    details?: readonly StrategyIssue[],
  ) {
    super('api', code, message);
    this.status = status;
    this.details = details;
  }

  /** The JSON the client gets. */
  body(): ErrorBody {
    return {
      status: 'error',
      timestamp: new Date().toISOString(),
      error: this.detail,
      error_type: this.code,
      code: this.code,
      ...(this.details && this.details.length > 0 ? { details: [...this.details] } : {}),
    };
  }
}

/** What the client is told about a failure below the API (no `[po/<scope>]` prefix). */
const said = (cause: unknown): string => describeError(cause, { scope: false });

/** Every refusal the API makes itself, with its status and code. */
export const httpError = {
  badRequest: (message: string, details?: readonly StrategyIssue[]) =>
    new ApiError(400, 'BAD_REQUEST', message, details),
  unauthorized: (message: string) => new ApiError(401, 'UNAUTHORIZED', message),
  forbidden: (message: string) => new ApiError(403, 'FORBIDDEN', message),
  notFound: (message: string) => new ApiError(404, 'NOT_FOUND', message),
  limitExceeded: (message: string, details: readonly StrategyIssue[]) =>
    new ApiError(400, 'LIMIT_EXCEEDED', message, details),
  bodyTooLarge: (limitBytes: number) =>
    new ApiError(413, 'BODY_TOO_LARGE', `request body is over the limit of ${limitBytes} bytes`),
  internal: () => new ApiError(500, 'INTERNAL', 'internal server error; see the server log'),
  notConfigured: (message: string) => new ApiError(501, 'NOT_CONFIGURED', message),
  /** Nothing deployed and no `config` sent: the request is incomplete (400, as the predecessor answered). */
  noStrategy: (message: string) => new ApiError(400, 'NO_STRATEGY', message),
  strategyLoading: (message: string) => new ApiError(503, 'NO_STRATEGY', message),
  strategyUnavailable: (cause: unknown) =>
    new ApiError(503, 'STRATEGY_UNAVAILABLE', `the deployed strategy cannot be loaded: ${said(cause)}`),
  storeUnavailable: (cause: unknown) =>
    new ApiError(503, 'STORE_UNAVAILABLE', `the results store is unavailable: ${said(cause)}`),
  timeout: (message: string) => new ApiError(504, 'TIMEOUT', message),
} as const;

/** HTTP status by the code of an engine, model provider or pool error. */
const STATUS_BY_CODE: Readonly<Record<string, ContentfulStatusCode>> = {
  STRATEGY_INVALID: 400,
  FORMULA_INVALID: 400,
  MODEL_LOAD_FAILED: 400,
  INPUT_INVALID: 400,
  CYCLE_FAILED: 422,
  OPTIMIZER_FAILED: 422,
  TIMEOUT: 504,
  POOL_BUSY: 503,
  REPLAY_INVALID: 400,
  REPLAY_BUSY: 409,
  POOL_CLOSED: 503,
  ABORTED: 503,
  WORKER_MEMORY: 422,
};

/** Whose strategy failed: one sent in the request (the client's problem) or the deployed one (ours). */
export type StrategyOrigin = 'request' | 'deployed';

/**
 * Maps an engine, model provider or pool error to its HTTP status. A model that does not load
 * (`ModelLoadError`, any code) is a 400 like an invalid strategy; for the deployed strategy both
 * are a 503. Errors nobody classified (a crashed worker, a bug) give undefined: the caller answers
 * 500 without details.
 */
export function toApiError(error: unknown, origin: StrategyOrigin): ApiError | undefined {
  if (error instanceof ApiError) return error;
  const known = asPoError(error);
  if (!known) return undefined;
  const modelLoad = isModelLoadError(known);
  const status = modelLoad ? 400 : STATUS_BY_CODE[known.code];
  if (status === undefined) return undefined;
  const issues = known instanceof CycleTaskError ? known.issues : undefined;
  const message = said(known);
  if (origin === 'deployed' && (modelLoad || known.code === 'STRATEGY_INVALID')) {
    return new ApiError(
      503,
      known.code,
      `the deployed strategy cannot be loaded: ${headline(message, issues)}`,
      issues,
    );
  }
  return new ApiError(
    status,
    known.code,
    known.code === 'STRATEGY_INVALID' ? headline(message, issues) : message,
    issues,
  );
}

/** The first line of a multi-line message, with the first issue (the rest are in `details`). */
function headline(message: string, issues: readonly StrategyIssue[] | undefined): string {
  const first = issues?.[0];
  if (!first) return firstLine(message);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more in details)` : '';
  return `${firstLine(message)} ${first.path}: ${first.message}${more}`;
}

/** A `PoError` as is; any other error with a code (a strategy run on this thread) read like one from a worker. */
function asPoError(error: unknown): PoError | undefined {
  if (error instanceof PoError) return error;
  if (!(error instanceof Error) || errorCode(error) === undefined) return undefined;
  return new CycleTaskError(serializeError(error), { cause: error });
}

function isModelLoadError(error: PoError): boolean {
  return (
    error.code === 'MODEL_LOAD_FAILED' ||
    error instanceof ModelLoadError ||
    (error instanceof CycleTaskError && error.errorClass === 'ModelLoadError')
  );
}

function firstLine(text: string): string {
  return text.split('\n')[0]!;
}

/** The JSON answer for an `ApiError`. */
export function errorResponse(c: Context, error: ApiError): Response {
  return c.json(error.body(), error.status);
}

/** `app.onError`: known errors answer their status; anything else is a 500 that shows nothing. */
export function onError(logger: Logger): ErrorHandler {
  return (error, c) => {
    // Hono middleware that built its own answer (bearer-auth: our JSON plus WWW-Authenticate).
    if (error instanceof HTTPException && error.res) return error.getResponse();
    const known =
      error instanceof HTTPException
        ? new ApiError(error.status, 'HTTP_ERROR', error.message)
        : toApiError(error, 'request');
    const request = { method: c.req.method, path: c.req.path, requestId: c.get('requestId') };
    if (!known) {
      logger.error({ err: error, ...request }, 'unexpected error');
      return errorResponse(c, httpError.internal());
    }
    if (known.status >= 500)
      logger.warn({ code: known.code, err: known.message, ...request }, 'request failed');
    return errorResponse(c, known);
  };
}

/** `app.notFound`. */
export const notFound: NotFoundHandler = (c) =>
  errorResponse(
    c,
    httpError.notFound(`Endpoint not found: no route ${c.req.method} ${c.req.path}; see /docs`),
  );
