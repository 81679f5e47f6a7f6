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
  type OptimizerSummary,
  type SetpointResult,
  type VariableCategory,
  type VariableResult,
  type VariableRole,
} from './result-schema.ts';
export {
  type SkillClass,
  type SkillSpec,
  type StrategySpec,
  strategySchema,
  type TaskSpec,
  type VariableSpec,
  type VariableType,
  variableTypes,
} from './schema.ts';
export type { CompiledStrategy, CompileOptions, CycleOptions, PlantState } from './types.ts';
export { type CheckOptions, checkStrategy, type StrategyCheck } from './validate.ts';
