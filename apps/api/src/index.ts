export { API_VERSION, createApp, type PoApp } from './app.ts';
export { ApiError } from './errors.ts';
export type { ApiMetrics } from './metrics.ts';
export type { AccessSettings, Identity, Role } from './middleware/auth.ts';
export {
  type BundleOptions,
  bundleFromFiles,
  bundleKey,
  type CycleExecutor,
  type CyclePool,
  type CyclePoolOptions,
  type CycleTask,
  CycleTaskError,
  type CycleTaskKind,
  createCyclePool,
  type OmittedResultMap,
  type PooledStrategy,
  type PooledStrategyOptions,
  type PoolStats,
  pooledStrategy,
  type RunOptions,
  type SerializedError,
  type StrategyBundle,
  type StrategyDescription,
  strategyFilePaths,
  type TaskResults,
  type ValidationReport,
} from './pool/index.ts';
export type {
  CycleOutcome,
  ErrorBody,
  Feedback,
  HealthResponse,
  StoredResult,
} from './schemas.ts';
export type {
  ApiSettings,
  AppOptions,
  AuditActor,
  AuditRecord,
  CacheControl,
  DashboardData,
  ModelMismatchReport,
  ReplayRequest,
  ReplayService,
  ResultsStore,
  RunnableStrategy,
  StrategySource,
  StrategyVersions,
  UnitScope,
  UnitsView,
} from './types.ts';
