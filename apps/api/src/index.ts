export { API_VERSION, createApp, type PoApp } from './app.ts';
export { ApiError, type ErrorBody } from './errors.ts';
export type { ApiMetrics, CycleOutcome } from './metrics.ts';
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
  type ModelFileReader,
  type PooledStrategy,
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
  ApiLogger,
  ApiSettings,
  AppOptions,
  CacheControl,
  Feedback,
  ResultsStore,
  RunnableStrategy,
  SourceStatus,
  StoredResult,
  StrategySource,
} from './types.ts';
