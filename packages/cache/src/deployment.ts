import { describeError, isUnreachable, type Logger, type ModelFileReader, silentLogger } from '@po/core';
import type { ArtifactCache } from './artifact-cache.ts';
import { CacheError } from './errors.ts';
import { artifactKindOf, modelFileKey, strategyFileKey } from './model-key.ts';
import type { ArtifactKind } from './types.ts';

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
  logger?: Logger | undefined;
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

/** What a deployment holds between calls. */
interface State<T> {
  readonly options: DeploymentOptions<T>;
  readonly now: () => number;
  readonly logger: Logger;
  current: Slot<T> | undefined;
  loading: { version: string; keys: Slot<T>['keys'] } | undefined;
  inflight: Promise<RefreshResult> | undefined;
  lastRefreshAt: number | undefined;
  lastError: DeploymentStatus['lastError'];
  pointerReachable: boolean;
  closed: boolean;
  readonly disposals: Set<Promise<void>>;
}

const oneLine = { oneLine: true } as const;
const iso = (ms: number) => new Date(ms).toISOString();

/** Creates a deployment holder; call `refresh()` to load the deployed version. */
export function createDeployment<T>(options: DeploymentOptions<T>): Deployment<T> {
  const state: State<T> = {
    options,
    now: options.now ?? Date.now,
    logger: options.logger ?? silentLogger,
    current: undefined,
    loading: undefined,
    inflight: undefined,
    lastRefreshAt: undefined,
    lastError: null,
    pointerReachable: true,
    closed: false,
    disposals: new Set(),
  };
  return {
    current: () => state.current,
    refresh() {
      if (state.inflight === undefined) {
        const started = refreshOnce(state);
        state.inflight = started;
        const land = () => {
          if (state.inflight === started) state.inflight = undefined;
        };
        started.then(land, land);
      }
      return state.inflight;
    },
    async use(fn) {
      const slot = state.current;
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
        if (slot.retired && slot.users === 0) disposeSlot(state, slot);
      }
    },
    status: () => status(state),
    keysOf(version) {
      const { current, loading } = state;
      const keys =
        current?.version === version ? current.keys : loading?.version === version ? loading.keys : undefined;
      return keys ? [...keys.keys()] : [];
    },
    async close() {
      state.closed = true;
      await state.inflight?.catch(() => undefined);
      if (state.current !== undefined) {
        const slot = state.current;
        state.current = undefined;
        retire(state, slot);
      }
      while (state.disposals.size > 0) await Promise.all([...state.disposals]);
    },
  };
}

function status<T>(state: State<T>): DeploymentStatus {
  const health = state.options.cache.health();
  return {
    version: state.current?.version ?? null,
    loadedAt: state.current ? state.current.loadedAt.toISOString() : null,
    loading: state.loading?.version ?? null,
    lastRefreshAt: state.lastRefreshAt === undefined ? null : iso(state.lastRefreshAt),
    lastError: state.lastError,
    storeReachable: state.pointerReachable && health.reachable,
    servingStale: health.servingStale,
  };
}

/** One refresh: read the pointer; when it names another version, load it completely and swap it in. */
async function refreshOnce<T>(state: State<T>): Promise<RefreshResult> {
  if (state.closed) throw new CacheError('CLOSED', 'The deployment is closed; create a new one to refresh.');
  const version = await deployedVersion(state);
  if (state.current?.version === version) {
    state.lastRefreshAt = state.now();
    state.lastError = null;
    return { version, changed: false, previousVersion: undefined };
  }
  const next = await loadVersion(state, version);
  if (state.closed) {
    retire(state, next);
    throw new CacheError('CLOSED', `The deployment was closed while version '${version}' loaded.`, {
      version,
    });
  }
  return swapIn(state, next);
}

/** The version the pointer names; a failure or no version at all is POINTER_FAILED. */
async function deployedVersion<T>(state: State<T>): Promise<string> {
  const failed = (problem: string, cause?: unknown) => {
    state.lastRefreshAt = state.now();
    return fail(
      state,
      'POINTER_FAILED',
      undefined,
      new CacheError(
        'POINTER_FAILED',
        `The deployed version could not be read: ${problem}. ` +
          `${state.current ? `Version '${state.current.version}' keeps serving. ` : ''}Check the deploy pointer and the store.`,
        { cause },
      ),
    );
  };
  let named: string | undefined;
  try {
    named = await state.options.pointer();
    state.pointerReachable = true;
  } catch (error) {
    state.pointerReachable = !isUnreachable(error);
    throw failed(describeError(error, oneLine), error);
  }
  const version = named?.trim() ?? '';
  if (version === '') throw failed('no version is deployed (deploy one, e.g. `po deploy 1.0.0`)');
  return version;
}

/** Loads a version through a reader that records every key it reads; LOAD_FAILED when `load` rejects. */
async function loadVersion<T>(state: State<T>, version: string): Promise<Slot<T>> {
  const { current, logger } = state;
  const keys: Slot<T>['keys'] = new Map();
  state.loading = { version, keys };
  logger.info({ version, previous: current?.version }, `[po/cache] loading version '${version}'`);
  let value: T;
  try {
    value = await state.options.load(version, versionReader(state.options.cache, version, keys));
  } catch (error) {
    state.lastRefreshAt = state.now();
    throw fail(
      state,
      'LOAD_FAILED',
      version,
      new CacheError(
        'LOAD_FAILED',
        `Version '${version}' could not be loaded: ${describeError(error, oneLine)}. ` +
          (current ? `Version '${current.version}' keeps serving. ` : 'No version is serving. ') +
          'Fix the version in the store or deploy another one.',
        { cause: error, version },
      ),
    );
  } finally {
    state.loading = undefined;
  }
  return { version, value, loadedAt: new Date(state.now()), keys, users: 0, retired: false };
}

/** Makes `next` the current version, drops the cache entries only the old one used, retires the old one. */
function swapIn<T>(state: State<T>, next: Slot<T>): RefreshResult {
  const { version, keys } = next;
  const previous = state.current;
  state.current = next;
  state.lastRefreshAt = next.loadedAt.getTime();
  state.lastError = null;
  if (previous === undefined) {
    state.logger.info({ version }, `[po/cache] version '${version}' serving`);
    return { version, changed: true, previousVersion: undefined };
  }
  let dropped = 0;
  for (const [id, ref] of previous.keys) {
    if (!keys.has(id) && state.options.cache.delete(ref.kind, ref.key)) dropped += 1;
  }
  retire(state, previous);
  state.logger.info(
    { version, previous: previous.version, droppedEntries: dropped },
    `[po/cache] version '${version}' serving (was '${previous.version}')`,
  );
  return { version, changed: true, previousVersion: previous.version };
}

function fail<T>(
  state: State<T>,
  code: 'POINTER_FAILED' | 'LOAD_FAILED',
  version: string | undefined,
  error: CacheError,
): CacheError {
  state.lastError = { version: version ?? null, code, message: error.message, at: iso(state.now()) };
  state.logger.error({ version, code }, error.message);
  return error;
}

function versionReader(
  cache: ArtifactCache,
  version: string,
  keys: Map<string, { kind: ArtifactKind; key: string }>,
): VersionReader {
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
}

/** Retires a replaced version; it is disposed once no `use()` holds it. */
function retire<T>(state: State<T>, slot: Slot<T>): void {
  slot.retired = true;
  if (slot.users === 0) disposeSlot(state, slot);
}

function disposeSlot<T>(state: State<T>, slot: Slot<T>): void {
  const task = (async () => {
    try {
      await state.options.dispose?.(slot.value, slot.version);
      state.logger.debug({ version: slot.version }, `[po/cache] version '${slot.version}' disposed`);
    } catch (error) {
      state.logger.warn(
        { version: slot.version },
        `[po/cache] version '${slot.version}' could not be disposed: ${describeError(error, oneLine)}`,
      );
    }
  })();
  state.disposals.add(task);
  void task.then(() => state.disposals.delete(task));
}
