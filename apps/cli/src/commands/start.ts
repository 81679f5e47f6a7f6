import { serve } from '@hono/node-server';
import {
  bundleFromFiles,
  createApp,
  createCyclePool,
  type PooledStrategy,
  pooledStrategy,
  type ResultsStore,
  type SourceStatus,
} from '@po/api';
import { cacheReport, createArtifactCache, createDeployment, createLastRunState } from '@po/cache';
import {
  createProcessDataSource,
  createResultStore,
  type Database,
  openDatabase,
  type ResultStore,
} from '@po/db';
import { createRunner, type ResultSink, type Runner, seedDemo, startDemoFeeder } from '@po/runner';
import { describeSettings } from '@po/settings';
import type { Command } from 'commander';
import { CliError, type Output } from '../io.ts';
import { createLogger } from '../logger.ts';
import { deployedVersion, openStore, readSettings, type StoreFlags, storeModelReader } from './context.ts';

interface StartFlags extends StoreFlags {
  mode?: string;
  host?: string;
  port?: string;
  debug?: boolean;
}

/** How often the deploy pointer is checked, so a new version is picked up without a restart. */
const POINTER_POLL_MS = 15_000;
/** Bound on a graceful stop (the cycle in progress finishes, results are flushed). */
const STOP_TIMEOUT_MS = 20_000;

/**
 * `po start`: the service. hybrid runs the HTTP API and the continuous runner in one process
 * (cycles of both run in one worker pool, off the event loop); api and continuous run one.
 */
export function registerStartCommand(program: Command, output: Output): void {
  program
    .command('start')
    .description('run the service: the HTTP API and/or the continuous optimization loop')
    .option('--mode <mode>', 'hybrid (API + runner), api, or continuous (runner only)')
    .option('--host <host>', 'address to listen on (PO_HOST)')
    .option('--port <port>', 'port to listen on (PO_PORT, default 5000; 0 picks a free one)')
    .option('--debug', 'debug logging')
    .option('--store <kind>', 'local or s3 (PO_STORE)')
    .option('--store-dir <dir>', 'folder of the local store (PO_LOCAL_STORE_DIR)')
    .option('--metadata-dir <dir>', 'folder of deployed_config_version.yaml (PO_METADATA_DIR)')
    .option('--settings <file>', 'settings file (default config/app.yaml)')
    .action(async (flags: StartFlags) => {
      const settings = readSettings(flags, {
        mode: flags.mode,
        'api.host': flags.host,
        'api.port': flags.port,
        'log.level': flags.debug ? 'debug' : undefined,
      });
      const logger = createLogger(settings, output.isTTY);
      logger.info({ settings: describeSettings(settings) }, '[po] starting');
      const service = await startService(settings, logger);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, '[po] stopping: no new work; the cycle in progress finishes');
          const force = setTimeout(() => {
            logger.error('[po] could not stop in time; exiting');
            process.exit(1);
          }, STOP_TIMEOUT_MS + 10_000);
          force.unref();
          service.stop().then(
            () => {
              logger.info('[po] stopped');
              resolve();
            },
            (e: unknown) => {
              logger.error({ err: e }, '[po] error while stopping');
              resolve();
            },
          );
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

type Settings = ReturnType<typeof readSettings>;

/** Whether the database answers now (a trivial query), for /health. */
async function databaseHealth(db: Database): Promise<Record<string, unknown>> {
  try {
    await db.query('SELECT 1');
    return { ok: true, kind: db.kind, target: db.target };
  } catch (e) {
    return { ok: false, kind: db.kind, target: db.target, reason: (e as Error).message.split('\n')[0] };
  }
}

/** The results store as the API reads it (string ids; an unknown id is a 404, not an error). */
function httpResults(results: ResultStore): ResultsStore {
  const withStringId = <T extends { id: number }>(r: T): { id: string } & Record<string, unknown> => ({
    ...r,
    id: String(r.id),
  });
  return {
    recent: async ({ since, limit }) =>
      (await results.recent({ ...(since ? { since } : {}), limit })).map(withStringId),
    get: async (id) => {
      const r = await results.get(id);
      return r && withStringId(r);
    },
    addFeedback: async (id, feedback) => {
      try {
        return await results.addFeedback(id, feedback);
      } catch (e) {
        if ((e as { code?: string }).code === 'UNKNOWN_RESULT') return undefined;
        throw e;
      }
    },
  };
}
type Logger = ReturnType<typeof createLogger>;

async function startService(settings: Settings, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const runsApi = settings.mode !== 'continuous';
  const runsLoop = settings.mode !== 'api';
  const store = await openStore(settings);
  const cache = createArtifactCache({ store, logger });
  const pool = createCyclePool({ threads: settings.api.threads });
  const lastRun = createLastRunState({ metadataDir: settings.metadata_dir });
  await lastRun.load().catch((e: unknown) => logger.warn({ err: e }, '[po] last-run timestamp not readable'));

  // The deployed strategy: loaded completely (every model, compiled in every worker) before it serves.
  const deployment = createDeployment<PooledStrategy>({
    cache,
    logger,
    pointer: () => deployedVersion(store, settings),
    load: async (version, reader) => {
      const text = new TextDecoder().decode(await reader.strategy());
      const bundle = await bundleFromFiles(text, reader.modelFile, { version });
      const strategy = await pooledStrategy(pool, bundle);
      await pool.warm(bundle);
      return strategy;
    },
  });
  const refresh = async () => {
    try {
      const r = await deployment.refresh();
      if (r.changed)
        logger.info({ version: r.version, previous: r.previousVersion }, '[po] strategy deployed');
    } catch (e) {
      logger.error({ err: e }, '[po] deployed strategy not (re)loaded; the last good version keeps serving');
    }
  };
  await refresh();
  const poll = setInterval(() => void refresh(), POINTER_POLL_MS);

  const sourceStatus = (): SourceStatus => {
    const s = deployment.status();
    const current = deployment.current();
    return {
      state: current ? 'loaded' : s.loading ? 'loading' : s.lastError ? 'error' : 'none',
      version: current?.version ?? null,
      source: store.location,
      ...(current ? { loadedAt: current.loadedAt.toISOString() } : {}),
      ...(s.lastError ? { error: `${s.lastError.version ?? ''} ${s.lastError.message}`.trim() } : {}),
    };
  };

  // The database: PostgreSQL (DATABASE_URL) or the embedded PGlite, seeded and fed by the demo kiln.
  let db: Database | undefined;
  let runner: Runner | undefined;
  let feeder: { stop(): void } | undefined;
  const intervalMs = settings.runner.cycle_interval_s * 1000;
  if (runsLoop || settings.database.url) {
    db = await openDatabase({ url: settings.database.url, dataDir: settings.database.pglite_dir, logger });
  }
  const results = db
    ? await createResultStore(db, {
        tables: { results: settings.runner.results_table },
        dataTable: settings.runner.data_table,
      })
    : undefined;
  if (db && runsLoop && results) {
    let data = createProcessDataSource(db, { table: settings.runner.data_table });
    if (db.kind === 'pglite') {
      const demo = await seedDemo(db, {
        table: settings.runner.data_table,
        intervalS: settings.runner.cycle_interval_s,
      });
      data = demo.source;
      feeder = startDemoFeeder({ source: demo.source, kiln: demo.kiln, intervalMs, logger });
      logger.info(
        { database: db.target, seeded: demo.inserted },
        '[po] embedded demo database, fed by the demo kiln',
      );
    }
    const sink: ResultSink = {
      lastProcessed: () => results.lastProcessed(),
      async recordCycle(record) {
        const fresh = await results.recordCycle(record);
        await lastRun
          .set(record.dataTimestamp)
          .catch((e: unknown) => logger.warn({ err: e }, '[po] last-run file'));
        return fresh;
      },
    };
    runner = createRunner({
      strategies: {
        async current() {
          const current = deployment.current();
          if (!current)
            throw new Error(
              `no strategy is deployed (${sourceStatus().error ?? 'deploy one: po deploy <version>'})`,
            );
          return { version: current.version, strategy: current.value };
        },
      },
      data,
      results: sink,
      logger,
      intervalMs,
      ...(settings.runner.mode ? { mode: settings.runner.mode } : {}),
      stats: () => cache.stats().totals,
    });
    runner.start();
  }

  let closeServer: (() => Promise<void>) | undefined;
  const stopAll = async () => {
    clearInterval(poll);
    feeder?.stop();
    await Promise.all([closeServer?.(), runner?.stop({ timeoutMs: STOP_TIMEOUT_MS })]);
    await deployment.close();
    await pool.close();
    await db?.close();
    await cache.close();
    await store.close?.();
  };
  if (runsApi) {
    const app = createApp({
      strategies: {
        current: async () => {
          const current = deployment.current();
          return current ? { version: current.version, strategy: current.value } : undefined;
        },
        status: sourceStatus,
      },
      executor: pool,
      readModelFile: storeModelReader(store),
      ...(results ? { results: httpResults(results) } : {}),
      cache: {
        stats: () => cacheReport({ cache, deployment, lastRun }),
        clear: (kind?: string) => cache.clear(kind as Parameters<typeof cache.clear>[0]),
        cleanup: () => cache.cleanup(),
      },
      health: async () => ({
        store: { ok: cache.health().reachable, ...cache.health() },
        ...(runner ? { runner: { ok: runner.status().healthy, ...runner.status() } } : {}),
        ...(db ? { database: await databaseHealth(db) } : {}),
      }),
      settings: {
        ...(settings.api.token ? { apiToken: settings.api.token } : {}),
        bodyLimitBytes: settings.api.body_limit_bytes,
        requestTimeoutMs: settings.api.request_timeout_ms,
      },
      logger,
    });
    let server: ReturnType<typeof serve>;
    try {
      server = await new Promise<ReturnType<typeof serve>>((ready, fail) => {
        const s = serve({ fetch: app.fetch, port: settings.api.port, hostname: settings.api.host }, () =>
          ready(s),
        );
        s.once('error', fail);
      });
    } catch (e) {
      await stopAll();
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'EADDRINUSE'
          ? 'the port is in use (another po?); choose one with --port or PO_PORT'
          : (e as Error).message;
      throw new CliError(`[po] cannot listen on ${settings.api.host}:${settings.api.port}: ${why}`);
    }
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : settings.api.port;
    logger.info({ url: `http://${settings.api.host}:${port}`, mode: settings.mode }, '[po] listening');
    closeServer = () => new Promise<void>((done) => server.close(() => done()));
  } else {
    logger.info({ mode: settings.mode }, '[po] running (no HTTP API in continuous mode)');
  }

  return { stop: stopAll };
}
