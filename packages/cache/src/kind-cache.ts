import type { Logger } from '@po/core';
import { LRUCache } from 'lru-cache';
import { CacheError } from './errors.ts';
import type { ArtifactKind, KindLimits, KindStats, TotalStats } from './types.ts';

/** One cached object. */
export interface Entry {
  readonly body: Uint8Array;
  readonly etag: string;
  /** When the store last confirmed or delivered these bytes (epoch ms). */
  readonly validatedAt: number;
  /** When the store first failed to revalidate this entry (epoch ms); undefined while confirmed. */
  readonly staleSince: number | undefined;
}

/** How a download or revalidation ended. */
export type Outcome = 'downloaded' | 'not-modified' | 'changed' | 'stale';

export interface Settled {
  entry: Entry;
  outcome: Outcome;
}

/** One download or revalidation in progress; every read of the key meanwhile awaits it. */
export interface Flight {
  promise: Promise<Settled>;
}

/** The cache of one artifact kind: its LRU, the flights in progress and its counters. */
export interface KindCache {
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

/** A kind's cache over `lru-cache`, with `limits` checked; `now` is the one clock of TTLs and status. */
export function createKindCache(
  kind: ArtifactKind,
  limits: KindLimits,
  now: () => number,
  logger: Logger,
): KindCache {
  checkLimits(kind, limits);
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
        logger.debug({ kind, key }, `[po/cache] ${kind} '${key}' evicted (least recently used)`);
      },
    }),
  };
  return cache;
}

/** Drops every entry and forgets the flights in progress; returns how many entries there were. */
export function dropAll(cache: KindCache): number {
  const count = cache.lru.size;
  cache.inflight.clear();
  cache.lru.clear();
  return count;
}

/** Drops the entries past their TTL, except those served stale (the only copy while the store is away). */
export function dropExpired(cache: KindCache): number {
  let dropped = 0;
  for (const [key, entry] of [...cache.lru.entries()]) {
    if (entry.staleSince === undefined && cache.lru.getRemainingTTL(key) <= 0) {
      cache.lru.delete(key);
      dropped += 1;
    }
  }
  return dropped;
}

/** Entries served although the store could not revalidate them. */
export function staleCount(cache: KindCache): number {
  let stale = 0;
  for (const entry of cache.lru.values()) if (entry.staleSince !== undefined) stale += 1;
  return stale;
}

export function kindStats(cache: KindCache): KindStats {
  let active = 0;
  let expired = 0;
  let bytes = 0;
  for (const [key, entry] of cache.lru.entries()) {
    if (cache.lru.getRemainingTTL(key) > 0) active += 1;
    else expired += 1;
    bytes += entry.body.byteLength;
  }
  const reads = cache.hits + cache.misses;
  return {
    active_items: active,
    expired_items: expired,
    total_items: active + expired,
    stale_items: staleCount(cache),
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
}

/** Sums over the kinds; the hit ratio is over all reads. */
export function totalStats(kinds: readonly KindStats[]): TotalStats {
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
  for (const stats of kinds) {
    for (const name of Object.keys(totals) as (keyof TotalStats)[]) {
      if (name !== 'hit_ratio') totals[name] += stats[name];
    }
  }
  const reads = totals.hits + totals.misses;
  totals.hit_ratio = reads === 0 ? 0 : totals.hits / reads;
  return totals;
}
