import { createHash, timingSafeEqual } from 'node:crypto';
import type { CycleResult, PlantState } from '@po/rto-engine';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { routePath } from 'hono/route';
import type { z } from 'zod';
import pkg from '../package.json' with { type: 'json' };
import { docsPage } from './docs.ts';
import { ApiError, toApiError } from './errors.ts';
import { type ApiMetrics, type CycleOutcome, createMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { bundleFromFiles, type StrategyBundle } from './pool/index.ts';
import {
  cacheClearRequestSchema,
  feedbackRequestSchema,
  optimizeRequestSchema,
  resultsQuerySchema,
  simulateRequestSchema,
  zodIssues,
} from './schemas.ts';
import type { ApiLogger, AppOptions, RunnableStrategy } from './types.ts';

/** The version of this package, reported by `/health` and the OpenAPI document. */
export const API_VERSION: string = pkg.version;

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
const HEALTH_SECTIONS_TIMEOUT_MS = 250;
/** Strategies from requests, kept as bundles (files read once) by text hash. */
const BUNDLE_CACHE_SIZE = 16;
const BUNDLE_TTL_MS = 60_000;
/** Routes reachable without a token. */
const OPEN_ROUTES = new Set(['/health', '/metrics']);

const silentLogger: ApiLogger = { info() {}, warn() {}, error() {}, debug() {} };

interface LastCycle {
  at: string;
  mode: string;
  status: CycleOutcome;
  duration_ms: number;
  config_version: string | null;
  source: 'deployed' | 'request';
}

/** The app `createApp` returns, plus what its owner may need. */
export type PoApp = Hono & {
  /** The Prometheus registry (for tests or to merge with the runner's). */
  readonly metrics: ApiMetrics;
};

/**
 * Creates the HTTP app. Nothing starts here: serve `app.fetch` with `@hono/node-server` (see
 * `startServer`), or call `app.request()` in tests.
 */
export function createApp(options: AppOptions): PoApp {
  const { strategies, executor, results, cache } = options;
  const logger = options.logger ?? silentLogger;
  const bodyLimitBytes = options.settings?.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const timeoutMs = options.settings?.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const hardTimeoutMs = timeoutMs + Math.max(1000, timeoutMs / 2);
  const token = options.settings?.apiToken || undefined;
  const metrics = createMetrics({ executor, cache });
  const bundles = new Map<string, { bundle: Promise<StrategyBundle>; at: number }>();
  let lastCycle: LastCycle | null = null;
  let openapi: Record<string, unknown> | undefined;
  let docs: string | undefined;

  const app = new Hono() as PoApp;
  Object.defineProperty(app, 'metrics', { value: metrics });

  // --- Metrics and logging of every request ---
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = c.res.status === 404 && !knownRoute(c) ? 'unmatched' : routePath(c);
    metrics.request(c.req.method, route, c.res.status, seconds);
    logger.debug(
      { method: c.req.method, path: c.req.path, status: c.res.status, ms: seconds * 1000 },
      'request',
    );
  });

  // --- Bearer token (constant-time comparison of equal-length digests) ---
  if (token) {
    const expected = createHash('sha256').update(token).digest();
    app.use(async (c, next) => {
      if (OPEN_ROUTES.has(c.req.path)) return next();
      const header = c.req.header('authorization') ?? '';
      const match = /^Bearer\s+(.+)$/i.exec(header);
      const given = createHash('sha256')
        .update(match?.[1] ?? '')
        .digest();
      if (!match || !timingSafeEqual(given, expected)) {
        c.header('WWW-Authenticate', 'Bearer realm="po"');
        throw new ApiError(
          401,
          'UNAUTHORIZED',
          match ? 'invalid token' : 'missing bearer token: send Authorization: Bearer <PO_API_TOKEN>',
        );
      }
      return next();
    });
  }

  app.use(
    bodyLimit({
      maxSize: bodyLimitBytes,
      onError: (c) =>
        c.json(
          new ApiError(
            413,
            'BODY_TOO_LARGE',
            `request body is over the limit of ${bodyLimitBytes} bytes`,
          ).body(),
          413,
        ),
    }),
  );

  app.onError((error, c) => {
    const known = toApiError(error, 'request');
    if (known) {
      if (known.status >= 500) logger.warn({ code: known.code, err: known.message }, 'request failed');
      return c.json(known.body(), known.status as 400);
    }
    logger.error({ err: error, method: c.req.method, path: c.req.path }, 'unexpected error');
    return c.json(
      { status: 'error', error: 'internal server error; see the server log', code: 'INTERNAL' },
      500,
    );
  });

  app.notFound((c) =>
    c.json(
      { status: 'error', error: `no route ${c.req.method} ${c.req.path}; see /docs`, code: 'NOT_FOUND' },
      404,
    ),
  );

  // --- Helpers ---
  const deployed = async (): Promise<{ version: string | null; strategy: RunnableStrategy }> => {
    let current: Awaited<ReturnType<typeof strategies.current>>;
    try {
      current = await strategies.current();
    } catch (e) {
      throw (
        toApiError(e, 'deployed') ??
        new ApiError(503, 'STRATEGY_UNAVAILABLE', `the deployed strategy cannot be loaded: ${message(e)}`)
      );
    }
    if (!current) {
      const status = strategies.status();
      throw new ApiError(
        503,
        'NO_STRATEGY',
        status.state === 'loading'
          ? 'the deployed strategy is still loading; retry in a few seconds'
          : status.state === 'error'
            ? `the deployed strategy cannot be loaded: ${status.error ?? 'unknown error'}`
            : 'no strategy is deployed; deploy one (po deploy) or send one in `config`',
      );
    }
    return current;
  };

  const requestBundle = (config: string | Record<string, unknown>): Promise<StrategyBundle> => {
    const text = typeof config === 'string' ? config : JSON.stringify(config);
    const hash = createHash('sha256').update(text).digest('hex');
    const now = Date.now();
    const hit = bundles.get(hash);
    if (hit && now - hit.at < BUNDLE_TTL_MS) {
      bundles.delete(hash);
      bundles.set(hash, hit);
      return hit.bundle;
    }
    const bundle = bundleFromFiles(text, options.readModelFile);
    bundles.set(hash, { bundle, at: now });
    bundle.catch(() => bundles.delete(hash));
    while (bundles.size > BUNDLE_CACHE_SIZE) bundles.delete(bundles.keys().next().value!);
    return bundle;
  };

  /** Runs one cycle with the time limit; records metrics and the last cycle. */
  const runCycle = async (
    mode: 'optimize' | 'simulate',
    source: 'deployed' | 'request',
    run: (limits: { maxTimeMs: number; deadline: number; signal: AbortSignal }) => Promise<CycleResult>,
  ): Promise<CycleResult> => {
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => {
      const reason = new Error(
        `the ${mode} request overran its time limit of ${timeoutMs} ms and was stopped; retry, or raise PO_API_REQUEST_TIMEOUT_MS`,
      );
      reason.name = 'TimeoutError';
      controller.abort(reason);
    }, hardTimeoutMs);
    let outcome: CycleOutcome = 'error';
    let result: CycleResult | undefined;
    try {
      result = await run({
        maxTimeMs: timeoutMs,
        deadline: Date.now() + timeoutMs,
        signal: controller.signal,
      });
      outcome = result.optimizer.timed_out ? 'timed_out' : 'success';
      return result;
    } catch (e) {
      const mapped = controller.signal.aborted
        ? new ApiError(504, 'TIMEOUT', (controller.signal.reason as Error).message)
        : toApiError(e, source);
      outcome = !mapped
        ? 'error'
        : mapped.status === 504
          ? 'timeout'
          : mapped.status === 503
            ? 'unavailable'
            : mapped.status === 422
              ? 'failed'
              : 'invalid';
      throw mapped ?? e;
    } finally {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      metrics.cycle(mode, outcome, seconds, result);
      lastCycle = {
        at: new Date().toISOString(),
        mode,
        status: outcome,
        duration_ms: Math.round(seconds * 1000),
        config_version: result?.config_version ?? null,
        source,
      };
    }
  };

  // --- Cycles ---
  app.post('/optimize', async (c) => {
    const body = await readJson(
      c,
      optimizeRequestSchema,
      'send {"input_data": {...}} (and optionally "config")',
    );
    const state = body.input_data as PlantState;
    const config = body.config;
    const result = config
      ? await runCycle('optimize', 'request', async ({ maxTimeMs, deadline, signal }) =>
          executor.run(
            { kind: 'optimize', bundle: await requestBundle(config), state, maxTimeMs, deadline },
            { signal },
          ),
        )
      : await runCycle('optimize', 'deployed', async ({ maxTimeMs, signal }) =>
          (await deployed()).strategy.optimize(state, { maxTimeMs, signal }),
        );
    return c.json(result);
  });

  app.post('/simulate', async (c) => {
    const body = await readJson(c, simulateRequestSchema, 'send {"input_data": {...}, "decisions": {...}}');
    const state = body.input_data as PlantState;
    const config = body.config;
    const decisions = body.decisions;
    const result = config
      ? await runCycle('simulate', 'request', async ({ signal }) =>
          executor.run(
            {
              kind: 'simulate',
              bundle: await requestBundle(config),
              state,
              ...(decisions ? { decisions } : {}),
            },
            { signal },
          ),
        )
      : await runCycle('simulate', 'deployed', async () =>
          (await deployed()).strategy.simulate(state, decisions),
        );
    return c.json(result);
  });

  // --- Strategies ---
  app.post('/strategies/validate', async (c) => {
    const text = await c.req.text();
    if (text.trim() === '') {
      throw new ApiError(400, 'BAD_REQUEST', 'request body is empty; send the strategy as YAML text or JSON');
    }
    let config: string | Record<string, unknown> = text;
    if (/json/i.test(c.req.header('content-type') ?? '')) {
      const parsed = parseJson(text);
      // `{ "config": ... }` as in /optimize, or the strategy itself.
      config =
        isRecord(parsed) && 'config' in parsed && !('variables' in parsed)
          ? (parsed.config as string | Record<string, unknown>)
          : (parsed as Record<string, unknown>);
    }
    const bundle = await requestBundle(config);
    const report = await executor.run({
      kind: 'validate',
      bundle,
      models: options.readModelFile !== undefined,
    });
    return c.json(report);
  });

  app.get('/strategies/deployed', async (c) => {
    const { version, strategy } = await deployed();
    return c.json({
      status: 'success',
      version,
      decision_variables: strategy.decisionVariables,
      warnings: strategy.warnings,
      model_files: strategy.modelFiles,
      source: strategies.status().source ?? null,
      loaded_at: strategies.status().loadedAt ?? null,
    });
  });

  // --- Results ---
  const store = () => {
    if (!results) {
      throw new ApiError(
        501,
        'NOT_CONFIGURED',
        'this API has no results store; start it with a database (DATABASE_URL or the embedded one) to keep results',
      );
    }
    return results;
  };
  const storeCall = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e) {
      logger.warn({ err: message(e) }, 'results store failed');
      throw new ApiError(503, 'STORE_UNAVAILABLE', `the results store is unavailable: ${message(e)}`);
    }
  };

  app.get('/results', async (c) => {
    const results = store();
    const parsed = resultsQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new ApiError(400, 'BAD_REQUEST', 'invalid query', zodIssues(parsed.error));
    const { since, limit } = parsed.data;
    const rows = await storeCall(() => results.recent({ since: since ? new Date(since) : undefined, limit }));
    return c.json({ status: 'success', count: rows.length, results: rows });
  });

  app.get('/results/:id', async (c) => {
    const results = store();
    const id = c.req.param('id');
    const row = await storeCall(() => results.get(id));
    if (!row) throw new ApiError(404, 'NOT_FOUND', `no result with id '${id}'`);
    return c.json({ status: 'success', result: row });
  });

  app.post('/results/:id/feedback', async (c) => {
    const results = store();
    const id = c.req.param('id');
    const feedback = await readJson(
      c,
      feedbackRequestSchema,
      'send {"decision": "accepted", "operator": "..."}',
    );
    if (feedback.decision === 'modified' && !feedback.values) {
      throw new ApiError(400, 'BAD_REQUEST', 'a modified decision needs the applied setpoints in `values`', [
        { path: 'values', message: 'is required when decision is modified' },
      ]);
    }
    const stored = await storeCall(() => results.addFeedback(id, feedback));
    if (stored === undefined) throw new ApiError(404, 'NOT_FOUND', `no result with id '${id}'`);
    return c.json({ status: 'success', feedback: stored }, 201);
  });

  // --- Operations ---
  app.get('/health', async (c) => {
    const reasons: string[] = [];
    const strategy = strategies.status();
    if (strategy.state !== 'loaded') {
      reasons.push(
        strategy.state === 'none'
          ? 'no strategy is deployed'
          : strategy.state === 'loading'
            ? 'the deployed strategy is loading'
            : `the deployed strategy cannot be loaded: ${strategy.error ?? 'unknown error'}`,
      );
    } else if (strategy.error) {
      reasons.push(`serving version ${strategy.version} after a failed reload: ${strategy.error}`);
    }
    let checks: Record<string, unknown> = {};
    if (options.health) {
      try {
        checks = await withTimeout(options.health(), HEALTH_SECTIONS_TIMEOUT_MS);
      } catch (e) {
        reasons.push(`health checks failed: ${message(e)}`);
      }
      for (const [name, section] of Object.entries(checks)) {
        if (isRecord(section) && section.ok === false) {
          reasons.push(`${name}: ${typeof section.reason === 'string' ? section.reason : 'not ok'}`);
        }
      }
    }
    return c.json({
      status: reasons.length === 0 ? 'ok' : 'degraded',
      timestamp: new Date().toISOString(),
      uptime_s: Math.round(process.uptime()),
      versions: { api: API_VERSION, node: process.versions.node, strategy: strategy.version },
      strategy,
      pool: executor.stats(),
      last_cycle: lastCycle,
      ...checks,
      degraded_reasons: reasons,
    });
  });

  app.get('/cache/stats', (c) => c.json(cache ? (cache.stats() as object) : { enabled: false }));

  app.post('/cache/clear', async (c) => {
    const text = await c.req.text();
    let kind = c.req.query('kind') ?? c.req.query('cache_type');
    if (text.trim() !== '') {
      const parsed = cacheClearRequestSchema.safeParse(parseJson(text));
      if (!parsed.success) throw new ApiError(400, 'BAD_REQUEST', 'invalid body', zodIssues(parsed.error));
      kind = parsed.data.kind ?? parsed.data.cache_type ?? kind;
    }
    if (!cache) return c.json({ status: 'success', message: 'no cache is configured; nothing to clear' });
    try {
      await cache.clear(kind);
    } catch (e) {
      throw new ApiError(400, 'BAD_REQUEST', `cannot clear the cache: ${message(e)}`);
    }
    return c.json({ status: 'success', message: kind ? `Cache '${kind}' cleared` : 'Cache cleared' });
  });

  app.post('/cache/cleanup', async (c) => {
    if (!cache?.cleanup)
      return c.json({ status: 'success', message: 'no cache is configured; nothing to clean up' });
    const removed = await cache.cleanup();
    return c.json({ status: 'success', message: `Expired cache entries removed: ${String(removed)}` });
  });

  app.get('/metrics', async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });

  app.get('/openapi.json', (c) => {
    openapi ??= openApiDocument({ version: API_VERSION, tokenRequired: token !== undefined });
    return c.json(openapi);
  });

  app.get('/docs', (c) => {
    openapi ??= openApiDocument({ version: API_VERSION, tokenRequired: token !== undefined });
    docs ??= docsPage(openapi);
    return c.html(docs);
  });

  return app;
}

/** Reads and validates a JSON body: empty, malformed and invalid bodies are 400s that say what to send. */
async function readJson<S extends z.ZodType>(c: Context, schema: S, hint: string): Promise<z.output<S>> {
  const text = await c.req.text();
  if (text.trim() === '') throw new ApiError(400, 'BAD_REQUEST', `request body is empty; ${hint}`);
  const parsed = schema.safeParse(parseJson(text));
  if (!parsed.success) {
    const details = zodIssues(parsed.error);
    const missing = details.find((d) => d.path === 'input_data' && d.message === 'is required');
    throw new ApiError(
      400,
      'BAD_REQUEST',
      missing ? `input_data is required; ${hint}` : `invalid request body; ${hint}`,
      details,
    );
  }
  return parsed.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, 'BAD_REQUEST', `request body is not valid JSON: ${message(e)}`);
  }
}

function knownRoute(c: Context): boolean {
  return routePath(c) !== '*' && routePath(c) !== '/*';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
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
