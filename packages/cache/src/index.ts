export {
  type ArtifactCache,
  type ArtifactCacheOptions,
  createArtifactCache,
  DEFAULT_LIMITS,
  type ModelFileReaderOptions,
  type ReadOptions,
} from './artifact-cache.ts';
export {
  createDeployment,
  type Deployed,
  type Deployment,
  type DeploymentOptions,
  type DeploymentStatus,
  type RefreshResult,
  type VersionReader,
} from './deployment.ts';
export { CacheError, type CacheErrorCode } from './errors.ts';
export { createLastRunState, type LastRunState, type LastRunStateOptions } from './last-run.ts';
export { artifactKindOf } from './model-key.ts';
export { type CacheReport, cacheReport } from './report.ts';
export {
  ARTIFACT_KINDS,
  type ArtifactKind,
  type CacheStats,
  type KindLimits,
  type KindStats,
  type StoreHealth,
  type TotalStats,
} from './types.ts';
