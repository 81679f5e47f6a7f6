import type { ObjectStore } from '@po/storage';
import { LRUCache } from 'lru-cache';
import { CacheError, describeError, errorCode, isUnreachable } from './errors.ts';
import { artifactKindOf, modelFileKey } from './model-key.ts';
import {
  ARTIFACT_KINDS,
  type ArtifactKind,
  type CacheLogger,
  type CacheStats,
  type KindLimits,
  type KindStats,
  type ModelFileReader,
  type StoreHealth,
  type TotalStats,
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
  logger?: CacheLogger | undefined;
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

interface Entry {
  readonly body: Uint8Array;
  readonly etag: string;
  /** When the store last confirmed or delivered these bytes (epoch ms). */
  readonly validatedAt: number;
  /** When the store first failed to revalidate this entry (epoch ms); undefined while confirmed. */
  readonly staleSince: number | undefined;
}

type Outcome = 'downloaded' | 'not-modified' | 'changed' | 'stale';

interface Settled {
  entry: Entry;
  outcome: Outcome;
}

/** One download or revalidation in progress; every read of the key meanwhile awaits it. */
interface Flight {
  promise: Promise<Settled>;
}

interface KindCache {
  readonly kind: ArtifactKind;
  readonly limits: KindLimits;
  readonly lru: LRUCache<string, Entry>;
  /** A flight only stores its result while it is still the key's flight (not cleared meanwhile). */
  readonly inflight: Map<string, Flight>;
  hits: number;
  misses: number;
  revalidations: number;
  downloads: number;
  updates: number;
  staleServed: number;
  evictions: number;
}

function checkLimits(kind: ArtifactKind, limits: KindLimits): KindLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0 || (name !== 'ttlMs' && !Number.isInteger(value))) {
      throw new CacheError(
        'INVALID_OPTIONS',
        `limits.${kind}.${name} is ${String(value)}; give a positive ${name === 'ttlMs' ? 'number' : 'integer'}.`,
      );
    }
  }
  return limits;
}

/** Creates the artifact caches over `store`. */
export function createArtifactCache(options: ArtifactCacheOptions): ArtifactCache {
  const { store } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? {};
  const staleRetryMs = options.staleRetryMs ?? 30_000;
  if (!(staleRetryMs > 0)) {
    throw new CacheError('INVALID_OPTIONS', `staleRetryMs is ${staleRetryMs}; give a positive number of ms.`);
  }
  let closed = false;
  let reachable = true;
  let lastError: StoreHealth['lastError'] = null;

  const makeKind = (kind: ArtifactKind): KindCache => {
    const limits = checkLimits(kind, { ...DEFAULT_LIMITS[kind], ...options.limits?.[kind] });
    const cache: KindCache = {
      kind,
      limits,
      inflight: new Map(),
      hits: 0,
      misses: 0,
      revalidations: 0,
      downloads: 0,
      updates: 0,
      staleServed: 0,
      evictions: 0,
      lru: new LRUCache<string, Entry>({
        max: limits.maxEntries,
        maxSize: limits.maxBytes,
        sizeCalculation: (entry) => Math.max(1, entry.body.byteLength),
        ttl: limits.ttlMs,
        // Past its TTL an entry is revalidated, not dropped: keep it and let `get` return it.
        allowStale: true,
        noDeleteOnStaleGet: true,
        updateAgeOnGet: false,
        // One clock for TTLs and status; no cached "now", so a fake clock is seen at once.
        perf: { now },
        ttlResolution: 0,
        dispose: (_entry, key, reason) => {
          if (reason !== 'evict') return;
          cache.evictions += 1;
          logger.debug?.({ kind, key }, `[po/cache] ${kind} '${key}' evicted (least recently used)`);
        },
      }),
    };
    return cache;
  };
  const kinds = Object.fromEntries(ARTIFACT_KINDS.map((k) => [k, makeKind(k)])) as Record<
    ArtifactKind,
    KindCache
  >;

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

  const noteStoreOk = () => {
    reachable = true;
  };
  const noteStoreFailure = (key: string, error: unknown) => {
    const code = errorCode(error);
    // A missing object or a bad key is an answer; anything else means the store did not serve us.
    if (code === 'NOT_FOUND' || code === 'INVALID_KEY') return;
    if (isUnreachable(error)) reachable = false;
    lastError = { key, code, message: describeError(error), at: new Date(now()).toISOString() };
  };

  const readFailure = (cache: KindCache, key: string, error: unknown): CacheError => {
    const code = errorCode(error);
    const where = `${store.kind} store ${store.location}`;
    if (code === 'NOT_FOUND') {
      return new CacheError(
        'NOT_FOUND',
        `${cache.kind} '${key}' does not exist in the ${where}. Upload it or correct the path in the strategy.`,
        { cause: error, key },
      );
    }
    if (code === 'INVALID_KEY') {
      return new CacheError('INVALID_KEY', `${cache.kind} key '${key}' is refused: ${describeError(error)}`, {
        cause: error,
        key,
      });
    }
    const unreachable = isUnreachable(error);
    return new CacheError(
      unreachable ? 'UNREACHABLE' : 'READ_FAILED',
      `${cache.kind} '${key}' could not be read from the ${where} and is not cached: ${describeError(error)}. ` +
        (unreachable ? 'Check that the store is reachable.' : 'Check the store and the object.'),
      { cause: error, key },
    );
  };

  const keep = (cache: KindCache, key: string, entry: Entry, flight: Flight, ttl?: number) => {
    if (cache.inflight.get(key) !== flight || closed) return;
    const status: LRUCache.Status<string, Entry> = {};
    cache.lru.set(key, entry, ttl === undefined ? { status } : { ttl, status });
    if (status.maxEntrySizeExceeded) {
      logger.warn?.(
        { kind: cache.kind, key, bytes: entry.body.byteLength },
        `[po/cache] ${cache.kind} '${key}' (${entry.body.byteLength} bytes) is larger than the ${cache.kind} ` +
          `cache (maxBytes ${cache.limits.maxBytes}); it is served but not cached. Raise limits.${cache.kind}.maxBytes.`,
      );
    }
  };

  const download = async (cache: KindCache, key: string, flight: Flight): Promise<Settled> => {
    let object: Awaited<ReturnType<ObjectStore['get']>>;
    try {
      object = await store.get(key);
    } catch (error) {
      noteStoreFailure(key, error);
      throw readFailure(cache, key, error);
    }
    noteStoreOk();
    cache.downloads += 1;
    const entry: Entry = { body: object.body, etag: object.etag, validatedAt: now(), staleSince: undefined };
    keep(cache, key, entry, flight);
    logger.debug?.(
      {
        kind: cache.kind,
        key,
        bytes: entry.body.byteLength,
      },
      `[po/cache] ${cache.kind} '${key}' downloaded`,
    );
    return { entry, outcome: 'downloaded' };
  };

  const revalidate = async (
    cache: KindCache,
    key: string,
    entry: Entry,
    flight: Flight,
  ): Promise<Settled> => {
    let answer: Awaited<ReturnType<ObjectStore['getIfChanged']>>;
    try {
      answer = await store.getIfChanged(key, entry.etag);
    } catch (error) {
      noteStoreFailure(key, error);
      const code = errorCode(error);
      if (code === 'NOT_FOUND' || code === 'INVALID_KEY') {
        if (cache.inflight.get(key) === flight) cache.lru.delete(key);
        throw readFailure(cache, key, error);
      }
      // The service keeps serving the last bytes it loaded; ask again after staleRetryMs.
      const stale: Entry = { ...entry, staleSince: entry.staleSince ?? now() };
      keep(cache, key, stale, flight, staleRetryMs);
      logger.warn?.(
        { kind: cache.kind, key },
        `[po/cache] ${cache.kind} '${key}' could not be revalidated (${describeError(error)}); ` +
          `serving the cached copy validated at ${new Date(entry.validatedAt).toISOString()}.`,
      );
      return { entry: stale, outcome: 'stale' };
    }
    noteStoreOk();
    if (answer.notModified) {
      cache.revalidations += 1;
      const confirmed: Entry = { ...entry, validatedAt: now(), staleSince: undefined };
      keep(cache, key, confirmed, flight);
      return { entry: confirmed, outcome: 'not-modified' };
    }
    cache.downloads += 1;
    cache.updates += 1;
    const changed: Entry = {
      body: answer.body,
      etag: answer.etag,
      validatedAt: now(),
      staleSince: undefined,
    };
    keep(cache, key, changed, flight);
    logger.info?.(
      {
        kind: cache.kind,
        key,
        etag: answer.etag,
      },
      `[po/cache] ${cache.kind} '${key}' changed in the store; cached the new bytes`,
    );
    return { entry: changed, outcome: 'changed' };
  };

  const read = async (
    kind: ArtifactKind,
    key: string,
    readOptions: ReadOptions = {},
  ): Promise<Uint8Array> => {
    const cache = kindCache(kind);
    if (closed) throw new CacheError('CLOSED', `The cache is closed; cannot read ${kind} '${key}'.`, { key });
    const status: LRUCache.Status<string, Entry> = {};
    const entry = cache.lru.get(key, { status });
    if (entry !== undefined && status.get === 'hit' && readOptions.revalidate !== true) {
      cache.hits += 1;
      if (entry.staleSince !== undefined) cache.staleServed += 1;
      return entry.body;
    }
    let flight = cache.inflight.get(key);
    if (flight === undefined) {
      const started = { promise: undefined } as unknown as Flight;
      cache.inflight.set(key, started);
      started.promise =
        entry === undefined ? download(cache, key, started) : revalidate(cache, key, entry, started);
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
  };

  const kindStats = (cache: KindCache): KindStats => {
    let active = 0;
    let expired = 0;
    let stale = 0;
    let bytes = 0;
    for (const [key, entry] of cache.lru.entries()) {
      if (cache.lru.getRemainingTTL(key) > 0) active += 1;
      else expired += 1;
      if (entry.staleSince !== undefined) stale += 1;
      bytes += entry.body.byteLength;
    }
    const reads = cache.hits + cache.misses;
    return {
      active_items: active,
      expired_items: expired,
      total_items: active + expired,
      stale_items: stale,
      hits: cache.hits,
      misses: cache.misses,
      hit_ratio: reads === 0 ? 0 : cache.hits / reads,
      revalidations: cache.revalidations,
      downloads: cache.downloads,
      updates: cache.updates,
      stale_served: cache.staleServed,
      evictions: cache.evictions,
      bytes,
      max_items: cache.limits.maxEntries,
      max_bytes: cache.limits.maxBytes,
      ttl_ms: cache.limits.ttlMs,
    };
  };

  const countStale = (): number => {
    let stale = 0;
    for (const cache of Object.values(kinds)) {
      for (const entry of cache.lru.values()) if (entry.staleSince !== undefined) stale += 1;
    }
    return stale;
  };

  const health = (): StoreHealth => ({
    store: { kind: store.kind, location: store.location },
    reachable,
    lastError,
    servingStale: countStale() > 0,
  });

  const dropAll = (cache: KindCache): number => {
    const count = cache.lru.size;
    cache.inflight.clear();
    cache.lru.clear();
    return count;
  };

  return {
    store,
    read,
    modelFileReader(readerOptions = {}) {
      const kindOf = readerOptions.kindOf ?? artifactKindOf;
      return async (path: string) => read(kindOf(path), modelFileKey(path));
    },
    has(kind, key) {
      return kindCache(kind).lru.peek(key) !== undefined;
    },
    delete(kind, key) {
      const cache = kindCache(kind);
      cache.inflight.delete(key);
      return cache.lru.delete(key);
    },
    clear(kind) {
      if (kind !== undefined) return dropAll(kindCache(kind));
      return Object.values(kinds).reduce((sum, cache) => sum + dropAll(cache), 0);
    },
    cleanup() {
      let dropped = 0;
      for (const cache of Object.values(kinds)) {
        for (const [key, entry] of [...cache.lru.entries()]) {
          if (entry.staleSince === undefined && cache.lru.getRemainingTTL(key) <= 0) {
            cache.lru.delete(key);
            dropped += 1;
          }
        }
      }
      if (dropped > 0) logger.debug?.({ dropped }, `[po/cache] cleanup dropped ${dropped} expired entries`);
      return dropped;
    },
    stats() {
      const perKind = Object.fromEntries(ARTIFACT_KINDS.map((k) => [k, kindStats(kinds[k])])) as Record<
        ArtifactKind,
        KindStats
      >;
      const totals: TotalStats = {
        active_items: 0,
        expired_items: 0,
        total_items: 0,
        stale_items: 0,
        hits: 0,
        misses: 0,
        hit_ratio: 0,
        revalidations: 0,
        downloads: 0,
        updates: 0,
        stale_served: 0,
        evictions: 0,
        bytes: 0,
        max_items: 0,
        max_bytes: 0,
      };
      for (const stats of Object.values(perKind)) {
        for (const name of Object.keys(totals) as (keyof TotalStats)[]) {
          if (name !== 'hit_ratio') totals[name] += stats[name];
        }
      }
      const reads = totals.hits + totals.misses;
      totals.hit_ratio = reads === 0 ? 0 : totals.hits / reads;
      return { kinds: perKind, totals, health: health() };
    },
    health,
    async close() {
      closed = true;
      for (const cache of Object.values(kinds)) dropAll(cache);
    },
  };
}
