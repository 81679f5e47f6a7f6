export { type ConstraintLimits, constraintScore } from './constraint-score.ts';
export { compileStrategy } from './engine.ts';
export {
  CycleError,
  EngineError,
  FormulaError,
  InputDataError,
  OptimizerError,
  type StrategyIssue,
  StrategyValidationError,
} from './errors.ts';
export {
  checkStrategyText,
  DEFAULT_STRATEGY_LIMITS,
  isLimitIssue,
  jsonNesting,
  LIMIT_SETTINGS,
  type StrategyLimits,
  strategyLimits,
} from './limits.ts';
export {
  initialMismatchState,
  type MismatchSettings,
  type MismatchState,
  type MismatchThresholds,
  mismatchSettings,
  mismatchStatus,
  mismatchThresholds,
  updateMismatch,
} from './mismatch-monitor.ts';
export { createOptimizer, optimizerNames } from './optimizer/index.ts';
export type {
  BoundedProblem,
  Optimizer,
  OptimizerOptions,
  OptimizerResult,
} from './optimizer/types.ts';
export {
  type ConstraintExplanation,
  type CycleResult,
  cycleResultSchema,
  type DomainCheckResult,
  type DomainExcursion,
  type MismatchStatus,
  type ModelTrust,
  type ModelTrustSection,
  modelTrustSectionSchema,
  type OptimizerSummary,
  type SetpointResult,
  type VariableCategory,
  type VariableResult,
  type VariableRole,
} from './result-schema.ts';
export {
  type ModelsSpec,
  type SkillClass,
  type SkillSpec,
  type StrategySpec,
  strategySchema,
  type TaskSpec,
  type VariableSpec,
  type VariableType,
  variableTypes,
} from './schema.ts';
export {
  type MonitoredPrediction,
  monitoredPredictions,
  predictingModel,
  strategyDecisionVariables,
} from './semantics.ts';
export type { CompiledStrategy, CompileOptions, CycleOptions, ModelValues, PlantState } from './types.ts';
export { type CheckOptions, checkStrategy, type StrategyCheck } from './validate.ts';
