import type { TrainingError, VariableRange } from '@po/core';
import type { StrategyPlan } from './plan.ts';
import type { DomainCheckResult, DomainExcursion, ModelTrust } from './result-schema.ts';
import { deltaSource, Feed } from './semantics.ts';
import type { Workspace } from './workspace.ts';

/**
 * The extrapolation guard: per model, which values are checked against its training domain, how
 * far they leave it, and (under `models.extrapolation: restrict`) the bounds that keep the
 * decision variables feeding a bounded input inside it. Planned once per strategy, checked on the
 * rows of each cycle.
 */

/** How a checked value follows a decision variable: value = x[decision] - the current values of `minus`. */
interface RestrictTarget {
  /** Index into the optimization's decisions. */
  decision: number;
  /** Variables whose current value is subtracted (the decision's, for a move; a Delta input's own). */
  minus: readonly number[];
}

/** One value checked against one range. */
interface DomainCheck {
  /** The domain's variable name. */
  name: string;
  variable: number;
  range: VariableRange;
  /** A model input's feed (Delta: dof - current), or `Feed.dof` for other variables the domain names. */
  feed: Feed;
  restrict: RestrictTarget | undefined;
}

/** The extrapolation guard of one model skill. */
export interface ModelDomainPlan {
  skill: string;
  output: string;
  /** Where the ranges come from, or unknown when the provider cannot tell. */
  source: 'metadata' | 'scalers' | 'unknown';
  unknown: Readonly<Record<string, string>>;
  /** Domain variables that are not variables of the strategy (not checked). */
  unchecked: readonly string[];
  checks: readonly DomainCheck[];
  trainingError: TrainingError | undefined;
}

/** Plans the guard of every model skill of a strategy plan. */
export function planDomains(plan: StrategyPlan): ModelDomainPlan[] {
  const indexOf = new Map(plan.names.map((n, i) => [n, i]));
  const decisions = plan.optimization ? [...plan.optimization.decisions] : [];
  const out: ModelDomainPlan[] = [];
  for (const p of plan.plans) {
    if (p.kind !== 'model') continue;
    const domain = p.model.domain;
    const base = { skill: p.name, output: plan.names[p.out]!, trainingError: p.model.trainingError };
    if (domain === undefined) {
      out.push({ ...base, source: 'unknown', unknown: {}, unchecked: [], checks: [] });
      continue;
    }
    const checks: DomainCheck[] = [];
    const unchecked: string[] = [];
    for (const [name, range] of Object.entries(domain.variables)) {
      const variable = indexOf.get(name);
      if (variable === undefined) {
        unchecked.push(name);
        continue;
      }
      const j = [...p.inputs].indexOf(variable);
      const feed = j >= 0 ? (p.feeds[j] as Feed) : Feed.dof;
      if (feed === Feed.zero) continue; // predecessor compat: the network always sees 0 here
      checks.push({ name, variable, range, feed, restrict: restrictTarget(plan, variable, feed, decisions) });
    }
    out.push({ ...base, source: domain.source, unknown: domain.unknown, unchecked, checks });
  }
  return out;
}

/** The decision variable a checked value follows one to one (itself, or its move), if any. */
function restrictTarget(
  plan: StrategyPlan,
  variable: number,
  feed: Feed,
  decisions: readonly number[],
): RestrictTarget | undefined {
  const direct = decisions.indexOf(variable);
  if (direct >= 0) return { decision: direct, minus: feed === Feed.delta ? [variable] : [] };
  const source = deltaSource(plan.spec, plan.names[variable]!);
  const x = source === undefined ? -1 : plan.names.indexOf(source);
  const decision = decisions.indexOf(x);
  if (decision < 0) return undefined;
  return { decision, minus: feed === Feed.delta ? [x, variable] : [x] };
}

/** The value a check sees in workspace row `row`. */
function valueAt(check: DomainCheck, ws: Workspace, row: number): number {
  const dof = ws.dof[check.variable]![row]!;
  return check.feed === Feed.delta ? dof - ws.current[check.variable]! : dof;
}

/** How far a value leaves a range, or undefined inside it. */
export function excursion(name: string, value: number, range: VariableRange): DomainExcursion | undefined {
  if (value >= range.min && value <= range.max) return undefined;
  const below = value < range.min;
  const excess = below ? range.min - value : value - range.max;
  const width = range.max - range.min;
  return {
    variable: name,
    value,
    min: range.min,
    max: range.max,
    side: below ? 'below' : 'above',
    excess,
    fraction: width > 0 ? excess / width : null,
    soft: range.soft === true,
  };
}

/** Every check of a model on workspace row `row`. */
export function checkDomain(domain: ModelDomainPlan, ws: Workspace, row: number): DomainCheckResult {
  const outside: DomainExcursion[] = [];
  for (const check of domain.checks) {
    const found = excursion(check.name, valueAt(check, ws, row), check.range);
    if (found) outside.push(found);
  }
  return { inside: outside.length === 0, outside };
}

/** A bound on a decision variable that a training domain set (restrict). */
export interface DomainLimit {
  decision: number;
  bound: 'lower' | 'upper';
  value: number;
  skill: string;
  /** The domain variable and the limit of its range that set it. */
  variable: string;
  limit: number;
}

/**
 * Tightens a cycle's decision bounds to every domain a decision variable feeds one to one. A
 * variable already outside may move toward its domain, never further out (the current value stays
 * allowed); a domain that cannot be met within the move bounds leaves them as they are. Returns the
 * bounds that a domain set.
 */
export function restrictToDomains(
  domains: readonly ModelDomainPlan[],
  ws: Workspace,
  box: { x0: Float64Array; lower: Float64Array; upper: Float64Array },
): DomainLimit[] {
  const limits: DomainLimit[] = [];
  for (const domain of domains) {
    for (const check of domain.checks) {
      const target = check.restrict;
      if (!target) continue;
      const j = target.decision;
      let offset = 0;
      for (const v of target.minus) offset -= ws.current[v]!;
      // value = x + offset; keep value in [min, max], or no further out than at the current point.
      const lo = Math.min(check.range.min - offset, box.x0[j]!);
      const hi = Math.max(check.range.max - offset, box.x0[j]!);
      const lower = Math.max(box.lower[j]!, lo);
      const upper = Math.min(box.upper[j]!, hi);
      if (lower > upper) continue;
      const base = { decision: j, skill: domain.skill, variable: check.name };
      if (lower > box.lower[j]!)
        limits.push({ ...base, bound: 'lower', value: lower, limit: check.range.min });
      if (upper < box.upper[j]!)
        limits.push({ ...base, bound: 'upper', value: upper, limit: check.range.max });
      box.lower[j] = lower;
      box.upper[j] = upper;
    }
  }
  return limits;
}

/** Per model, the trust section of a cycle result (mismatch filled in later by a monitor). */
export function modelTrustOf(
  domain: ModelDomainPlan,
  ws: Workspace,
  rows: { current: number; recommendation: number | undefined },
  restricted: ModelTrust['restricted'],
  biasCorrection: number | null,
): ModelTrust {
  return {
    output: domain.output,
    domain: domain.source,
    unknown_inputs: { ...domain.unknown },
    training_error: domain.trainingError
      ? { rmse: domain.trainingError.rmse ?? null, mean_abs: domain.trainingError.meanAbs ?? null }
      : null,
    unchecked: [...domain.unchecked],
    at_current: checkDomain(domain, ws, rows.current),
    at_recommendation:
      rows.recommendation === undefined ? null : checkDomain(domain, ws, rows.recommendation),
    restricted,
    bias_correction: biasCorrection,
    mismatch: null,
  };
}
