import { silentLogger } from '@po/core';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { timing } from 'hono/timing';
import { createCycles } from './cycles.ts';
import { httpError, notFound, onError } from './errors.ts';
import { type ApiMetrics, createMetrics } from './metrics.ts';
import { bearerToken } from './middleware/auth.ts';
import { observe } from './middleware/observe.ts';
import type { Operation } from './openapi.ts';
import { cacheOperations, cacheRoutes } from './routes/cache.ts';
import { docsOperations, docsRoutes } from './routes/docs.ts';
import { healthOperations, healthRoutes } from './routes/health.ts';
import { metricsOperations, metricsRoutes } from './routes/metrics.ts';
import { optimizeOperations, optimizeRoutes } from './routes/optimize.ts';
import { resultsOperations, resultsRoutes } from './routes/results.ts';
import { simulateOperations, simulateRoutes } from './routes/simulate.ts';
import { strategiesOperations, strategiesRoutes } from './routes/strategies.ts';
import { unitsOperations, unitsRoutes } from './routes/units.ts';
import { deployedStrategy, requestBundles } from './strategy-sources.ts';
import type { AppOptions } from './types.ts';

export { API_VERSION } from './version.ts';

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;

/** Every route, in the order the OpenAPI document lists them. */
const OPERATIONS: readonly Operation[] = [
  ...optimizeOperations,
  ...simulateOperations,
  ...strategiesOperations,
  ...resultsOperations,
  ...unitsOperations,
  ...healthOperations,
  ...cacheOperations,
  ...metricsOperations,
  ...docsOperations,
];

/** The app `createApp` returns, plus what its owner may need. */
export type PoApp = Hono & {
  /** The Prometheus registry (for tests or to merge with the runner's). */
  readonly metrics: ApiMetrics;
};

/**
 * Creates the HTTP app: Hono middleware (request id, Server-Timing, metrics, bearer token, body
 * limit) and one route module per concern. Nothing starts here: serve `app.fetch` with
 * `@hono/node-server`, or call `app.request()` in tests.
 */
export function createApp(options: AppOptions): PoApp {
  const { strategies, executor, results, cache } = options;
  const logger = options.logger ?? silentLogger;
  const token = options.settings?.apiToken || undefined;
  const maxBodyBytes = options.settings?.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const metrics = createMetrics({ executor, cache, units: options.units });
  const deployed = deployedStrategy(strategies);
  const requestBundle = requestBundles(options.readModelFile);
  const cycles = createCycles({
    deployed,
    requestBundle,
    executor,
    metrics,
    timeoutMs: options.settings?.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
  });

  const app = new Hono() as PoApp;
  Object.defineProperty(app, 'metrics', { value: metrics });
  app.use(requestId(), timing(), observe(metrics, logger));
  if (token) app.use(bearerToken(token));
  app.use(
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw httpError.bodyTooLarge(maxBodyBytes);
      },
    }),
  );
  app.onError(onError(logger));
  app.notFound(notFound);

  app.route('/optimize', optimizeRoutes(cycles));
  app.route('/simulate', simulateRoutes(cycles));
  app.route(
    '/strategies',
    strategiesRoutes({
      strategies,
      deployed,
      requestBundle,
      executor,
      withModels: options.readModelFile !== undefined,
    }),
  );
  app.route('/results', resultsRoutes(results, logger));
  app.route('/units', unitsRoutes(options.units, logger));
  app.route(
    '/health',
    healthRoutes({ strategies, executor, lastCycle: cycles.last, sections: options.health }),
  );
  app.route('/cache', cacheRoutes(cache));
  app.route('/metrics', metricsRoutes(metrics));
  app.route('/', docsRoutes(OPERATIONS, { tokenRequired: token !== undefined }));
  return app;
}
