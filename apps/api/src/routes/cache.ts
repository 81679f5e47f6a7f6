import { describeError } from '@po/core';
import { Hono } from 'hono';
import { httpError } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import { check, isRecord, parseJson } from '../request.ts';
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

/**
 * The predecessor's `/cache/stats` fields around the cache's own statistics: `cache_details` per
 * `<kind>_cache` from a report with `cache_stats.<kind>.active_items/expired_items/total_items`
 * (@po/cache's `cacheReport`).
 */
export function cacheStatsBody(stats: unknown): Record<string, unknown> & { cache_details: CacheDetails } {
  const report = isRecord(stats) ? stats : {};
  const kinds = isRecord(report.cache_stats) ? report.cache_stats : {};
  const cache_details: CacheDetails = {};
  for (const [kind, counts] of Object.entries(kinds)) {
    if (!isRecord(counts)) continue;
    const count = (key: string) => (typeof counts[key] === 'number' ? counts[key] : 0);
    cache_details[`${kind}_cache`] = {
      active_items: count('active_items'),
      expired_items: count('expired_items'),
      total_items: count('total_items'),
    };
  }
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    ...report,
    status: 'success',
    timestamp: new Date().toISOString(),
    current_config_version: text(report.current_config_version),
    cached_last_run_timestamp: text(report.cached_last_run_timestamp),
    cache_details,
  };
}

type CacheDetails = Record<string, { active_items: number; expired_items: number; total_items: number }>;

const done = (message: string) => ({ status: 'success', timestamp: new Date().toISOString(), message });

/** `GET /cache/stats`, `POST /cache/clear`, `POST /cache/cleanup` in the predecessor's shapes. */
export function cacheRoutes(cache: CacheControl | undefined) {
  return new Hono()
    .get('/stats', (c) => c.json(cacheStatsBody(cache ? cache.stats() : { enabled: false })))
    .post('/clear', async (c) => {
      const text = await c.req.text();
      let kind = c.req.query('kind') ?? c.req.query('cache_type');
      if (text.trim() !== '') {
        const body = check(cacheClearRequestSchema, parseJson(c, text), 'invalid body');
        kind = body.kind ?? body.cache_type ?? kind;
      }
      if (!cache) return c.json(done('no cache is configured; nothing to clear'));
      try {
        await cache.clear(kind);
      } catch (e) {
        throw httpError.badRequest(`cannot clear the cache: ${describeError(e, { scope: false })}`);
      }
      return c.json(done(kind ? `Cache '${kind}' cleared` : 'Cache cleared'));
    })
    .post('/cleanup', async (c) => {
      if (!cache?.cleanup) {
        return c.json(done('no cache is configured; nothing to clean up'));
      }
      const removed = await cache.cleanup();
      return c.json(done(`Expired cache entries removed: ${String(removed)}`));
    });
}
