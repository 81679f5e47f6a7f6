import { Hono } from 'hono';
import type { ApiMetrics } from '../metrics.ts';
import type { Operation } from '../openapi.ts';

export const metricsOperations: Operation[] = [
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics. Never needs a token.',
    tag: 'operations',
    ok: { status: 200, description: 'Prometheus text format.', text: 'text/plain' },
    errors: [],
    open: true,
  },
];

/** `GET /metrics`: the Prometheus text format. */
export function metricsRoutes(metrics: ApiMetrics) {
  return new Hono().get('/', async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
}
