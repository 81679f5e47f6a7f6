import type { VariableType } from './schema.ts';

/** How a variable takes part in a cycle, as reported per variable. */
export type VariableCategory =
  | 'optimized'
  | 'setpoint'
  | 'fixed'
  | 'input'
  | 'calculated'
  | 'delta'
  | 'predicted'
  | 'constraint'
  | 'kpi';

/** One variable in a result (the predecessor's fields, plus bounds where they apply). */
export interface VariableResult {
  category: VariableCategory;
  type: VariableType;
  units: string | null;
  /** The plant value (for Calculated variables: the value computed from the plant values). */
  user_input_value: number | null;
  /** What po recommends (decision variables and setpoints) or computes at the recommendation. */
  optimizer_suggested_value: number | null;
  /** optimizer_suggested_value - user_input_value. */
  delta: number | null;
  /** For values the strategy computes (deltas, predictions, scores, KPIs): their value when holding the current setpoints. */
  value_at_current?: number;
  /** For decision variables: the bounds of this cycle and whether the answer sits on one. */
  lower_bound?: number;
  upper_bound?: number;
  at_bound?: 'lower' | 'upper' | null;
}

/** A recommendation for one real Operative tag. */
export interface SetpointResult {
  current: number;
  recommended: number;
  delta: number;
  units: string | null;
  /** The decision variable this setpoint comes from (itself, or the Calculated sum it is part of). */
  from: string;
}

/** Why a constraint score is below 1 at the recommendation. */
export interface ConstraintExplanation {
  score: number;
  /** The predicted value that is scored. */
  value: number | null;
  /** Decision variables that move the score, strongest first; effect = score change over the variable's full move. */
  pushed_by: { variable: string; score_per_unit: number; effect_over_threshold: number }[];
}

export interface OptimizerSummary {
  algorithm: string;
  iterations: number;
  evaluations: number;
  batches: number;
  converged: boolean;
  timed_out: boolean;
  /** True when the optimizer's answer was not better than holding the current values, so po holds them. */
  held: boolean;
  message: string;
}

/** The result of `POST /optimize`, `po optimize --json` and `po simulate --json`. */
export interface CycleResult {
  status: 'success';
  mode: 'optimize' | 'simulate' | 'monitor';
  timestamp: string;
  config_version: string | null;
  duration_ms: number;
  variables: Record<string, VariableResult>;
  optimized_variables: Record<string, VariableResult>;
  predicted_variables: Record<string, VariableResult>;
  constraint_variables: Record<string, VariableResult>;
  cost_function_value: number;
  cost_at_current: number;
  setpoints: Record<string, SetpointResult>;
  optimizer: OptimizerSummary;
  explanation: { constraints: Record<string, ConstraintExplanation> };
  summary: {
    total_variables: number;
    optimized_count: number;
    setpoint_count: number;
    predicted_count: number;
    constraint_count: number;
    constraints_below_one: number;
    cost_improvement: number;
    message: string;
  };
  warnings: string[];
}
