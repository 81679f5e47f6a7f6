/** The kinds of artifact po caches; each has its own cache, limits and counters. */
export const ARTIFACT_KINDS = ['strategy', 'model', 'scaler', 'metadata'] as const;

/** `strategy` (configs/config-<version>.yaml), `model`, `scaler` or `metadata` (models/...). */
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** Bounds and freshness of one kind's cache. */
export interface KindLimits {
  /**
   * How long an entry is used without asking the store, in ms. Past it the entry is kept and the
   * next read revalidates it by ETag (a 304 costs no body). Default 6 h for strategies, 24 h otherwise.
   */
  ttlMs: number;
  /** Most entries kept; the least recently used goes first. */
  maxEntries: number;
  /** Most bytes of bodies kept; an object larger than this is returned but not cached. */
  maxBytes: number;
}

/** Counters and contents of one kind's cache (snake_case, as the predecessor reported them). */
export interface KindStats {
  /** Entries within their TTL. */
  active_items: number;
  /** Entries past their TTL, kept until revalidated or `cleanup()`. */
  expired_items: number;
  total_items: number;
  /** Entries kept although the store could not revalidate them (store unreachable). */
  stale_items: number;
  /** Reads answered from cached bytes (fresh, revalidated by a 304, or stale). */
  hits: number;
  /** Reads that found nothing usable and waited for a download. */
  misses: number;
  /** hits / (hits + misses); 0 before any read. */
  hit_ratio: number;
  /** Revalidations answered "not modified" (no body transferred). */
  revalidations: number;
  /** Bodies transferred from the store (first downloads and changed objects). */
  downloads: number;
  /** Revalidations that found a changed object. */
  updates: number;
  /** Reads answered with an entry the store could not confirm. */
  stale_served: number;
  /** Entries dropped to respect maxEntries or maxBytes. */
  evictions: number;
  /** Bytes of the bodies held. */
  bytes: number;
  max_items: number;
  max_bytes: number;
  ttl_ms: number;
}

/** Whether the store answers, as last seen by the cache. */
export interface StoreHealth {
  /** `kind` and `location` of the store (no secrets). */
  store: { kind: string; location: string };
  /** False after a store call failed because the store did not answer (UNREACHABLE), until one succeeds. */
  reachable: boolean;
  /** The last store call that failed for another reason than NOT_FOUND or INVALID_KEY (kept after recovery). */
  lastError: { key: string; code: string | undefined; message: string; at: string } | null;
  /** True while some entry is served although the store could not revalidate it. */
  servingStale: boolean;
}

/** Sums over every kind. */
export type TotalStats = Omit<KindStats, 'ttl_ms'>;

/** `cache.stats()`: per kind and in total. */
export interface CacheStats {
  kinds: Record<ArtifactKind, KindStats>;
  /** Sums over the kinds (hit_ratio over all reads). */
  totals: TotalStats;
  health: StoreHealth;
}
