import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import type { Logger } from '@po/core';
import { localModelFiles } from '@po/models';
import { loadSettings } from '@po/settings';
import { createApp } from './app.ts';
import {
  bundleFromFiles,
  type CyclePool,
  createCyclePool,
  type PooledStrategy,
  pooledStrategy,
} from './pool/index.ts';
import type { SourceStatus } from './schemas.ts';
import type { ApiSettings, StrategySource } from './types.ts';

/** What the standalone server reads from the environment. */
export interface ServerSettings extends Required<Pick<ApiSettings, 'bodyLimitBytes' | 'requestTimeoutMs'>> {
  apiToken: string | undefined;
  host: string;
  port: number;
  /** Worker threads of the cycle pool. */
  threads: number | undefined;
  /** The strategy served as deployed (YAML). */
  strategyFile: string;
  /** Folder with the strategy's model files (laid out like the bucket). */
  modelsDir: string;
  /** Version reported for the strategy file. */
  strategyVersion: string | null;
}

/**
 * The standalone server's settings: @po/settings (config/app.yaml, then PO_HOST, PO_PORT,
 * PO_API_TOKEN, PO_THREADS, ... as documented there; a wrong one throws `SettingsError` naming
 * it), plus the strategy it serves: `PO_STRATEGY_FILE` (config/demo/strategy.yaml),
 * `PO_MODELS_DIR` (the strategy file's folder) and `PO_STRATEGY_VERSION`.
 */
export function readServerSettings(env: NodeJS.ProcessEnv = process.env): ServerSettings {
  const settings = loadSettings({ env });
  const strategyFile = resolve(env.PO_STRATEGY_FILE ?? 'config/demo/strategy.yaml');
  return {
    apiToken: settings.api.token,
    host: settings.api.host,
    port: settings.api.port,
    bodyLimitBytes: settings.api.body_limit_bytes,
    requestTimeoutMs: settings.api.request_timeout_ms,
    threads: settings.api.threads,
    strategyFile,
    modelsDir: resolve(env.PO_MODELS_DIR ?? resolve(strategyFile, '..')),
    strategyVersion: env.PO_STRATEGY_VERSION || null,
  };
}

/**
 * A strategy source over one local strategy file, compiled in the pool at start. The
 * storage-backed source (deploy pointer, versions, cache) replaces it in `po start`.
 */
export function fileStrategySource(
  pool: CyclePool,
  settings: ServerSettings,
): StrategySource & {
  load(): Promise<void>;
} {
  let strategy: PooledStrategy | undefined;
  let status: SourceStatus = {
    state: 'loading',
    version: settings.strategyVersion,
    source: `file:${settings.strategyFile}`,
  };
  return {
    async load() {
      try {
        const text = await readFile(settings.strategyFile, 'utf8');
        const bundle = await bundleFromFiles(text, localModelFiles(settings.modelsDir), {
          version: settings.strategyVersion,
        });
        strategy = await pooledStrategy(pool, bundle);
        await pool.warm(bundle);
        status = { ...status, state: 'loaded', loadedAt: new Date().toISOString() };
      } catch (e) {
        status = { ...status, state: 'error', error: e instanceof Error ? e.message : String(e) };
        throw e;
      }
    },
    async current() {
      return strategy ? { version: strategy.version, strategy } : undefined;
    },
    status: () => status,
  };
}

/** Starts the standalone API: pool, strategy file, HTTP server. Resolves once listening. */
export async function startServer(
  settings: ServerSettings,
  logger: Logger,
): Promise<{ server: ServerType; pool: CyclePool; close(): Promise<void> }> {
  const pool = createCyclePool(settings.threads ? { threads: settings.threads } : {});
  const strategies = fileStrategySource(pool, settings);
  strategies.load().then(
    () => logger.info({ strategy: settings.strategyFile }, 'strategy loaded'),
    (e: unknown) => logger.error({ err: e, strategy: settings.strategyFile }, 'strategy failed to load'),
  );
  const app = createApp({
    strategies,
    executor: pool,
    readModelFile: localModelFiles(settings.modelsDir),
    settings,
    logger,
  });
  const server = await new Promise<ServerType>((ready) => {
    const s = serve({ fetch: app.fetch, port: settings.port, hostname: settings.host }, () => ready(s));
  });
  logger.info(
    { host: settings.host, port: settings.port, token: settings.apiToken !== undefined },
    'listening',
  );
  return {
    server,
    pool,
    async close() {
      await new Promise<void>((done) => server.close(() => done()));
      await pool.close();
    },
  };
}
