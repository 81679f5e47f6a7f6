import type { ConstraintLimits } from './constraint-score.ts';
import type { CycleOptions } from './engine.ts';
import type { CompiledFormula } from './formula/index.ts';
import type { SurrogateModel, SurrogateModelGroup } from './model-provider.ts';
import type { Optimizer, OptimizerOptions, OptimizerResult } from './optimizer/types.ts';
import type { StrategySpec, VariableType } from './schema.ts';

// The compiled form of a strategy, shared by the cycle (engine.ts), the columnar workspace
// (workspace.ts) and the result builder (result-builder.ts). Internal: not exported.

/** One skill, compiled; variables are indices into the strategy's variable list. */
export type Plan =
  | { kind: 'math'; name: string; out: number; formula: CompiledFormula }
  | { kind: 'constraint'; name: string; input: number; out: number; limits: ConstraintLimits }
  | {
      kind: 'model';
      name: string;
      inputs: Int32Array;
      /** Per input: 0 = dof - current (Delta), 1 = dof, 2 = zero (predecessor compat). */
      feeds: Uint8Array;
      out: number;
      model: SurrogateModel;
    }
  | {
      kind: 'modelGroup';
      name: string;
      /** Plan indices of the member model skills, in sequence order. */
      members: Int32Array;
      group: SurrogateModelGroup;
    }
  | { kind: 'optimize'; name: string };

export interface OptimizationPlan {
  skill: string;
  costSequence: Int32Array;
  costVariable: number;
  decisions: Int32Array;
  algorithm: string;
  options: OptimizerOptions;
}

export interface SumMapping {
  /** Operative parts of a Calculated sum, as variable indices. */
  parts: number[];
}

/** Everything a cycle needs from the compiled strategy. */
export type Engine = {
  spec: StrategySpec;
  names: string[];
  types: VariableType[];
  plans: Plan[];
  required: Set<number>;
  taskSequences: { name: string; sequence: Int32Array }[];
  optimization: OptimizationPlan | undefined;
  sums: Map<number, SumMapping>;
  version: string | null;
};

/** What a cycle was asked to do. */
export interface RunRequest {
  mode: 'optimize' | 'simulate' | 'monitor';
  cycleOptions?: CycleOptions;
  decisions?: Readonly<Record<string, number>>;
  optimizer: Optimizer | undefined;
  now: () => Date;
}

/** What the optimization step of a cycle found. */
export interface Outcome {
  decisions: Int32Array;
  x0: Float64Array;
  x: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  costAtCurrent: number;
  cost: number;
  algorithm: string;
  result: OptimizerResult | undefined;
  held: boolean;
  holdReason: string;
  /** Constraint-score sensitivities per decision variable (score change per unit), by constraint variable. */
  sensitivity: Map<number, Float64Array>;
  /** Every variable's dof when holding the current values. */
  atCurrent: Float64Array;
}
