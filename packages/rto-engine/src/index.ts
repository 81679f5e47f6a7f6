export { type ConstraintLimits, constraintScore } from './constraint-score.ts';
export {
  type CompiledStrategy,
  type CompileOptions,
  type CycleOptions,
  compileStrategy,
  type PlantState,
} from './engine.ts';
export {
  CycleError,
  FormulaError,
  InputDataError,
  ModelLoadError,
  OptimizerError,
  PoError,
  type StrategyIssue,
  StrategyValidationError,
} from './errors.ts';
export type { ModelFile, ModelProvider, ModelRequest, SurrogateModel } from './model-provider.ts';
export { createOptimizer, optimizerNames } from './optimizer/index.ts';
export type {
  BoundedProblem,
  Optimizer,
  OptimizerOptions,
  OptimizerResult,
} from './optimizer/types.ts';
export type {
  ConstraintExplanation,
  CycleResult,
  OptimizerSummary,
  SetpointResult,
  VariableCategory,
  VariableResult,
} from './result.ts';
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
export { checkStrategy, type StrategyCheck } from './validate.ts';
