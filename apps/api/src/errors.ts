import type { StrategyIssue } from '@po/rto-engine';
import { CycleTaskError } from './pool/index.ts';

/** The JSON every error response carries. */
export interface ErrorBody {
  status: 'error';
  error: string;
  /** Every problem, for invalid strategies and request bodies (`path: message` pairs). */
  details?: StrategyIssue[];
  /** Stable machine-readable code (e.g. `STRATEGY_INVALID`, `INPUT_INVALID`, `TIMEOUT`). */
  code?: string;
}

/** An error that knows its HTTP status (like Hono's HTTPException); `onError` turns it into JSON. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: StrategyIssue[] | undefined;
  constructor(status: number, code: string, message: string, details?: StrategyIssue[]) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  body(): ErrorBody {
    return {
      status: 'error',
      error: this.message,
      code: this.code,
      ...(this.details && this.details.length > 0 ? { details: this.details } : {}),
    };
  }
}

/** HTTP status by error code; anything unknown is a 500 whose message is not shown. */
const STATUS_BY_CODE: Record<string, number> = {
  STRATEGY_INVALID: 400,
  FORMULA_INVALID: 400,
  MODEL_LOAD_FAILED: 400,
  INPUT_INVALID: 400,
  CYCLE_FAILED: 422,
  OPTIMIZER_FAILED: 422,
  TIMEOUT: 504,
  POOL_BUSY: 503,
  POOL_CLOSED: 503,
  ABORTED: 503,
};

/** Strips the package prefix: an API client reads the message, not the module that raised it. */
function clientMessage(message: string): string {
  return message.replace(/^\[po\/[a-z-]+\]\s*/, '');
}

/**
 * Maps an engine or pool error to its HTTP status. Errors the engine did not classify
 * (a crashed worker, a bug) become undefined: the caller answers 500 without details.
 */
export function toApiError(error: unknown, context: 'request' | 'deployed'): ApiError | undefined {
  if (error instanceof ApiError) return error;
  const code =
    error instanceof CycleTaskError
      ? error.code
      : error instanceof Error && 'code' in error && typeof error.code === 'string'
        ? error.code
        : undefined;
  if (!code) return undefined;
  let status = STATUS_BY_CODE[code];
  if (status === undefined) return undefined;
  const issues =
    error instanceof CycleTaskError
      ? error.issues
      : 'issues' in (error as object)
        ? ((error as { issues?: StrategyIssue[] }).issues ?? undefined)
        : undefined;
  let message = clientMessage((error as Error).message);
  // A deployed strategy that does not compile is the server's problem, not the request's.
  if (context === 'deployed' && (code === 'STRATEGY_INVALID' || code === 'MODEL_LOAD_FAILED')) {
    status = 503;
    message = `the deployed strategy cannot be loaded: ${message.split('\n')[0]}`;
  }
  if (code === 'STRATEGY_INVALID') message = message.split('\n')[0]!;
  return new ApiError(status, code, message, issues ? [...issues] : undefined);
}
