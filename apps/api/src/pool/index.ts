export {
  type BundleOptions,
  bundleFromFiles,
  bundleKey,
  type StrategyBundle,
  strategyFilePaths,
} from './bundle.ts';
export {
  type CycleExecutor,
  type CyclePool,
  type CyclePoolOptions,
  createCyclePool,
  type PoolStats,
  type RunOptions,
} from './pool.ts';
export { type PooledStrategy, type PooledStrategyOptions, pooledStrategy } from './pooled-strategy.ts';
export {
  type CycleTask,
  CycleTaskError,
  type CycleTaskKind,
  type OmittedResultMap,
  type SerializedError,
  type StrategyDescription,
  type TaskResults,
  type ValidationReport,
} from './protocol.ts';
