import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  bundleFromFiles,
  type CacheControl,
  type CyclePool,
  type PooledStrategy,
  pooledStrategy,
} from '@po/api';
import { cacheReport, createArtifactCache, createDeployment, type LastRunState } from '@po/cache';
import {
  describeError,
  errorCode,
  type Logger,
  type ModelFileReader,
  type SourceStatus,
  type StrategySource,
} from '@po/core';
import { localModelFiles } from '@po/models';
import { type Settings, SettingsError } from '@po/settings';
import { deployedVersion, openStore, storeModelReader } from './store.ts';

/**
 * Where the service's strategy comes from, and what comes with it: the store (the deploy
 * pointer, versions read through the artifact cache) or a strategy file (`strategy.file`).
 * The HTTP API and the runner read the same source; a strategy serves only once it is
 * compiled in every worker of the pool.
 */
export interface StrategyBackend extends StrategySource<PooledStrategy> {
  /**
   * Loads the deployed version when it changed (the pointer, or the file's modification time),
   * completely, before it serves. Never rejects: a failed load is logged and shown in `status()`,
   * and the last good version keeps serving.
   */
  refresh(): Promise<void>;
  /** Reads model files by the path a strategy names, for strategies sent in requests. */
  readonly readModelFile: ModelFileReader;
  /** The artifact cache behind `/cache/*` (store only). */
  readonly cache?: CacheControl;
  /** Sections of `/health` (store only: whether the store answers). */
  health?(): Record<string, unknown>;
  /** Cache totals the runner logs every few cycles (store only). */
  stats?(): unknown;
  close(): Promise<void>;
}

/** A strategy compiled in a worker and then in every worker, so that no request or cycle pays for it. */
async function loadPooled(
  pool: CyclePool,
  text: string,
  readModelFile: ModelFileReader,
  version: string | null,
): Promise<PooledStrategy> {
  const bundle = await bundleFromFiles(text, readModelFile, { version });
  const strategy = await pooledStrategy(pool, bundle);
  await pool.warm(bundle);
  return strategy;
}

/** The deployed version of the configured store, through the artifact cache. */
export async function storeStrategies(
  settings: Settings,
  parts: {
    pool: CyclePool;
    lastRun: LastRunState;
    logger: Logger;
    /**
     * Called instead of logging an error each refresh when the pointer is readable and names no
     * version (a fleet, whose units may have pointers of their own): once, when that begins.
     * `/health` still says no version is deployed.
     */
    onUndeployed?: () => void;
  },
): Promise<StrategyBackend> {
  const { pool, logger } = parts;
  const store = await openStore(settings);
  const cache = createArtifactCache({ store, logger });
  // Whether the last pointer read found it readable and naming no version, and whether that was told.
  let undeployed = false;
  let told = false;
  const deployment = createDeployment<PooledStrategy>({
    cache,
    // The deployment logs each failed refresh; "no version deployed" is told by `onUndeployed` instead.
    logger: parts.onUndeployed ? unlessUndeployed(logger, () => undeployed) : logger,
    pointer: async () => {
      undeployed = false;
      const version = await deployedVersion(store, settings);
      undeployed = version === undefined;
      return version;
    },
    load: async (version, reader) =>
      loadPooled(pool, new TextDecoder().decode(await reader.strategy()), reader.modelFile, version),
  });
  const status = (): SourceStatus => {
    const s = deployment.status();
    const current = deployment.current();
    // A fleet whose pointer names no version: nothing is deployed fleet-wide (its units have their
    // own pointers), which is no error; an unreadable pointer or a failed load still is.
    const none = !current && undeployed && parts.onUndeployed !== undefined;
    return {
      state: current ? 'loaded' : s.loading ? 'loading' : s.lastError && !none ? 'error' : 'none',
      version: current?.version ?? null,
      source: store.location,
      ...(current ? { loadedAt: current.loadedAt.toISOString() } : {}),
      ...(s.lastError && !none
        ? { error: `${s.lastError.version ?? ''} ${s.lastError.message}`.trim() }
        : {}),
    };
  };
  return {
    async current() {
      const current = deployment.current();
      return current ? { version: current.version, strategy: current.value } : undefined;
    },
    status,
    async refresh() {
      try {
        const r = await deployment.refresh();
        told = false;
        if (r.changed)
          logger.info({ version: r.version, previous: r.previousVersion }, '[po] strategy deployed');
      } catch (e) {
        if (undeployed && parts.onUndeployed) {
          if (!told) parts.onUndeployed();
          told = true;
          return;
        }
        told = false;
        logger.error(
          { err: e },
          '[po] deployed strategy not (re)loaded; the last good version keeps serving',
        );
      }
    },
    readModelFile: storeModelReader(store),
    cache: {
      stats: () => cacheReport({ cache, deployment, lastRun: parts.lastRun }),
      clear: (kind?: string) => cache.clear(kind as Parameters<typeof cache.clear>[0]),
      cleanup: () => cache.cleanup(),
    },
    health: () => ({ store: { ok: cache.health().reachable, ...cache.health() } }),
    stats: () => cache.stats().totals,
    async close() {
      await deployment.close();
      await cache.close();
      await store.close?.();
    },
  };
}

/** `logger` without the POINTER_FAILED errors of a pointer that names no version (while `undeployed()`). */
export function unlessUndeployed(logger: Logger, undeployed: () => boolean): Logger {
  return {
    debug: (fields, message) => logger.debug(fields, message),
    info: (fields, message) => logger.info(fields, message),
    warn: (fields, message) => logger.warn(fields, message),
    error: (fields, message) => {
      if (undeployed() && (fields as { code?: unknown }).code === 'POINTER_FAILED') return;
      logger.error(fields, message);
    },
  };
}

/** A loaded strategy file. */
interface LoadedFile {
  mtimeMs: number;
  version: string;
  strategy: PooledStrategy;
  loadedAt: string;
}

/**
 * A strategy file served as the deployed strategy (`strategy.file`), its model paths resolved
 * against `strategy.models_dir` (default: the file's folder). Reloaded when the file changes.
 * Its version: `strategy.version`, else the file's `version` key, else `sha256:<12 hex>` of its text.
 * Rejects with a SettingsError when the file does not exist.
 */
export async function fileStrategies(
  strategy: Settings['strategy'] & { file: string },
  parts: { pool: CyclePool; logger: Logger },
): Promise<StrategyBackend> {
  const file = resolve(strategy.file);
  await stat(file).catch((e: unknown) => {
    const why = errorCode(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${describeError(e)})`;
    throw new SettingsError([`strategy.file (PO_STRATEGY_FILE): '${file}' ${why}`]);
  });
  const readModelFile = localModelFiles(resolve(strategy.models_dir ?? dirname(file)));
  let loaded: LoadedFile | undefined;
  let lastError: string | undefined;
  let loading: Promise<void> | undefined;

  const load = async () => {
    try {
      const { mtimeMs } = await stat(file);
      if (loaded?.mtimeMs === mtimeMs) return;
      const text = await readFile(file, 'utf8');
      const pooled = await loadPooled(parts.pool, text, readModelFile, strategy.version ?? null);
      const version =
        pooled.version ?? `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
      parts.logger.info({ version, previous: loaded?.version, file }, '[po] strategy deployed');
      loaded = { mtimeMs, version, strategy: pooled, loadedAt: new Date().toISOString() };
      lastError = undefined;
    } catch (e) {
      lastError = describeError(e);
      parts.logger.error(
        { err: e, file },
        '[po] strategy file not (re)loaded; the last good version keeps serving',
      );
    }
  };
  return {
    async current() {
      return loaded && { version: loaded.version, strategy: loaded.strategy };
    },
    status: () => ({
      state: loaded ? 'loaded' : lastError ? 'error' : 'loading',
      version: loaded?.version ?? strategy.version ?? null,
      source: `file:${file}`,
      ...(loaded ? { loadedAt: loaded.loadedAt } : {}),
      ...(lastError ? { error: lastError } : {}),
    }),
    refresh() {
      // A slow load and the next poll share one refresh.
      loading ??= load().finally(() => {
        loading = undefined;
      });
      return loading;
    },
    readModelFile,
    async close() {
      await loading;
    },
  };
}
