import type { Engine, Outcome, RunRequest, SumMapping } from './plan.ts';
import type {
  ConstraintExplanation,
  CycleResult,
  SetpointResult,
  VariableCategory,
  VariableResult,
} from './result.ts';
import type { VariableType } from './schema.ts';
import type { Workspace } from './workspace.ts';

const CATEGORY: Record<VariableType, VariableCategory> = {
  Operative: 'input',
  Informative: 'input',
  Calculated: 'calculated',
  Delta: 'delta',
  Predicted: 'predicted',
  Constraint: 'constraint',
  CalculatedKPI: 'kpi',
};

export function buildResult(
  e: Engine,
  ws: Workspace,
  provided: boolean[],
  outcome: Outcome | undefined,
  req: RunRequest,
  warnings: string[],
  elapsed: number,
): CycleResult {
  const variables: Record<string, VariableResult> = {};
  const setpoints: Record<string, SetpointResult> = {};
  const units = (v: number) => e.spec.variables[e.names[v]!]!.units ?? null;
  const round = (x: number) => x;

  e.names.forEach((name, v) => {
    const type = e.types[v]!;
    const current = ws.current[v]!;
    const derived = type !== 'Operative' && type !== 'Informative' && type !== 'Calculated';
    const known = provided[v] || (type !== 'Operative' && type !== 'Informative');
    const suggested = derived ? ws.dof[v]![0]! : current;
    variables[name] = {
      category: CATEGORY[type],
      type,
      units: units(v),
      user_input_value: known ? round(current) : null,
      optimizer_suggested_value: known ? round(suggested) : null,
      delta: known ? suggested - current : null,
      ...(derived && outcome ? { value_at_current: outcome.atCurrent[v]! } : {}),
    };
  });

  const decisionNames: string[] = [];
  if (outcome && req.mode !== 'monitor') {
    outcome.decisions.forEach((v, j) => {
      const name = e.names[v]!;
      decisionNames.push(name);
      const x = outcome.x[j]!;
      const lo = outcome.lower[j]!;
      const hi = outcome.upper[j]!;
      const tol = 1e-6 * Math.max(hi - lo, 1e-12);
      const entry = variables[name]!;
      Object.assign(entry, {
        category: 'optimized',
        user_input_value: outcome.x0[j]!,
        optimizer_suggested_value: x,
        delta: x - outcome.x0[j]!,
        lower_bound: lo,
        upper_bound: hi,
        at_bound: hi - lo <= 0 ? null : x <= lo + tol ? 'lower' : x >= hi - tol ? 'upper' : null,
      } satisfies Partial<VariableResult>);
      if (e.types[v] === 'Operative') {
        setpoints[name] = {
          current: outcome.x0[j]!,
          recommended: x,
          delta: x - outcome.x0[j]!,
          units: units(v),
          from: name,
        };
        return;
      }
      const sum = e.sums.get(v);
      if (!sum) {
        warnings.push(`${name} is Calculated but not a plain sum of Operative tags, so it has no setpoints`);
        return;
      }
      const split = splitSum(e, ws, sum, outcome.x0[j]!, x);
      if (split.unplaced !== 0) {
        warnings.push(
          `${name}: ${split.unplaced} of the recommended change does not fit within the thresholds and limits of ${sum.parts.map((p) => e.names[p]).join(', ')}`,
        );
      }
      sum.parts.forEach((p, i) => {
        const part = e.names[p]!;
        const cur = ws.current[p]!;
        const rec = split.values[i]!;
        setpoints[part] = { current: cur, recommended: rec, delta: rec - cur, units: units(p), from: name };
        Object.assign(variables[part]!, {
          category: 'setpoint',
          optimizer_suggested_value: rec,
          delta: rec - cur,
        });
      });
    });
  }

  const constraints: Record<string, ConstraintExplanation> = {};
  if (outcome) {
    for (const p of e.plans) {
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
      constraints[e.names[p.out]!] = { score, value: ws.dof[p.input]![0]!, pushed_by: pushedBy };
    }
  }

  const pick = (cat: (r: VariableResult) => boolean) =>
    Object.fromEntries(Object.entries(variables).filter(([, r]) => cat(r)));
  const optimized = pick((r) => r.category === 'optimized');
  const predicted = pick((r) => r.category === 'predicted');
  const constraintVars = pick((r) => r.category === 'constraint');
  const cost = outcome?.cost ?? Number.NaN;
  const costAtCurrent = outcome?.costAtCurrent ?? Number.NaN;
  const r = outcome?.result;
  const message = outcome?.held
    ? `holding the current values: ${outcome.holdReason}`
    : req.mode === 'simulate'
      ? 'simulation at the given decision values'
      : req.mode === 'monitor'
        ? 'monitor mode: predictions and constraint scores at the current values, no recommendation'
        : (r?.message ?? 'no optimization');
  return {
    status: 'success',
    mode: req.mode,
    timestamp: req.now().toISOString(),
    config_version: e.version,
    duration_ms: elapsed,
    variables,
    optimized_variables: optimized,
    predicted_variables: predicted,
    constraint_variables: constraintVars,
    cost_function_value: cost,
    cost_at_current: costAtCurrent,
    setpoints,
    optimizer: {
      algorithm: outcome?.algorithm ?? 'none',
      iterations: r?.iterations ?? 0,
      evaluations: r?.evaluations ?? 0,
      batches: r?.batches ?? 0,
      converged: r?.converged ?? false,
      timed_out: r?.timedOut ?? false,
      held: outcome?.held ?? false,
      message,
    },
    explanation: { constraints },
    summary: {
      total_variables: e.names.length,
      optimized_count: Object.keys(optimized).length,
      setpoint_count: Object.keys(setpoints).length,
      predicted_count: Object.keys(predicted).length,
      constraint_count: Object.keys(constraintVars).length,
      constraints_below_one: Object.keys(constraints).length,
      cost_improvement: costAtCurrent - cost,
      message,
    },
    warnings,
  };
}

/**
 * Splits a recommended total over its parts in proportion to their current values,
 * keeping each part within its own threshold and limits; what cannot be placed is reported.
 */
function splitSum(e: Engine, ws: Workspace, sum: SumMapping, total0: number, total: number) {
  const parts = sum.parts;
  const cur = parts.map((p) => ws.current[p]!);
  const lo = parts.map((p, i) => {
    const s = e.spec.variables[e.names[p]!]!;
    const t = s.threshold === null ? 1 : (s.threshold ?? 0);
    return Math.max(cur[i]! - t, s.min ?? Number.NEGATIVE_INFINITY);
  });
  const hi = parts.map((p, i) => {
    const s = e.spec.variables[e.names[p]!]!;
    const t = s.threshold === null ? 1 : (s.threshold ?? 0);
    return Math.min(cur[i]! + t, s.max ?? Number.POSITIVE_INFINITY);
  });
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

/**
 * The input variables of a formula that is a plain sum of them (`A + B + C`, optionally
 * `A_dof`, optionally in parentheses), or undefined.
 */
export function sumTerms(formula: string, inputs: readonly string[]): string[] | undefined {
  let f = formula.trim();
  while (f.startsWith('(') && f.endsWith(')')) f = f.slice(1, -1).trim();
  const terms = f.split('+').map((t) => t.trim().replace(/_dof$/, ''));
  if (terms.length < 2 || terms.some((t) => !inputs.includes(t))) return undefined;
  if (new Set(terms).size !== terms.length) return undefined;
  return terms;
}
