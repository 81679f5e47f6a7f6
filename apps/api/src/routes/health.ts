import type { SourceStatus } from '@po/core';
import { describeError } from '@po/core';
import { Hono } from 'hono';
import type { Operation } from '../openapi.ts';
import type { CycleExecutor } from '../pool/index.ts';
import { isRecord } from '../request.ts';
import { type HealthResponse, healthResponseSchema, type LastCycle } from '../schemas.ts';
import type { CacheControl, StrategySource } from '../types.ts';
import { API_VERSION } from '../version.ts';
import { cacheStatsBody } from './cache.ts';

export const healthOperations: Operation[] = [
  {
    method: 'get',
    path: '/health',
    summary: 'Liveness and readiness: ok or degraded, with reasons. Never needs a token.',
    tag: 'operations',
    ok: { status: 200, description: 'Health report.', schema: healthResponseSchema },
    errors: [],
    open: true,
  },
];

/** Injected `/health` sections get this long; a slow database must not make health slow. */
const SECTIONS_TIMEOUT_MS = 250;

export interface HealthRoutesOptions {
  strategies: StrategySource;
  executor: CycleExecutor;
  lastCycle: () => LastCycle | null;
  /** Extra sections (runner, database, store); a section `{ ok: false, reason? }` degrades. */
  sections?: (() => Promise<Record<string, unknown>>) | undefined;
  /** For the predecessor's `cache_stats`. */
  cache?: CacheControl | undefined;
}

/** `GET /health`: always 200, `healthy` or `degraded` with the reasons. Never waits for a worker. */
export function healthRoutes(options: HealthRoutesOptions) {
  return new Hono().get('/', async (c) => {
    const strategy = options.strategies.status();
    const reasons = strategyReasons(strategy);
    const checks = options.sections ? await readSections(options.sections, reasons) : {};
    const body: HealthResponse = {
      status: reasons.length === 0 ? 'healthy' : 'degraded',
      timestamp: new Date().toISOString(),
      cache_stats: cacheSummary(strategy.version, options.cache),
      uptime_s: Math.round(process.uptime()),
      versions: { api: API_VERSION, node: process.versions.node, strategy: strategy.version },
      strategy,
      pool: options.executor.stats(),
      last_cycle: options.lastCycle(),
      ...checks,
      degraded_reasons: reasons,
    };
    return c.json(body);
  });
}

/** The predecessor's `cache_stats`: deployed version, cached last-run timestamp, live entries. */
function cacheSummary(
  version: string | null,
  cache: CacheControl | undefined,
): HealthResponse['cache_stats'] {
  let stats: ReturnType<typeof cacheStatsBody> | undefined;
  try {
    stats = cache ? cacheStatsBody(cache.stats()) : undefined;
  } catch {
    stats = undefined; // a cache that cannot report leaves the summary empty; health still answers
  }
  const live = Object.values(stats?.cache_details ?? {}).reduce((sum, d) => sum + d.active_items, 0);
  return {
    config_version: version,
    cached_timestamp: (stats?.cached_last_run_timestamp as string | null | undefined) ?? null,
    total_cached_items: live,
  };
}

function strategyReasons(strategy: SourceStatus): string[] {
  if (strategy.state === 'none') return ['no strategy is deployed'];
  if (strategy.state === 'loading') return ['the deployed strategy is loading'];
  if (strategy.state === 'error') {
    return [`the deployed strategy cannot be loaded: ${strategy.error ?? 'unknown error'}`];
  }
  return strategy.error
    ? [`serving version ${strategy.version} after a failed reload: ${strategy.error}`]
    : [];
}

/** The injected sections, within the time limit; adds a reason for each section that is not ok. */
async function readSections(
  sections: () => Promise<Record<string, unknown>>,
  reasons: string[],
): Promise<Record<string, unknown>> {
  let checks: Record<string, unknown> = {};
  try {
    checks = await withTimeout(sections(), SECTIONS_TIMEOUT_MS);
  } catch (e) {
    reasons.push(`health checks failed: ${describeError(e)}`);
  }
  for (const [name, section] of Object.entries(checks)) {
    if (isRecord(section) && section.ok === false) {
      reasons.push(`${name}: ${typeof section.reason === 'string' ? section.reason : 'not ok'}`);
    }
  }
  return checks;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
