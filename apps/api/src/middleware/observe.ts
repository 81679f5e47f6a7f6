import type { Logger } from '@po/core';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ApiMetrics } from '../metrics.ts';

/**
 * Counts and times every request for Prometheus, by its route pattern (`/results/:id`, so that
 * ids do not explode the label set; `unmatched` for paths no route serves), and logs it at debug.
 */
export function observe(metrics: ApiMetrics, logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = c.res.status === 404 && !matchedRoute(c) ? 'unmatched' : routePath(c);
    metrics.request(c.req.method, route, c.res.status, seconds);
    logger.debug(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: seconds * 1000,
        requestId: c.get('requestId'),
      },
      'request',
    );
  };
}

/** Whether a route (not only middleware, mounted on `*`) matched the request. */
function matchedRoute(c: Context): boolean {
  const path = routePath(c);
  return path !== '*' && path !== '/*';
}
