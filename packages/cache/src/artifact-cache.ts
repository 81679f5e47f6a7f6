import {
  describeError,
  errorCode,
  isUnreachable,
  type Logger,
  type ModelFileReader,
  silentLogger,
} from '@po/core';
import type { ObjectStore } from '@po/storage';
import type { LRUCache } from 'lru-cache';
import { CacheError } from './errors.ts';
import {
  createKindCache,
  dropAll,
  dropExpired,
  type Entry,
  type Flight,
  type KindCache,
  kindStats,
  type Settled,
  staleCount,
  totalStats,
} from './kind-cache.ts';
import { artifactKindOf, modelFileKey } from './model-key.ts';
import {
  ARTIFACT_KINDS,
  type ArtifactKind,
  type CacheStats,
  type KindLimits,
  type KindStats,
  type StoreHealth,
} from './types.ts';

const HOUR = 3_600_000;
const MiB = 1024 * 1024;

/** Defaults per kind: strategies are revalidated after 6 h, everything else after 24 h. */
export const DEFAULT_LIMITS: Readonly<Record<ArtifactKind, Readonly<KindLimits>>> = {
  strategy: { ttlMs: 6 * HOUR, maxEntries: 64, maxBytes: 16 * MiB },
  model: { ttlMs: 24 * HOUR, maxEntries: 512, maxBytes: 512 * MiB },
  scaler: { ttlMs: 24 * HOUR, maxEntries: 512, maxBytes: 64 * MiB },
  metadata: { ttlMs: 24 * HOUR, maxEntries: 512, maxBytes: 16 * MiB },
};

/** Options of `createArtifactCache`. */
export interface ArtifactCacheOptions {
  /** Where artifacts come from (`@po/storage`'s local folder or S3 store). */
  store: ObjectStore;
  /** Per-kind overrides of `DEFAULT_LIMITS`. */
  limits?: { [K in ArtifactKind]?: Partial<KindLimits> } | undefined;
  /**
   * After the store failed to revalidate an entry, how long (ms) the stale entry is served
   * before the store is asked again, so that an outage costs one failed call per entry per
   * interval rather than one per read. Default 30 s.
   */
  staleRetryMs?: number | undefined;
  /** Clock in epoch milliseconds (`Date.now`-like); inject a fake one in tests. Default `Date.now`. */
  now?: (() => number) | undefined;
  /** Diagnostics; silent by default. */
  logger?: Logger | undefined;
}

/** Options of one read. */
export interface ReadOptions {
  /** Ask the store (ETag) even when the entry is within its TTL. Used when a new version loads. */
  revalidate?: boolean | undefined;
}

/** Options of `cache.modelFileReader()`. */
export interface ModelFileReaderOptions {
  /** Which cache a path goes to. Default `artifactKindOf`. */
  kindOf?: ((path: string) => ArtifactKind) | undefined;
}

/**
 * In-memory caches of store objects, one per artifact kind, with TTL, LRU bounds, ETag
 * revalidation and in-flight de-duplication. Safe to call concurrently.
 *
 * Returned byte arrays are shared with the cache: read them, do not modify them.
 */
export interface ArtifactCache {
  /** The store this cache reads from. */
  readonly store: ObjectStore;
  /**
   * The bytes of `key`. Fresh entry: from memory. Missing: one `store.get` however many reads
   * wait for it. Past its TTL: `store.getIfChanged(key, etag)`; unchanged costs no body, changed
   * replaces the entry, and a store that cannot be reached leaves the old bytes served (flagged
   * in `health()`). Rejects with a `CacheError` (NOT_FOUND, UNREACHABLE, READ_FAILED, INVALID_KEY).
   */
  read(kind: ArtifactKind, key: string, options?: ReadOptions): Promise<Uint8Array>;
  /**
   * A reader for `createModelProvider({ readFile })` of `@po/models`: a strategy path maps to
   * the key `modelKey(path)` of `@po/storage` (`models/<path>`, leading `../` dropped) in the cache `artifactKindOf(path)`.
   */
  modelFileReader(options?: ModelFileReaderOptions): ModelFileReader;
  /** Whether `key` is cached in `kind` (fresh or not). Does not touch recency or counters. */
  has(kind: ArtifactKind, key: string): boolean;
  /** Drops one entry; true when there was one. */
  delete(kind: ArtifactKind, key: string): boolean;
  /** Drops every entry of one kind, or of all kinds; returns how many. Counters are kept. */
  clear(kind?: ArtifactKind): number;
  /**
   * Drops entries past their TTL; returns how many. Entries served stale because the store could
   * not be reached are kept: they are the only copy until the store answers.
   */
  cleanup(): number;
  /** Counters and contents per kind and in total, with the store's health. */
  stats(): CacheStats;
  /** Whether the store answers and whether stale entries are being served. */
  health(): StoreHealth;
  /** Drops everything; later reads reject with CLOSED. Does not close the store. */
  close(): Promise<void>;
}

/** What the read path of every kind shares. */
interface ReadContext {
  readonly store: ObjectStore;
  readonly now: () => number;
  readonly logger: Logger;
  readonly staleRetryMs: number;
  /** The store as last seen: false after a call failed because it did not answer, until one succeeds. */
  reachable: boolean;
  lastError: StoreHealth['lastError'];
  closed: boolean;
}

const oneLine = { oneLine: true } as const;

/** Creates the artifact caches over `store`. */
export function createArtifactCache(options: ArtifactCacheOptions): ArtifactCache {
  const staleRetryMs = options.staleRetryMs ?? 30_000;
  if (!(staleRetryMs > 0)) {
    throw new CacheError('INVALID_OPTIONS', `staleRetryMs is ${staleRetryMs}; give a positive number of ms.`);
  }
  const context: ReadContext = {
    store: options.store,
    now: options.now ?? Date.now,
    logger: options.logger ?? silentLogger,
    staleRetryMs,
    reachable: true,
    lastError: null,
    closed: false,
  };
  const kinds = Object.fromEntries(
    ARTIFACT_KINDS.map((kind) => [
      kind,
      createKindCache(
        kind,
        { ...DEFAULT_LIMITS[kind], ...options.limits?.[kind] },
        context.now,
        context.logger,
      ),
    ]),
  ) as Record<ArtifactKind, KindCache>;
  const kindCache = (kind: ArtifactKind): KindCache => {
    const cache = kinds[kind];
    if (cache === undefined) {
      throw new CacheError(
        'INVALID_OPTIONS',
        `Unknown artifact kind '${String(kind)}'; use one of ${ARTIFACT_KINDS.join(', ')}.`,
      );
    }
    return cache;
  };
  const all = Object.values(kinds);
  const read = (kind: ArtifactKind, key: string, readOptions?: ReadOptions) =>
    readThrough(context, kindCache(kind), key, readOptions);
  const health = (): StoreHealth => ({
    store: { kind: context.store.kind, location: context.store.location },
    reachable: context.reachable,
    lastError: context.lastError,
    servingStale: all.some((cache) => staleCount(cache) > 0),
  });

  return {
    store: context.store,
    read,
    modelFileReader(readerOptions = {}) {
      const kindOf = readerOptions.kindOf ?? artifactKindOf;
      return async (path: string) => read(kindOf(path), modelFileKey(path));
    },
    has: (kind, key) => kindCache(kind).lru.peek(key) !== undefined,
    delete(kind, key) {
      const cache = kindCache(kind);
      cache.inflight.delete(key);
      return cache.lru.delete(key);
    },
    clear: (kind) =>
      kind !== undefined ? dropAll(kindCache(kind)) : all.reduce((sum, cache) => sum + dropAll(cache), 0),
    cleanup() {
      const dropped = all.reduce((sum, cache) => sum + dropExpired(cache), 0);
      if (dropped > 0)
        context.logger.debug({ dropped }, `[po/cache] cleanup dropped ${dropped} expired entries`);
      return dropped;
    },
    stats() {
      const perKind = Object.fromEntries(ARTIFACT_KINDS.map((k) => [k, kindStats(kinds[k])])) as Record<
        ArtifactKind,
        KindStats
      >;
      return { kinds: perKind, totals: totalStats(Object.values(perKind)), health: health() };
    },
    health,
    async close() {
      context.closed = true;
      for (const cache of all) dropAll(cache);
    },
  };
}

/**
 * A read: a fresh entry from memory, otherwise the key's flight (a download, or a revalidation
 * of the entry past its TTL), started by the first reader and awaited by every other.
 */
async function readThrough(
  context: ReadContext,
  cache: KindCache,
  key: string,
  options: ReadOptions = {},
): Promise<Uint8Array> {
  if (context.closed) {
    throw new CacheError('CLOSED', `The cache is closed; cannot read ${cache.kind} '${key}'.`, { key });
  }
  const status: LRUCache.Status<string, Entry> = {};
  const entry = cache.lru.get(key, { status });
  if (entry !== undefined && status.get === 'hit' && options.revalidate !== true) {
    cache.hits += 1;
    if (entry.staleSince !== undefined) cache.staleServed += 1;
    return entry.body;
  }
  let flight = cache.inflight.get(key);
  if (flight === undefined) {
    const started = { promise: undefined } as unknown as Flight;
    cache.inflight.set(key, started);
    started.promise =
      entry === undefined
        ? download(context, cache, key, started)
        : revalidate(context, cache, key, entry, started);
    const land = () => {
      if (cache.inflight.get(key) === started) cache.inflight.delete(key);
    };
    started.promise.then(land, land);
    flight = started;
  }
  let settled: Settled;
  try {
    settled = await flight.promise;
  } catch (error) {
    cache.misses += 1;
    throw error;
  }
  if (settled.outcome === 'downloaded' || settled.outcome === 'changed') cache.misses += 1;
  else cache.hits += 1;
  if (settled.outcome === 'stale') cache.staleServed += 1;
  return settled.entry.body;
}

async function download(
  context: ReadContext,
  cache: KindCache,
  key: string,
  flight: Flight,
): Promise<Settled> {
  let object: Awaited<ReturnType<ObjectStore['get']>>;
  try {
    object = await context.store.get(key);
  } catch (error) {
    noteStoreFailure(context, key, error);
    throw readFailure(context, cache, key, error);
  }
  context.reachable = true;
  cache.downloads += 1;
  const entry = freshEntry(context, object);
  keep(context, cache, key, entry, flight);
  context.logger.debug(
    { kind: cache.kind, key, bytes: entry.body.byteLength },
    `[po/cache] ${cache.kind} '${key}' downloaded`,
  );
  return { entry, outcome: 'downloaded' };
}

async function revalidate(
  context: ReadContext,
  cache: KindCache,
  key: string,
  entry: Entry,
  flight: Flight,
): Promise<Settled> {
  let answer: Awaited<ReturnType<ObjectStore['getIfChanged']>>;
  try {
    answer = await context.store.getIfChanged(key, entry.etag);
  } catch (error) {
    noteStoreFailure(context, key, error);
    const code = errorCode(error);
    if (code === 'NOT_FOUND' || code === 'INVALID_KEY') {
      if (cache.inflight.get(key) === flight) cache.lru.delete(key);
      throw readFailure(context, cache, key, error);
    }
    // The service keeps serving the last bytes it loaded; ask again after staleRetryMs.
    const stale: Entry = { ...entry, staleSince: entry.staleSince ?? context.now() };
    keep(context, cache, key, stale, flight, context.staleRetryMs);
    context.logger.warn(
      { kind: cache.kind, key },
      `[po/cache] ${cache.kind} '${key}' could not be revalidated (${describeError(error, oneLine)}); ` +
        `serving the cached copy validated at ${new Date(entry.validatedAt).toISOString()}.`,
    );
    return { entry: stale, outcome: 'stale' };
  }
  context.reachable = true;
  if (answer.notModified) {
    cache.revalidations += 1;
    const confirmed: Entry = { ...entry, validatedAt: context.now(), staleSince: undefined };
    keep(context, cache, key, confirmed, flight);
    return { entry: confirmed, outcome: 'not-modified' };
  }
  cache.downloads += 1;
  cache.updates += 1;
  const changed = freshEntry(context, answer);
  keep(context, cache, key, changed, flight);
  context.logger.info(
    { kind: cache.kind, key, etag: answer.etag },
    `[po/cache] ${cache.kind} '${key}' changed in the store; cached the new bytes`,
  );
  return { entry: changed, outcome: 'changed' };
}

/** An entry for bytes the store just delivered. */
function freshEntry(context: ReadContext, object: { body: Uint8Array; etag: string }): Entry {
  return { body: object.body, etag: object.etag, validatedAt: context.now(), staleSince: undefined };
}

/** Stores what a flight brought, unless the key was dropped (or the cache closed) meanwhile. */
function keep(
  context: ReadContext,
  cache: KindCache,
  key: string,
  entry: Entry,
  flight: Flight,
  ttl?: number,
) {
  if (cache.inflight.get(key) !== flight || context.closed) return;
  const status: LRUCache.Status<string, Entry> = {};
  cache.lru.set(key, entry, ttl === undefined ? { status } : { ttl, status });
  if (status.maxEntrySizeExceeded) {
    context.logger.warn(
      { kind: cache.kind, key, bytes: entry.body.byteLength },
      `[po/cache] ${cache.kind} '${key}' (${entry.body.byteLength} bytes) is larger than the ${cache.kind} ` +
        `cache (maxBytes ${cache.limits.maxBytes}); it is served but not cached. Raise limits.${cache.kind}.maxBytes.`,
    );
  }
}

function noteStoreFailure(context: ReadContext, key: string, error: unknown): void {
  const code = errorCode(error);
  // A missing object or a bad key is an answer; anything else means the store did not serve us.
  if (code === 'NOT_FOUND' || code === 'INVALID_KEY') return;
  if (isUnreachable(error)) context.reachable = false;
  context.lastError = {
    key,
    code,
    message: describeError(error, oneLine),
    at: new Date(context.now()).toISOString(),
  };
}

function readFailure(context: ReadContext, cache: KindCache, key: string, error: unknown): CacheError {
  const code = errorCode(error);
  const where = `${context.store.kind} store ${context.store.location}`;
  if (code === 'NOT_FOUND') {
    return new CacheError(
      'NOT_FOUND',
      `${cache.kind} '${key}' does not exist in the ${where}. Upload it or correct the path in the strategy.`,
      { cause: error, key },
    );
  }
  if (code === 'INVALID_KEY') {
    return new CacheError(
      'INVALID_KEY',
      `${cache.kind} key '${key}' is refused: ${describeError(error, oneLine)}`,
      {
        cause: error,
        key,
      },
    );
  }
  const unreachable = isUnreachable(error);
  return new CacheError(
    unreachable ? 'UNREACHABLE' : 'READ_FAILED',
    `${cache.kind} '${key}' could not be read from the ${where} and is not cached: ${describeError(error, oneLine)}. ` +
      (unreachable ? 'Check that the store is reachable.' : 'Check the store and the object.'),
    { cause: error, key },
  );
}
