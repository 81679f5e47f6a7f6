import type { ArtifactCache } from './artifact-cache.ts';
import { CacheError, describeError, isUnreachable } from './errors.ts';
import { artifactKindOf, modelFileKey, strategyFileKey } from './model-key.ts';
import type { ArtifactKind, CacheLogger, ModelFileReader } from './types.ts';

/**
 * What `load` reads a version through. Every key it reads is recorded against the version,
 * so that the cache entries of a replaced version can be dropped. The first read of each key
 * during a load revalidates a cached entry by ETag, so a file overwritten under the same key
 * is never loaded from an old copy.
 */
export interface VersionReader {
  /** The version being loaded. */
  readonly version: string;
  /** The strategy YAML of this version (`configs/config-<version>.yaml`). */
  strategy(): Promise<Uint8Array>;
  /** A reader for `createModelProvider({ readFile })`: strategy path -> `models/<path>`. */
  readonly modelFile: ModelFileReader;
  /** Any object, through the cache of `kind`. */
  read(kind: ArtifactKind, key: string): Promise<Uint8Array>;
}

/** Options of `createDeployment`. */
export interface DeploymentOptions<T> {
  /** The artifact cache the versions are read through (and whose entries are dropped on a swap). */
  cache: ArtifactCache;
  /**
   * The deployed version, e.g. `() => readDeployPointer('./metadata')` of `@po/storage`. Called
   * once per `refresh()`; undefined (no version deployed) fails the refresh with POINTER_FAILED.
   */
  pointer: () => Promise<string | undefined>;
  /**
   * Loads a version completely (the strategy and every model it names) and resolves only when
   * the result can serve. Rejecting leaves the current version serving.
   */
  load: (version: string, reader: VersionReader) => Promise<T>;
  /**
   * Releases a replaced version, once no `use()` call holds it any more. Errors are logged.
   * Also called for a version that finished loading after `close()`.
   */
  dispose?: ((value: T, version: string) => Promise<void> | void) | undefined;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: (() => number) | undefined;
  /** Diagnostics (`info` on a swap, `error` on a failed refresh); silent by default. */
  logger?: CacheLogger | undefined;
}

/** A loaded version. */
export interface Deployed<T> {
  readonly version: string;
  readonly value: T;
  /** When it finished loading. */
  readonly loadedAt: Date;
}

/** What `refresh()` did. */
export interface RefreshResult {
  /** The version the pointer names, now serving. */
  version: string;
  /** True when a new version was loaded and swapped in. */
  changed: boolean;
  /** The version served before, when it was replaced. */
  previousVersion: string | undefined;
}

/** For `/health` and the logs. Times are ISO strings. */
export interface DeploymentStatus {
  /** The version serving, or null before the first successful load. */
  version: string | null;
  loadedAt: string | null;
  /** The version being loaded right now, if any. */
  loading: string | null;
  /** When the last refresh finished (successfully or not). */
  lastRefreshAt: string | null;
  /** The error of the last refresh; null when it succeeded. */
  lastError: { version: string | null; code: string; message: string; at: string } | null;
  /** False when the pointer or the cache's last store call failed to reach the store. */
  storeReachable: boolean;
  /** True while the cache serves entries the store could not revalidate. */
  servingStale: boolean;
}

/**
 * Holds the loaded version of something built from stored artifacts (the engine's compiled
 * strategy) and replaces it atomically when the deployed version changes.
 */
export interface Deployment<T> {
  /** The version serving, or undefined before the first successful `refresh()`. Never half-loaded. */
  current(): Deployed<T> | undefined;
  /**
   * Reads the pointer; when it names another version, loads that version completely, then swaps
   * it in, drops the cache entries only the old version used and disposes the old value (once
   * unused). Concurrent calls share one refresh. Rejects with a `CacheError` (POINTER_FAILED,
   * LOAD_FAILED) recorded in `status()`; the current version keeps serving.
   */
  refresh(): Promise<RefreshResult>;
  /**
   * Runs `fn` with the current version and keeps that version from being disposed until `fn`
   * settles. Rejects with NOT_FOUND before the first successful load.
   */
  use<R>(fn: (value: T, version: string) => Promise<R> | R): Promise<R>;
  /** For `/health`. */
  status(): DeploymentStatus;
  /** The cache keys a loaded (or loading) version read, as `<kind>:<key>`. */
  keysOf(version: string): readonly string[];
  /** Waits for a refresh in progress, disposes every version; later refreshes reject with CLOSED. */
  close(): Promise<void>;
}

interface Slot<T> extends Deployed<T> {
  readonly keys: Map<string, { kind: ArtifactKind; key: string }>;
  users: number;
  retired: boolean;
}

/** Creates a deployment holder; call `refresh()` to load the deployed version. */
export function createDeployment<T>(options: DeploymentOptions<T>): Deployment<T> {
  const { cache, pointer, load } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? {};
  let current: Slot<T> | undefined;
  let loading: { version: string; keys: Slot<T>['keys'] } | undefined;
  let inflight: Promise<RefreshResult> | undefined;
  let lastRefreshAt: number | undefined;
  let lastError: DeploymentStatus['lastError'] = null;
  let pointerReachable = true;
  let closed = false;
  const disposals = new Set<Promise<void>>();

  const iso = (ms: number) => new Date(ms).toISOString();

  const fail = (code: 'POINTER_FAILED' | 'LOAD_FAILED', version: string | undefined, error: CacheError) => {
    lastError = { version: version ?? null, code, message: error.message, at: iso(now()) };
    logger.error?.({ version, code }, error.message);
    return error;
  };

  const disposeSlot = (slot: Slot<T>) => {
    const task = (async () => {
      try {
        await options.dispose?.(slot.value, slot.version);
        logger.debug?.({ version: slot.version }, `[po/cache] version '${slot.version}' disposed`);
      } catch (error) {
        logger.warn?.(
          {
            version: slot.version,
          },
          `[po/cache] version '${slot.version}' could not be disposed: ${describeError(error)}`,
        );
      }
    })();
    disposals.add(task);
    void task.then(() => disposals.delete(task));
  };

  const retire = (slot: Slot<T>) => {
    slot.retired = true;
    if (slot.users === 0) disposeSlot(slot);
  };

  const makeReader = (version: string, keys: Slot<T>['keys']): VersionReader => {
    const read = async (kind: ArtifactKind, key: string) => {
      const id = `${kind}:${key}`;
      const first = !keys.has(id);
      keys.set(id, { kind, key });
      // First read of a key in this load: confirm a cached copy with the store (ETag).
      return cache.read(kind, key, { revalidate: first });
    };
    return {
      version,
      strategy: async () => read('strategy', strategyFileKey(version)),
      modelFile: async (path: string) => read(artifactKindOf(path), modelFileKey(path)),
      read,
    };
  };

  const run = async (): Promise<RefreshResult> => {
    if (closed) throw new CacheError('CLOSED', 'The deployment is closed; create a new one to refresh.');
    const pointerFailed = (problem: string, cause?: unknown) => {
      lastRefreshAt = now();
      return fail(
        'POINTER_FAILED',
        undefined,
        new CacheError(
          'POINTER_FAILED',
          `The deployed version could not be read: ${problem}. ` +
            `${current ? `Version '${current.version}' keeps serving. ` : ''}Check the deploy pointer and the store.`,
          { cause },
        ),
      );
    };
    let named: string | undefined;
    try {
      named = await pointer();
      pointerReachable = true;
    } catch (error) {
      pointerReachable = !isUnreachable(error);
      throw pointerFailed(describeError(error), error);
    }
    const version = named?.trim() ?? '';
    if (version === '') throw pointerFailed('no version is deployed (deploy one, e.g. `po deploy 1.0.0`)');
    if (current?.version === version) {
      lastRefreshAt = now();
      lastError = null;
      return { version, changed: false, previousVersion: undefined };
    }

    const keys: Slot<T>['keys'] = new Map();
    loading = { version, keys };
    logger.info?.({ version, previous: current?.version }, `[po/cache] loading version '${version}'`);
    let value: T;
    try {
      value = await load(version, makeReader(version, keys));
    } catch (error) {
      lastRefreshAt = now();
      throw fail(
        'LOAD_FAILED',
        version,
        new CacheError(
          'LOAD_FAILED',
          `Version '${version}' could not be loaded: ${describeError(error)}. ` +
            (current ? `Version '${current.version}' keeps serving. ` : 'No version is serving. ') +
            'Fix the version in the store or deploy another one.',
          { cause: error, version },
        ),
      );
    } finally {
      loading = undefined;
    }

    const loadedAt = now();
    const next: Slot<T> = { version, value, loadedAt: new Date(loadedAt), keys, users: 0, retired: false };
    if (closed) {
      retire(next);
      throw new CacheError('CLOSED', `The deployment was closed while version '${version}' loaded.`, {
        version,
      });
    }
    const previous = current;
    current = next;
    lastRefreshAt = loadedAt;
    lastError = null;
    if (previous !== undefined) {
      let dropped = 0;
      for (const [id, ref] of previous.keys) {
        if (!keys.has(id) && cache.delete(ref.kind, ref.key)) dropped += 1;
      }
      retire(previous);
      logger.info?.(
        {
          version,
          previous: previous.version,
          droppedEntries: dropped,
        },
        `[po/cache] version '${version}' serving (was '${previous.version}')`,
      );
    } else {
      logger.info?.({ version }, `[po/cache] version '${version}' serving`);
    }
    return { version, changed: true, previousVersion: previous?.version };
  };

  return {
    current: () => current,
    refresh() {
      if (inflight === undefined) {
        const started = run();
        inflight = started;
        const land = () => {
          if (inflight === started) inflight = undefined;
        };
        started.then(land, land);
      }
      return inflight;
    },
    async use(fn) {
      const slot = current;
      if (slot === undefined) {
        throw new CacheError(
          'NOT_FOUND',
          'No version is loaded yet; call refresh() first and check its error.',
        );
      }
      slot.users += 1;
      try {
        return await fn(slot.value, slot.version);
      } finally {
        slot.users -= 1;
        if (slot.retired && slot.users === 0) disposeSlot(slot);
      }
    },
    status() {
      const health = cache.health();
      return {
        version: current?.version ?? null,
        loadedAt: current ? current.loadedAt.toISOString() : null,
        loading: loading?.version ?? null,
        lastRefreshAt: lastRefreshAt === undefined ? null : iso(lastRefreshAt),
        lastError,
        storeReachable: pointerReachable && health.reachable,
        servingStale: health.servingStale,
      };
    },
    keysOf(version) {
      const keys =
        current?.version === version ? current.keys : loading?.version === version ? loading.keys : undefined;
      return keys ? [...keys.keys()] : [];
    },
    async close() {
      closed = true;
      await inflight?.catch(() => undefined);
      if (current !== undefined) {
        const slot = current;
        current = undefined;
        retire(slot);
      }
      while (disposals.size > 0) await Promise.all([...disposals]);
    },
  };
}
