import type { StrategyPlan, SumMapping } from './plan.ts';
import type {
  ConstraintExplanation,
  CycleResult,
  DomainExcursion,
  ModelTrust,
  ModelTrustSection,
  OptimizerSummary,
  SetpointResult,
  VariableCategory,
  VariableResult,
  VariableRole,
} from './result-schema.ts';
import type { VariableType } from './schema.ts';
import { moveBounds } from './semantics.ts';
import type { Outcome } from './solve.ts';
import { modelTrustOf } from './training-domain.ts';
import type { CycleRequest, CycleSetup } from './types.ts';
import type { Workspace } from './workspace.ts';

const ROLE: Record<VariableType, VariableRole> = {
  Operative: 'input',
  Informative: 'input',
  Calculated: 'calculated',
  Delta: 'delta',
  Predicted: 'predicted',
  Constraint: 'constraint',
  CalculatedKPI: 'kpi',
};

/** What one cycle found, for its result. */
export interface CycleFindings {
  mode: CycleRequest['mode'];
  /** Per variable: whether the plant state gave it. */
  provided: readonly boolean[];
  outcome: Outcome | undefined;
  warnings: string[];
  elapsed: number;
  /** Bias shifts applied to model outputs this cycle, by skill. */
  biasCorrection: ReadonlyMap<string, number>;
}

/** The result of a cycle in the predecessor's shape, plus setpoints, explanation and provenance. */
export function buildResult(setup: CycleSetup, ws: Workspace, found: CycleFindings): CycleResult {
  const { plan } = setup;
  const { mode, outcome, warnings } = found;
  const {
    variables,
    derived,
    optimized,
    predicted,
    constraints: constraintVars,
    counts,
  } = variableResults(plan, ws, found);
  const setpoints: Record<string, SetpointResult> = {};
  const decisionNames =
    outcome && mode !== 'monitor' ? recommend(plan, ws, outcome, variables, setpoints, warnings) : [];
  const constraints = outcome ? explainConstraints(plan, ws, outcome, decisionNames) : {};
  const cost = outcome?.cost ?? Number.NaN;
  const costAtCurrent = outcome?.costAtCurrent ?? Number.NaN;
  const optimizer = optimizerSummary(mode, outcome);
  const trust = modelTrustSection(setup, ws, found);
  return {
    status: 'success',
    mode,
    timestamp: setup.now().toISOString(),
    config_version: setup.version,
    duration_ms: found.elapsed,
    variables,
    derived_variables: derived,
    optimized_variables: optimized,
    predicted_variables: predicted,
    constraint_variables: constraintVars,
    cost_function_value: cost,
    cost_at_current: costAtCurrent,
    setpoints,
    optimizer,
    explanation: {
      constraints,
      domain_limits: trust.limits,
      sensitivities: outcome?.sensitivityMethod ?? null,
    },
    summary: {
      ...predecessorCounts(variables, optimized, counts),
      optimized_count: decisionNames.length,
      setpoint_count: Object.keys(setpoints).length,
      predicted_count: counts.predicted,
      constraint_count: counts.constraints,
      constraints_below_one: Object.keys(constraints).length,
      cost_improvement: costAtCurrent - cost,
      message: optimizer.message,
    },
    model_trust: trust.section,
    warnings,
  };
}

/**
 * The model-trust section: every model's inputs against its training domain at the current point
 * (workspace row 1 after an optimization, row 0 without one) and at the recommendation (row 0),
 * the domain bounds set under restrict and which of them hold the recommendation back, and the
 * bias correction applied. Under `warn` and `restrict`, excursions are also warnings.
 */
function modelTrustSection(
  setup: CycleSetup,
  ws: Workspace,
  found: CycleFindings,
): { section: ModelTrustSection; limits: string[] } {
  const { plan } = setup;
  const { outcome, mode } = found;
  const extrapolation = plan.spec.models?.extrapolation ?? 'warn';
  const rows = { current: outcome ? 1 : 0, recommendation: outcome && mode !== 'monitor' ? 0 : undefined };
  const limits: string[] = [];
  const models: Record<string, ModelTrust> = {};
  const extrapolating: string[] = [];
  for (const domain of setup.domains) {
    const restricted = (outcome?.domainLimits ?? [])
      .filter((l) => l.skill === domain.skill)
      .map((l) => {
        const x = outcome!.x[l.decision]!;
        const active = Math.abs(x - l.value) <= 1e-9 * Math.max(1, Math.abs(l.value));
        const name = plan.names[outcome!.decisions[l.decision]!]!;
        if (active && rows.recommendation !== undefined) {
          limits.push(
            `${name} is held at its ${l.bound} bound ${l.value} by the training domain of '${domain.skill}' ` +
              `(${l.variable} ${l.bound === 'lower' ? 'min' : 'max'} ${l.limit})`,
          );
        }
        return {
          decision_variable: name,
          bound: l.bound,
          value: l.value,
          domain_variable: l.variable,
          limit: l.limit,
          active,
        };
      });
    const bias = found.biasCorrection.get(domain.skill);
    const trust = modelTrustOf(domain, ws, rows, restricted, bias ?? null);
    models[domain.skill] = trust;
    const points = [
      ['the current point', trust.at_current],
      ['the recommendation', trust.at_recommendation],
    ] as const;
    let outside = false;
    for (const [where, check] of points) {
      if (!check || check.inside) continue;
      outside = true;
      if (extrapolation !== 'allow')
        found.warnings.push(
          `model '${domain.skill}' extrapolates at ${where}: ${describeExcursions(check.outside)}`,
        );
    }
    if (outside) extrapolating.push(domain.skill);
  }
  return {
    section: {
      extrapolation,
      bias_correction: plan.spec.models?.bias_correction ?? false,
      extrapolating,
      models,
    },
    limits,
  };
}

function describeExcursions(outside: readonly DomainExcursion[]): string {
  return outside
    .map((e) => {
      const pct =
        e.fraction === null ? '' : ` (${(100 * e.fraction).toPrecision(3)} % of the training range)`;
      return `${e.variable} = ${e.value} is ${e.excess.toPrecision(4)} ${e.side} its training range [${e.min}, ${e.max}]${pct}`;
    })
    .join('; ');
}

const units = (plan: StrategyPlan, v: number) => plan.spec.variables[plan.names[v]!]!.units ?? null;

/** The predecessor's summary counts (its clients read them). */
function predecessorCounts(
  variables: Record<string, VariableResult>,
  optimizable: Record<string, VariableResult>,
  counts: CategoryCounts,
) {
  const changed = (map: Record<string, VariableResult>) => {
    let count = 0;
    for (const name in map) {
      const delta = map[name]!.delta;
      if (delta !== null && Math.abs(delta) > 1e-6) count++;
    }
    return count;
  };
  const total = counts.variables;
  const withChanges = changed(variables);
  return {
    total_variables: total,
    total_variables_with_optimizer_changes: withChanges,
    total_optimizable_variables_changed: changed(optimizable),
    total_predicted_variables: counts.predicted,
    total_constraints: counts.constraints,
    optimization_impact: `${withChanges}/${total} variables have optimizer suggestions different from user input`,
  };
}

/**
 * The predecessor's category: optimizable for Calculated variables and for Operative ones that
 * no PreCalculateVariables skill reads; otherwise by type.
 */
function categoryOf(type: VariableType, name: string, fixed: ReadonlySet<string>): VariableCategory {
  if (type === 'Calculated' || (type === 'Operative' && !fixed.has(name))) return 'optimizable';
  if (type === 'Predicted') return 'predicted';
  if (type === 'Constraint') return 'constraint';
  return type === 'Operative' ? 'operative' : 'informative';
}

/** The predecessor's per-category fields, echoed from the strategy (null when it does not give them). */
function addCategoryFields(
  result: VariableResult,
  category: VariableCategory,
  spec: Record<string, unknown>,
): void {
  if (category === 'optimizable') {
    result.threshold = (spec.threshold ?? null) as VariableResult['threshold'];
    result.bounds = (spec.bounds ?? null) as VariableResult['bounds'];
  } else if (category === 'predicted') {
    result.model_output = true;
  } else if (category === 'constraint') {
    result.constraint_type = (spec.constraint_type ?? null) as VariableResult['constraint_type'];
    result.constraint_bounds = (spec.constraint_bounds ?? null) as VariableResult['constraint_bounds'];
  }
}

/** How many entries `variableResults` put in `variables` and in its predicted and constraint maps. */
interface CategoryCounts {
  variables: number;
  predicted: number;
  constraints: number;
}

/**
 * Every variable: its plant value and what the cycle computed (before recommendations). The
 * predecessor's types go in `variables` (with its category and fields) and, by category, in
 * `optimized`, `predicted` and `constraints` (the same objects); Delta and CalculatedKPI in
 * `derived`.
 */
function variableResults(
  plan: StrategyPlan,
  ws: Workspace,
  found: CycleFindings,
): {
  variables: Record<string, VariableResult>;
  derived: Record<string, VariableResult>;
  optimized: Record<string, VariableResult>;
  predicted: Record<string, VariableResult>;
  constraints: Record<string, VariableResult>;
  counts: CategoryCounts;
} {
  const variables: Record<string, VariableResult> = {};
  const derivedMap: Record<string, VariableResult> = {};
  const optimized: Record<string, VariableResult> = {};
  const predicted: Record<string, VariableResult> = {};
  const constraints: Record<string, VariableResult> = {};
  const counts: CategoryCounts = { variables: 0, predicted: 0, constraints: 0 };
  const { outcome } = found;
  for (let v = 0; v < plan.names.length; v++) {
    const name = plan.names[v]!;
    const type = plan.types[v]!;
    const current = ws.current[v]!;
    const derived = type !== 'Operative' && type !== 'Informative' && type !== 'Calculated';
    const known = found.provided[v] || (type !== 'Operative' && type !== 'Informative');
    const suggested = derived ? ws.dof[v]![0]! : current;
    const category = categoryOf(type, name, plan.fixed);
    const own = type === 'Delta' || type === 'CalculatedKPI';
    // Built by assignment, in the order the result has always had (no object spreads: this runs
    // for every variable of every cycle).
    const result: VariableResult = {
      category,
      role: ROLE[type],
      type,
      units: own ? units(plan, v) : (units(plan, v) ?? ''),
      user_input_value: known ? current : null,
      optimizer_suggested_value: known ? suggested : null,
      delta: known ? suggested - current : null,
    };
    if (derived && outcome) result.value_at_current = outcome.atCurrent[v]!;
    if (own) {
      derivedMap[name] = result;
      continue;
    }
    addCategoryFields(result, category, plan.spec.variables[name] as Record<string, unknown>);
    variables[name] = result;
    counts.variables++;
    if (category === 'optimizable') optimized[name] = result;
    else if (category === 'predicted') {
      predicted[name] = result;
      counts.predicted++;
    } else if (category === 'constraint') {
      constraints[name] = result;
      counts.constraints++;
    }
  }
  return { variables, derived: derivedMap, optimized, predicted, constraints, counts };
}

/**
 * Marks the decision variables with their recommendation and bounds, and writes a setpoint for
 * each Operative one and for each Operative part of a Calculated sum. Returns the decision names.
 */
function recommend(
  plan: StrategyPlan,
  ws: Workspace,
  outcome: Outcome,
  variables: Record<string, VariableResult>,
  setpoints: Record<string, SetpointResult>,
  warnings: string[],
): string[] {
  const decisionNames: string[] = [];
  outcome.decisions.forEach((v, j) => {
    const name = plan.names[v]!;
    decisionNames.push(name);
    const x = outcome.x[j]!;
    const x0 = outcome.x0[j]!;
    const lo = outcome.lower[j]!;
    const hi = outcome.upper[j]!;
    const tol = 1e-6 * Math.max(hi - lo, 1e-12);
    // Assigned one by one (not Object.assign of a literal): the same keys in the same order.
    const result = variables[name]!;
    result.role = 'optimized';
    result.user_input_value = x0;
    result.optimizer_suggested_value = x;
    result.delta = x - x0;
    result.lower_bound = lo;
    result.upper_bound = hi;
    result.at_bound = hi - lo <= 0 ? null : x <= lo + tol ? 'lower' : x >= hi - tol ? 'upper' : null;
    if (plan.types[v] === 'Operative') {
      setpoints[name] = { current: x0, recommended: x, delta: x - x0, units: units(plan, v), from: name };
      return;
    }
    const sum = plan.sums.get(v);
    if (!sum) {
      warnings.push(`${name} is Calculated but not a plain sum of Operative tags, so it has no setpoints`);
      return;
    }
    const split = splitSum(plan, ws, sum, x0, x);
    if (split.unplaced !== 0) {
      warnings.push(
        `${name}: ${split.unplaced} of the recommended change does not fit within the thresholds and limits of ${sum.parts.map((p) => plan.names[p]).join(', ')}`,
      );
    }
    sum.parts.forEach((p, i) => {
      const part = plan.names[p]!;
      const cur = ws.current[p]!;
      const rec = split.values[i]!;
      setpoints[part] = {
        current: cur,
        recommended: rec,
        delta: rec - cur,
        units: units(plan, p),
        from: name,
      };
      const result = variables[part]!;
      result.role = 'setpoint';
      result.optimizer_suggested_value = rec;
      result.delta = rec - cur;
    });
  });
  return decisionNames;
}

/** Per constraint score below 1 at the recommendation: which decision variables push on it. */
function explainConstraints(
  plan: StrategyPlan,
  ws: Workspace,
  outcome: Outcome,
  decisionNames: readonly string[],
): Record<string, ConstraintExplanation> {
  const constraints: Record<string, ConstraintExplanation> = {};
  for (const p of plan.plans) {
    if (p.kind !== 'constraint') continue;
    const score = ws.dof[p.out]![0]!;
    if (!(score < 1)) continue;
    const s = outcome.sensitivity.get(p.out)!;
    const pushedBy = decisionNames
      .map((variable, j) => {
        const threshold = outcome.upper[j]! - outcome.lower[j]!;
        return { variable, score_per_unit: s[j]!, effect_over_threshold: (s[j]! * threshold) / 2 };
      })
      .filter((x) => Number.isFinite(x.score_per_unit) && x.score_per_unit !== 0)
      .sort((a, b) => Math.abs(b.effect_over_threshold) - Math.abs(a.effect_over_threshold));
    constraints[plan.names[p.out]!] = { score, value: ws.dof[p.input]![0]!, pushed_by: pushedBy };
  }
  return constraints;
}

function optimizerSummary(mode: CycleRequest['mode'], outcome: Outcome | undefined): OptimizerSummary {
  const r = outcome?.result;
  const message = outcome?.held
    ? `holding the current values: ${outcome.holdReason}`
    : mode === 'simulate'
      ? 'simulation at the given decision values'
      : mode === 'monitor'
        ? 'monitor mode: predictions and constraint scores at the current values, no recommendation'
        : (r?.message ?? 'no optimization');
  return {
    algorithm: outcome?.algorithm ?? 'none',
    requested: outcome?.requested ?? 'none',
    iterations: r?.iterations ?? 0,
    evaluations: r?.evaluations ?? 0,
    batches: r?.batches ?? 0,
    converged: r?.converged ?? false,
    timed_out: r?.timedOut ?? false,
    held: outcome?.held ?? false,
    message,
  };
}

/**
 * Splits a recommended total over its parts in proportion to their current values,
 * keeping each part within its own threshold and limits; what cannot be placed is reported.
 */
function splitSum(plan: StrategyPlan, ws: Workspace, sum: SumMapping, total0: number, total: number) {
  const parts = sum.parts;
  const cur = parts.map((p) => ws.current[p]!);
  const bounds = parts.map((p, i) => moveBounds(plan.spec.variables[plan.names[p]!]!, cur[i]!));
  const lo = bounds.map((b) => b.lower);
  const hi = bounds.map((b) => b.upper);
  const values = [...cur];
  let remaining = total - total0;
  for (
    let round = 0;
    round < parts.length + 1 && Math.abs(remaining) > 1e-12 * Math.max(1, Math.abs(total));
    round++
  ) {
    const free = parts.map((_, i) => (remaining > 0 ? values[i]! < hi[i]! : values[i]! > lo[i]!));
    const weights = cur.map((c, i) => (free[i] ? Math.abs(c) : 0));
    let wsum = weights.reduce((a, b) => a + b, 0);
    if (wsum === 0) {
      for (let i = 0; i < parts.length; i++) weights[i] = free[i] ? 1 : 0;
      wsum = weights.reduce((a, b) => a + b, 0);
    }
    if (wsum === 0) break;
    let placed = 0;
    for (let i = 0; i < parts.length; i++) {
      if (!free[i]) continue;
      const want = values[i]! + (remaining * weights[i]!) / wsum;
      const next = Math.min(Math.max(want, lo[i]!), hi[i]!);
      placed += next - values[i]!;
      values[i] = next;
    }
    remaining -= placed;
  }
  return { values, unplaced: Math.abs(remaining) > 1e-9 * Math.max(1, Math.abs(total)) ? remaining : 0 };
}
