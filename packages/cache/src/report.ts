import type { ArtifactCache } from './artifact-cache.ts';
import type { Deployment, DeploymentStatus } from './deployment.ts';
import type { LastRunState } from './last-run.ts';
import type { ArtifactKind, KindStats, StoreHealth, TotalStats } from './types.ts';

/** The predecessor's cache statistics, with po's counters added. */
export interface CacheReport {
  current_config_version: string | null;
  cached_last_run_timestamp: string | null;
  cache_stats: Record<ArtifactKind, KindStats>;
  totals: TotalStats;
  store: StoreHealth;
  deployment: DeploymentStatus | null;
}

/** Builds the statistics `/cache/stats` and `po cache stats` report. */
export function cacheReport(parts: {
  cache: ArtifactCache;
  deployment?: Deployment<unknown> | undefined;
  lastRun?: LastRunState | undefined;
}): CacheReport {
  const stats = parts.cache.stats();
  const deployment = parts.deployment?.status() ?? null;
  return {
    current_config_version: deployment?.version ?? null,
    cached_last_run_timestamp: parts.lastRun?.get() ?? null,
    cache_stats: stats.kinds,
    totals: stats.totals,
    store: stats.health,
    deployment,
  };
}
