import { describeError } from '@po/core';
import { Hono } from 'hono';
import { httpError } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import { check, parseJson } from '../request.ts';
import { cacheClearRequestSchema, cacheStatsResponseSchema, messageResponseSchema } from '../schemas.ts';
import type { CacheControl } from '../types.ts';

export const cacheOperations: Operation[] = [
  {
    method: 'get',
    path: '/cache/stats',
    summary: 'Artifact cache counters (the predecessor’s passthrough).',
    tag: 'operations',
    ok: { status: 200, description: 'Cache statistics.', schema: cacheStatsResponseSchema },
    errors: [401],
  },
  {
    method: 'post',
    path: '/cache/clear',
    summary: 'Clear the artifact cache (one kind, or all).',
    tag: 'operations',
    body: cacheClearRequestSchema,
    bodyOptional: true,
    ok: { status: 200, description: '`{ status: "success", message }`.', schema: messageResponseSchema },
    errors: [400, 401],
  },
  {
    method: 'post',
    path: '/cache/cleanup',
    summary: 'Drop expired cache entries.',
    tag: 'operations',
    ok: { status: 200, description: '`{ status: "success", message }`.', schema: messageResponseSchema },
    errors: [401],
  },
];

/** `GET /cache/stats`, `POST /cache/clear`, `POST /cache/cleanup` in the predecessor's shapes. */
export function cacheRoutes(cache: CacheControl | undefined) {
  return new Hono()
    .get('/stats', (c) => c.json(cache ? (cache.stats() as object) : { enabled: false }))
    .post('/clear', async (c) => {
      const text = await c.req.text();
      let kind = c.req.query('kind') ?? c.req.query('cache_type');
      if (text.trim() !== '') {
        const body = check(cacheClearRequestSchema, parseJson(c, text), 'invalid body');
        kind = body.kind ?? body.cache_type ?? kind;
      }
      if (!cache) return c.json({ status: 'success', message: 'no cache is configured; nothing to clear' });
      try {
        await cache.clear(kind);
      } catch (e) {
        throw httpError.badRequest(`cannot clear the cache: ${describeError(e, { scope: false })}`);
      }
      return c.json({ status: 'success', message: kind ? `Cache '${kind}' cleared` : 'Cache cleared' });
    })
    .post('/cleanup', async (c) => {
      if (!cache?.cleanup) {
        return c.json({ status: 'success', message: 'no cache is configured; nothing to clean up' });
      }
      const removed = await cache.cleanup();
      return c.json({ status: 'success', message: `Expired cache entries removed: ${String(removed)}` });
    });
}
