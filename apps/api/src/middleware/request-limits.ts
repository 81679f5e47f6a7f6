import type { IncomingMessage } from 'node:http';
import type { StrategyLimits } from '@po/rto-engine';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { httpError } from '../errors.ts';
import type { RefusedBodyDrain } from '../request.ts';

declare module 'hono' {
  interface ContextVariableMap {
    /** Aborted when the request overruns its time limit (the reason is the 504 it answers). */
    deadline: AbortSignal;
    /** Bounds on the request's strategy and JSON body. */
    limits: StrategyLimits;
  }
}

/** How long `/optimize` may run past its limit: the optimizer has the limit as its budget and answers within it. */
export function optimizeGrace(timeoutMs: number): number {
  return Math.max(1000, timeoutMs / 2);
}

/**
 * The request time limit on every route: past `timeoutMs` (for `/optimize`, the optimizer's
 * budget plus `optimizeGrace`) the request answers 504 and `c.get('deadline')` aborts, which
 * stops its pool task (the worker is ended and replaced). Reading the body counts too.
 * `c.get('limits')` holds the bounds on its strategy and body.
 */
export function requestLimits(timeoutMs: number, limits: StrategyLimits): MiddlewareHandler {
  return async (c, next) => {
    c.set('limits', limits);
    const optimize = c.req.path === '/optimize';
    const limitMs = optimize ? timeoutMs + optimizeGrace(timeoutMs) : timeoutMs;
    const controller = new AbortController();
    c.set('deadline', controller.signal);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = httpError.timeout(
          `the ${c.req.method} ${c.req.path} request overran its time limit of ${timeoutMs} ms and was stopped; retry, or raise api.request_timeout_ms (PO_REQUEST_TIMEOUT_MS)`,
        );
        controller.abort(error);
        reject(error);
      }, limitMs);
    });
    try {
      await Promise.race([next(), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * The body size limit (413 past `maxBytes`). A body with a `content-length` is judged by it and
 * left unread, so a route can read it as it arrives and stop early (`readBodyText`); Hono's
 * `bodyLimit` would turn it into a web stream first, which pauses the socket once the route stops
 * reading and stalls the connection's next request until the server gives up on draining it.
 * A body refused by its length is drained by the app's `drain`, at a bounded rate. A chunked body
 * (no length) goes through `bodyLimit`, which counts it.
 */
export function bodySizeLimit(maxBytes: number, drain: RefusedBodyDrain): MiddlewareHandler {
  const tooLarge = () => {
    throw httpError.bodyTooLarge(maxBytes);
  };
  const chunked = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return chunked(c, next);
    if (Number(length) > maxBytes) {
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      if (incoming) drain(incoming);
      tooLarge();
    }
    await next();
  };
}
