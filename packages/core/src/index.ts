export {
  type DescribeOptions,
  describeError,
  errorCode,
  isPoError,
  isUnreachable,
  PoError,
  type PoErrorOptions,
} from './errors.ts';
export { type Logger, silentLogger } from './logger.ts';
export {
  type ModelFile,
  type ModelFileReader,
  type ModelFileRole,
  ModelLoadError,
  type ModelLoadErrorDetails,
  type ModelProvider,
  type ModelRequest,
  type SurrogateModel,
  type SurrogateModelGroup,
  type TrainingDomain,
  type TrainingError,
  type VariableRange,
} from './model-provider.ts';
export { gaussian, mulberry32 } from './random.ts';
export type { SourceStatus, StrategySource } from './strategy-source.ts';
export type { UnitCounters } from './unit-counters.ts';
