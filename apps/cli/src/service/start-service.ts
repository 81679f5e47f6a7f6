import { type CyclePool, createCyclePool } from '@po/api';
import { createLastRunState, type LastRunState } from '@po/cache';
import { type Logger, silentLogger } from '@po/core';
import { createRunner, type ResultSink, type Runner } from '@po/runner';
import type { Settings } from '@po/settings';
import { openPlantData, openServiceDatabase, type PlantData, type ServiceDatabase } from './database.ts';
import { requirePostgres, runsFleet } from './fleet.ts';
import type { Fleet } from './fleet-worker.ts';
import { type HttpServer, serveHttp } from './http.ts';
import { strategyLimitsOf } from './limits.ts';
import { httpReplays } from './replays.ts';
import { fileStrategies, type StrategyBackend, storeStrategies } from './strategies.ts';
import { storeVersions } from './versions.ts';

/** What the service runs: the HTTP API and the continuous runner (hybrid), or one of them. */
export type ServiceMode = Settings['mode'];

export interface ServiceOptions {
  /** Default `settings.mode`. */
  mode?: ServiceMode;
  /** Default silent; `po start` and the bins pass pino. */
  logger?: Logger;
}

/** A running service. */
export interface Service {
  readonly mode: ServiceMode;
  /** Where the HTTP API listens; undefined in continuous mode. */
  readonly url: string | undefined;
  /** Takes no new work, lets the cycle in progress finish and be recorded, then closes everything. */
  stop(): Promise<void>;
}

/** How often the deploy pointer (or the strategy file) is checked, so a new version is picked up without a restart. */
export const POINTER_POLL_MS = 15_000;
/** Bound on a graceful stop (the cycle in progress finishes, results are flushed). */
export const STOP_TIMEOUT_MS = 20_000;

/** Everything the service opened, closed in `stop` (also when starting fails half-way). */
interface Parts {
  pool?: CyclePool;
  strategies?: StrategyBackend;
  poll?: NodeJS.Timeout;
  database?: ServiceDatabase;
  plant?: PlantData;
  runner?: Runner;
  fleet?: Fleet;
  server?: HttpServer;
  versions?: { close(): Promise<void> };
}

/**
 * The composition root of po: builds the worker pool, the strategy source (the store's deployed
 * version through the cache, or `strategy.file`), the database, the runner and the HTTP API from
 * the settings, and starts them. `po start`, `po-api` and `po-runner` all run this. A deployed
 * strategy that does not load is not fatal (`/health` says why, the runner waits); a database
 * that cannot be opened, or a port in use, is, after closing what was opened.
 */
export async function startService(settings: Settings, options: ServiceOptions = {}): Promise<Service> {
  const mode = options.mode ?? settings.mode;
  const logger = options.logger ?? silentLogger;
  const parts: Parts = {};
  const stop = () => stopParts(parts);
  const fleet = runsFleet(settings, mode);
  if (fleet) requirePostgres(settings, mode);
  const runsLoop = mode !== 'api';
  let opening: Promise<ServiceDatabase> | undefined;
  try {
    // The database opens (a new PGlite folder is initialised in a child process) while the
    // strategy loads and compiles in the pool: the two overlap on two cores.
    opening = runsLoop || settings.database.url ? openServiceDatabase(settings, logger) : undefined;
    opening?.catch(() => {}); // awaited below; a failure must not surface as an unhandled rejection first
    const pool = (parts.pool = createCyclePool({
      threads: settings.api.threads,
      limits: strategyLimitsOf(settings),
      workerMemoryMb: settings.limits.worker_memory_mb,
    }));
    const lastRun = createLastRunState({ metadataDir: settings.metadata_dir });
    await lastRun
      .load()
      .catch((e: unknown) => logger.warn({ err: e }, '[po] last-run timestamp not readable'));
    const { file } = settings.strategy;
    // A fleet's units run on their own pointers, else on the fleet-wide version: its absence is
    // told once, when the fleet knows its units, not as an error every poll.
    let undeployed = false;
    const strategies = (parts.strategies = file
      ? await fileStrategies({ ...settings.strategy, file }, { pool, logger })
      : await storeStrategies(settings, {
          pool,
          lastRun,
          logger,
          ...(fleet
            ? {
                onUndeployed: () => {
                  undeployed = true;
                  void parts.fleet
                    ?.explainUndeployed()
                    .catch((e: unknown) => logger.warn({ err: e }, '[po/fleet] units not listed'));
                },
              }
            : {}),
        }));
    await strategies.refresh();
    parts.poll = setInterval(() => void strategies.refresh(), POINTER_POLL_MS);

    const database = await opening;
    parts.database = database;
    if (fleet && database) {
      const { db, results } = database;
      const { startFleet } = await import('./fleet-worker.ts');
      parts.fleet = await startFleet(settings, { db, results, pool, main: strategies, logger });
      const { fleet: started } = parts;
      if (undeployed)
        await started
          .explainUndeployed()
          .catch((e: unknown) => logger.warn({ err: e }, '[po/fleet] units not listed'));
      clearInterval(parts.poll);
      parts.poll = setInterval(() => {
        void strategies.refresh();
        void started.refresh();
      }, POINTER_POLL_MS);
    } else if (runsLoop && database) {
      const plant = (parts.plant = await openPlantData(database, settings, logger));
      parts.runner = startRunner(settings, { strategies, database, plant, lastRun, logger });
    }
    if (mode !== 'continuous' && mode !== 'worker') {
      const { runner } = parts;
      const versions = file ? undefined : (parts.versions = await storeVersions(settings, strategies));
      const replays = database ? httpReplays(settings, { pool, db: database.db, logger }) : undefined;
      parts.server = await serveHttp(settings, {
        strategies,
        versions,
        mode,
        executor: pool,
        database,
        runner,
        replays,
        units: parts.fleet?.worker,
        unitStrategy: parts.fleet?.strategyOf,
        logger,
      });
      logger.info({ url: parts.server.url, mode }, '[po] listening');
    } else {
      logger.info({ mode }, `[po] running (no HTTP API in ${mode} mode)`);
    }
  } catch (e) {
    // A database still opening when something else failed is closed with the rest.
    parts.database ??= await opening?.catch(() => undefined);
    await stop();
    throw e;
  }
  return { mode, url: parts.server?.url, stop };
}

/** The runner on the service's database; each recorded cycle also moves the last-run timestamp file. */
function startRunner(
  settings: Settings,
  parts: {
    strategies: StrategyBackend;
    database: ServiceDatabase;
    plant: PlantData;
    lastRun: LastRunState;
    logger: Logger;
  },
): Runner {
  const { results } = parts.database;
  const { logger, lastRun } = parts;
  const sink: ResultSink = {
    lastProcessed: () => results.lastProcessedTime(),
    async recordCycle(record) {
      const fresh = await results.recordCycle(record);
      await lastRun
        .set(record.dataTimestamp)
        .catch((e: unknown) => logger.warn({ err: e }, '[po] last-run file'));
      return fresh;
    },
  };
  const runner = createRunner({
    strategies: parts.strategies,
    data: parts.plant.source,
    results: sink,
    logger,
    intervalMs: settings.runner.cycle_interval_s * 1000,
    ...(settings.runner.mode ? { mode: settings.runner.mode } : {}),
    ...(parts.strategies.stats ? { stats: parts.strategies.stats } : {}),
  });
  runner.start();
  return runner;
}

async function stopParts(parts: Parts): Promise<void> {
  clearInterval(parts.poll);
  parts.plant?.stop();
  await Promise.all([
    parts.server?.close(),
    parts.runner?.stop({ timeoutMs: STOP_TIMEOUT_MS }),
    parts.fleet?.stop(STOP_TIMEOUT_MS),
  ]);
  await parts.database?.close();
  await parts.versions?.close();
  await parts.strategies?.close();
  await parts.pool?.close();
}
