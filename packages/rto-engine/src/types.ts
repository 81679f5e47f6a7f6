import type { ModelFile, ModelProvider } from '@po/core';
import type { StrategyIssue } from './errors.ts';
import type { StrategyLimits } from './limits.ts';
import type { Optimizer } from './optimizer/types.ts';
import type { StrategyPlan } from './plan.ts';
import type { CycleResult, ModelTrust } from './result-schema.ts';
import type { StrategySpec } from './schema.ts';
import type { ModelDomainPlan } from './training-domain.ts';

/** A plant state: variable name -> value (numbers, or numeric strings as the predecessor accepted). */
export type PlantState = Readonly<Record<string, unknown>>;

export interface CompileOptions {
  /** Loads InferenceModel skills; required when the strategy has any. */
  modelProvider?: ModelProvider;
  /** The strategy's version, reported with every result. */
  version?: string;
  /** Where the strategy came from, for error messages (a file name). */
  source?: string;
  /** Time source for result timestamps (tests). */
  now?: () => Date;
  /** Runs instead of the strategy's `algorithm` (a custom method, or a test double). */
  optimizer?: Optimizer;
  /** Bounds on the strategy (defaults: `DEFAULT_STRATEGY_LIMITS`). */
  limits?: Partial<StrategyLimits> | undefined;
}

export interface CycleOptions {
  /** Wall-clock budget for the optimizer (overrides the strategy's `max_time_ms` when lower). */
  maxTimeMs?: number;
  /** Aborts the optimizer; the best point so far is used. */
  signal?: AbortSignal;
  /**
   * Bias correction (used only when the strategy sets `models.bias_correction: true`): per
   * InferenceModel skill, what to add to its prediction (its filtered bias, measured minus
   * predicted, in output units), usually from a mismatch monitor.
   */
  modelBias?: Readonly<Record<string, number>>;
}

/** A strategy ready to run: formulas compiled, every model loaded. Safe to use from concurrent cycles. */
export interface CompiledStrategy {
  readonly version: string | null;
  readonly spec: StrategySpec;
  /** Problems that do not stop the strategy from running. */
  readonly warnings: readonly StrategyIssue[];
  /** Names of the decision variables, in the optimizer's order. */
  readonly decisionVariables: readonly string[];
  /** Files of every model, for provenance. */
  readonly modelFiles: readonly (ModelFile & { skill: string })[];
  /** Runs one cycle: precalculation, optimization, recommendation. */
  optimize(state: PlantState, options?: CycleOptions): Promise<CycleResult>;
  /** Evaluates the strategy at given decision values (others hold), without optimizing. */
  simulate(state: PlantState, decisions?: Readonly<Record<string, number>>): Promise<CycleResult>;
  /** Monitor mode: predictions and constraint scores at the current values, no recommendation. */
  monitor(state: PlantState): Promise<CycleResult>;
  /**
   * The values of the variables `names` as `monitor` (no `decisions`) or `simulate` (with them)
   * would report them, and every model's training error, without building a result (see
   * `ModelValues`): for a mismatch monitor's many evaluations.
   */
  modelValues(
    state: PlantState,
    names: readonly string[],
    decisions?: Readonly<Record<string, number>>,
  ): Promise<ModelValues>;
  /**
   * The cost at `count` candidate points for one plant state, in one batch: `points` holds
   * `count` rows of decision values (row-major, `decisionVariables` order). A non-finite
   * cost marks a point where the strategy cannot be computed.
   */
  evaluate(state: PlantState, points: Float64Array, count: number): Promise<Float64Array>;
  /**
   * The cost and its exact derivatives at `count` candidate points, as `evaluate`:
   * `gradients[r * n + j]` is d cost / d decision j at row r (moving it up; one-sided where a
   * constraint score sits on a kink), `kinks` how many rows met a nonsmooth point. Optional so
   * that test doubles need not have it; the engine's strategies always do.
   */
  evaluateGradient?(
    state: PlantState,
    points: Float64Array,
    count: number,
  ): Promise<{ costs: Float64Array; gradients: Float64Array; kinks: number }>;
  /** Releases the model sessions. */
  dispose(): Promise<void>;
}

/** What a cycle was asked to do. */
export interface CycleRequest {
  mode: 'optimize' | 'simulate' | 'monitor';
  cycleOptions?: CycleOptions;
  decisions?: Readonly<Record<string, number>>;
}

/** What every cycle of one compiled strategy shares. */
export interface CycleSetup {
  plan: StrategyPlan;
  /** The strategy's version, reported with every result. */
  version: string | null;
  /** Runs the optimization; undefined when the strategy has no OptimizationSkill. */
  optimizer: Optimizer | undefined;
  now: () => Date;
  /** The extrapolation guard of every model skill. */
  domains: readonly ModelDomainPlan[];
}

/** What `CompiledStrategy.modelValues` gives: a few numbers of a `monitor`/`simulate` result. */
export interface ModelValues {
  /**
   * By asked variable name: `current` is what the result's `variables[name]` (or
   * `derived_variables[name]`) says in `user_input_value` (as `monitor` reports it), `value` what
   * it says in `optimizer_suggested_value`, except that a decision variable's value is the decision
   * value evaluated and the parts of a Calculated sum are not split (no setpoints).
   */
  variables: Record<string, { current: number | null; value: number | null }>;
  /** Every model skill's training error, as the result's `model_trust.models[skill]` has it. */
  models: Record<string, Pick<ModelTrust, 'training_error'>>;
}
