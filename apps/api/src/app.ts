import { silentLogger } from '@po/core';
import { strategyLimits } from '@po/rto-engine';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { timing } from 'hono/timing';
import { createCycles } from './cycles.ts';
import { dashboardRoutes, isPagePath } from './dashboard/index.ts';
import { notFound, onError } from './errors.ts';
import { type ApiMetrics, createMetrics } from './metrics.ts';
import { authenticate, createAccess, requireRole } from './middleware/auth.ts';
import { observe } from './middleware/observe.ts';
import { bodySizeLimit, requestLimits } from './middleware/request-limits.ts';
import type { Operation } from './openapi.ts';
import { createRefusedBodyDrain } from './request.ts';
import { cacheOperations, cacheRoutes } from './routes/cache.ts';
import { deployOperations, deployRoutes } from './routes/deploy.ts';
import { docsOperations, docsRoutes } from './routes/docs.ts';
import { healthOperations, healthRoutes } from './routes/health.ts';
import { metricsOperations, metricsRoutes } from './routes/metrics.ts';
import { optimizeOperations, optimizeRoutes } from './routes/optimize.ts';
import { replaysOperations, replaysRoutes } from './routes/replays.ts';
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
  ...deployOperations,
  ...resultsOperations,
  ...replaysOperations,
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
  const access = createAccess(options.settings);
  const maxBodyBytes = options.settings?.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const drain = createRefusedBodyDrain();
  const metrics = createMetrics({
    executor,
    cache,
    modelMismatch: options.modelMismatch,
    units: options.units,
  });
  const deployed = deployedStrategy(strategies);
  const requestBundle = requestBundles(options.readModelFile, executor);
  const timeoutMs = options.settings?.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limits = strategyLimits(options.settings?.limits);
  const cycles = createCycles({ deployed, requestBundle, executor, metrics, timeoutMs });

  const app = new Hono() as PoApp;
  Object.defineProperty(app, 'metrics', { value: metrics });
  app.use(requestId(), timing(), observe(metrics, logger));
  app.use(authenticate(access, isPagePath));
  app.use(bodySizeLimit(maxBodyBytes, drain));
  app.use(requestLimits(timeoutMs, limits));
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
      limits,
      withModels: options.readModelFile !== undefined,
      maxBodyBytes,
      drain,
    }),
  );
  app.use('/results/:id/feedback', requireRole('operator', 'feedback on a recommendation'));
  app.route('/results', resultsRoutes(results, logger));
  app.route('/replays', replaysRoutes(options.replays, logger));
  app.use('/strategies/deploy', requireRole('engineer', 'deploying a strategy version'));
  app.route('/strategies/deploy', deployRoutes(options.versions, options.dashboard));
  app.route('/units', unitsRoutes(options.units, logger));
  app.route(
    '/health',
    healthRoutes({ strategies, executor, lastCycle: cycles.last, sections: options.health, cache }),
  );
  app.route('/cache', cacheRoutes(cache));
  app.route('/metrics', metricsRoutes(metrics));
  app.route('/', docsRoutes(OPERATIONS, { tokenRequired: access.required }));
  app.route(
    '/',
    dashboardRoutes({
      access,
      strategies,
      deployed,
      data: options.dashboard,
      results,
      versions: options.versions,
      health: options.health,
      serviceMode: options.serviceMode ?? 'api',
      staleAfterMs: 3 * 1000 * (options.cycleIntervalS ?? 60),
      simulate: (state, decisions) => cycles.simulate({ state, decisions }),
      simulateOn: (unitDeployed) => {
        const unitCycles = createCycles({
          deployed: unitDeployed,
          requestBundle,
          executor,
          metrics,
          timeoutMs,
        });
        return (state, decisions) => unitCycles.simulate({ state, decisions });
      },
      units: options.units,
      validate: async (text) =>
        executor.run({
          kind: 'validate',
          bundle: await requestBundle(text),
          models: options.readModelFile !== undefined,
        }),
      logger,
    }),
  );
  return app;
}
