import { describeError } from '@po/core';
import { CostDerivatives } from './derivatives.ts';
import { CycleError, InputDataError } from './errors.ts';
import type { BoundedProblem, Optimizer, OptimizerResult } from './optimizer/types.ts';
import type { OptimizationPlan, StrategyPlan } from './plan.ts';
import { moveBounds } from './semantics.ts';
import { type DomainLimit, restrictToDomains } from './training-domain.ts';
import type { CycleRequest, CycleSetup } from './types.ts';
import type { Workspace } from './workspace.ts';

/** What the optimization step of a cycle found. */
export interface Outcome {
  decisions: Int32Array;
  x0: Float64Array;
  x: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  costAtCurrent: number;
  cost: number;
  /** The method that ran (or why none did). */
  algorithm: string;
  /** What the strategy asked for (`config.algorithm`). */
  requested: string;
  result: OptimizerResult | undefined;
  held: boolean;
  holdReason: string;
  /** Constraint-score sensitivities per decision variable (score change per unit), by constraint variable. */
  sensitivity: Map<number, Float64Array>;
  /**
   * How they were computed: exact one-sided derivatives (every model of the cost gives its
   * Jacobian), or finite differences of the cost sequence (some model gives none).
   */
  sensitivityMethod: 'exact' | 'finite differences';
  /** Every variable's dof when holding the current values. */
  atCurrent: Float64Array;
  /** Bounds that training domains set (models.extrapolation: restrict). */
  domainLimits: DomainLimit[];
}

type CostBatch = (points: Float64Array, count: number, costs: Float64Array) => Promise<void>;
type CostGradient = NonNullable<BoundedProblem['valueAndGradient']>;
type CostGradientSync = NonNullable<BoundedProblem['valueAndGradientSync']>;
/** The problem's exact evaluations: always with a promise, and without one when it can. */
interface CostGradients {
  valueAndGradient: CostGradient;
  valueAndGradientSync?: CostGradientSync;
  pieceGradients?: BoundedProblem['pieceGradients'];
  pieceGradientsSync?: BoundedProblem['pieceGradientsSync'];
  maxPieces?: number;
}

/** One derivative engine per workspace (its buffers are reused from cycle to cycle). */
const derivativesOf = new WeakMap<Workspace, CostDerivatives>();

/** The derivative engine of a workspace (made on first use). */
export function derivativesFor(plan: StrategyPlan, ws: Workspace): CostDerivatives {
  let derivatives = derivativesOf.get(ws);
  if (derivatives === undefined) {
    derivatives = new CostDerivatives(ws, plan.plans, plan.optimization!, plan.names.length);
    derivativesOf.set(ws, derivatives);
  }
  return derivatives;
}

/**
 * The exact cost and its one-sided derivatives at one point, from the base state: one forward
 * pass along +e_j, and a second along -e_j only when the first met a kink. When every model runs
 * on its kernel the evaluation also comes without a promise (`valueAndGradientSync`), so the
 * optimizer's loop waits on nothing.
 */
export function costGradient(plan: StrategyPlan, ws: Workspace): CostGradients {
  const engine = derivativesFor(plan, ws);
  engine.forget();
  const cost = new Float64Array(1);
  if (engine.synchronous) {
    const valueAndGradientSync: CostGradientSync = (x, gradient, gradientBelow) => {
      const kinked = engine.runSync(x, 1, cost, gradient, 1);
      if (kinked > 0) engine.runSync(x, 1, cost, gradientBelow, -1);
      else gradientBelow.set(gradient);
      return cost[0]!;
    };
    const valueAndGradient: CostGradient = (x, gradient, gradientBelow) => {
      try {
        return Promise.resolve(valueAndGradientSync(x, gradient, gradientBelow));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return {
      valueAndGradient,
      valueAndGradientSync,
      pieceGradients: (x, scale, radius, out, values, info) => {
        try {
          return Promise.resolve(engine.piecesSync(x, scale, radius, out, values, info));
        } catch (error) {
          return Promise.reject(error);
        }
      },
      pieceGradientsSync: (x, scale, radius, out, values, info) =>
        engine.piecesSync(x, scale, radius, out, values, info),
      maxPieces: 1 << CostDerivatives.MAX_KINKS,
    };
  }
  return {
    valueAndGradient: async (x, gradient, gradientBelow) => {
      const kinked = await engine.run(x, 1, cost, gradient, 1);
      if (kinked > 0) await engine.run(x, 1, cost, gradientBelow, -1);
      else gradientBelow.set(gradient);
      return cost[0]!;
    },
    pieceGradients: (x, scale, radius, out, values, info) =>
      engine.pieces(x, scale, radius, out, values, info),
    maxPieces: 1 << CostDerivatives.MAX_KINKS,
  };
}

/**
 * The cost of a batch of candidate points, starting from the base state. With `onKernel`, models
 * with a synchronous kernel predict through it (`Workspace.run`).
 */
export function costBatch(ws: Workspace, plan: OptimizationPlan, onKernel = false): CostBatch {
  const n = plan.decisions.length;
  return async (points: Float64Array, count: number, costs: Float64Array): Promise<void> => {
    // The derivative engine's last point no longer describes the workspace.
    derivativesOf.get(ws)?.forget();
    ws.ensure(count);
    ws.reset(count);
    for (let j = 0; j < n; j++) {
      const col = ws.dof[plan.decisions[j]!]!;
      for (let r = 0; r < count; r++) col[r] = points[r * n + j]!;
    }
    await ws.run(plan.costSequence, count, false, onKernel);
    const cost = ws.dof[plan.costVariable]!;
    for (let r = 0; r < count; r++) costs[r] = cost[r]!;
  };
}

/** The decision variables' start point and this cycle's bounds. */
interface Box {
  x0: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
}

/** The decision point of one cycle and how it was found. */
interface Decision {
  x: Float64Array;
  result: OptimizerResult | undefined;
  algorithm: string;
}

/**
 * The optimization step of a cycle, at the base state: bounds, the optimizer (or the given
 * decisions), then one batch for the answer, holding, and the constraint-score sensitivities;
 * the current values are held when the answer is not better.
 */
export async function solve(
  setup: CycleSetup,
  ws: Workspace,
  req: CycleRequest,
  warnings: string[],
): Promise<Outcome> {
  const { plan, optimizer } = setup;
  const opt = plan.optimization!;
  const n = opt.decisions.length;
  const box = decisionBox(plan, ws, warnings);
  const domainLimits =
    plan.spec.models?.extrapolation === 'restrict' ? restrictToDomains(setup.domains, ws, box) : [];
  const evaluate = costBatch(ws, opt);
  const decision = await decide(plan, optimizer, box, { evaluate, ...costGradient(plan, ws) }, req, warnings);
  // Sensitivities by exact derivatives when every model of the cost gives them; otherwise by
  // finite differences: one row per decision variable in the final batch.
  const derivatives = derivativesFor(plan, ws);
  const exact = derivatives.modelsWithoutDerivatives.length === 0;
  let x = decision.x;
  const steps = new Float64Array(n);
  // With exact sensitivities the final batch is the answer and holding (2 rows), one forward pass
  // of the derivative engine: the values the optimizer's evaluations saw, and the sensitivities
  // from row 0's tangents.
  const answer = (at: Float64Array) =>
    exact ? exactAnswer(plan, derivatives, at, box) : differenceAnswer(plan, ws, evaluate, at, box, steps);
  let final = await answer(x);
  const costAtCurrent = final.costs[1]!;
  if (!Number.isFinite(costAtCurrent)) {
    // Holding must be computable: find the skill that fails at the current values.
    ws.reset(1);
    for (let j = 0; j < n; j++) ws.dof[opt.decisions[j]!]![0] = box.x0[j]!;
    await ws.run(opt.costSequence, 1, true);
    throw new CycleError(`the cost is not finite (${costAtCurrent}) at the current plant values`);
  }
  const holdReason = req.mode === 'optimize' && n > 0 ? whyHold(x, box, final.costs[0]!, costAtCurrent) : '';
  if (holdReason) {
    x = Float64Array.from(box.x0);
    warnings.push(`holding the current values: ${holdReason}`);
    // Row 0 and the sensitivities must describe what is recommended: the current values.
    final = await answer(x);
  }
  // Row 0 now holds the clean forward values at the recommendation, row 1 at holding.
  const atCurrent = new Float64Array(plan.names.length);
  for (let v = 0; v < plan.names.length; v++) atCurrent[v] = ws.dof[v]![1]!;
  return {
    decisions: opt.decisions,
    ...box,
    x,
    costAtCurrent,
    cost: ws.dof[opt.costVariable]![0]!,
    algorithm: decision.algorithm,
    requested: opt.algorithm,
    result: decision.result,
    held: holdReason !== '',
    holdReason,
    sensitivity: final.sensitivity,
    sensitivityMethod: exact ? 'exact' : 'finite differences',
    atCurrent,
    domainLimits,
  };
}

function decisionBox(plan: StrategyPlan, ws: Workspace, warnings: string[]): Box {
  const decisions = plan.optimization!.decisions;
  const n = decisions.length;
  const box = { x0: new Float64Array(n), lower: new Float64Array(n), upper: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    const v = decisions[j]!;
    const name = plan.names[v]!;
    const spec = plan.spec.variables[name]!;
    const c = ws.base[v]!;
    const bounds = moveBounds(spec, c);
    const limits = `[${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`;
    if (bounds.status === 'beyond') {
      warnings.push(
        `${name} = ${c} is outside its limits ${limits}; moving it by ${bounds.move} toward them`,
      );
    } else if (bounds.status === 'outside') {
      warnings.push(`${name} = ${c} is outside its limits ${limits}; the recommendation moves it inside`);
    }
    box.x0[j] = c;
    box.lower[j] = bounds.lower;
    box.upper[j] = bounds.upper;
  }
  return box;
}

/** The optimizer's answer, or in simulate and monitor mode the given decisions (others hold). */
async function decide(
  plan: StrategyPlan,
  optimizer: Optimizer | undefined,
  box: Box,
  cost: { evaluate: CostBatch } & CostGradients,
  req: CycleRequest,
  warnings: string[],
): Promise<Decision> {
  const opt = plan.optimization!;
  const n = opt.decisions.length;
  if (req.mode !== 'optimize') {
    const x = Float64Array.from(box.x0);
    for (const [name, value] of Object.entries(req.decisions ?? {})) {
      const j = [...opt.decisions].findIndex((v) => plan.names[v] === name);
      if (j < 0) {
        throw new InputDataError(
          `'${name}' is not a decision variable; the decision variables are: ${[...opt.decisions].map((v) => plan.names[v]).join(', ')}`,
        );
      }
      if (!Number.isFinite(value)) throw new InputDataError(`value of '${name}' is not a finite number`);
      if (value < box.lower[j]! || value > box.upper[j]!) {
        warnings.push(`${name} = ${value} is outside this cycle's bounds [${box.lower[j]}, ${box.upper[j]}]`);
      }
      x[j] = value;
    }
    const algorithm = req.mode === 'monitor' ? 'none (monitor mode)' : 'none (simulation)';
    return { x, result: undefined, algorithm };
  }
  const algorithm = optimizer?.name ?? opt.algorithm;
  if (n === 0) {
    warnings.push('the optimization has no decision variables; holding the current values');
    return { x: new Float64Array(0), result: undefined, algorithm };
  }
  const options = { ...opt.options, signal: req.cycleOptions?.signal };
  const limit = req.cycleOptions?.maxTimeMs;
  if (limit !== undefined) {
    options.maxTimeMs = options.maxTimeMs === undefined ? limit : Math.min(options.maxTimeMs, limit);
  }
  const x0 = box.x0.map((c, j) => Math.min(Math.max(c, box.lower[j]!), box.upper[j]!));
  let result: OptimizerResult;
  try {
    result = await optimizer!.minimize(
      { dimension: n, lower: box.lower, upper: box.upper, x0, ...cost },
      options,
    );
  } catch (err) {
    throw new CycleError(`optimizer ${algorithm} failed: ${describeError(err, { scope: false })}`, {
      cause: err,
    });
  }
  return { x: result.x, result, algorithm: result.algorithm ?? algorithm };
}

/**
 * One batch around a point: row 0 the point, row 1 the current values (holding), then, when
 * `steps` is given, one row per decision variable moved by a small step (written to `steps`)
 * for finite-difference sensitivities.
 */
function aroundBatch(at: Float64Array, box: Box, steps: Float64Array | undefined) {
  const n = at.length;
  const rows = steps ? n + 2 : 2;
  const points = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) points.set(r === 1 ? box.x0 : at, r * n);
  if (steps) {
    for (let j = 0; j < n; j++) {
      const h = sensitivityStep(at, box, j);
      steps[j] = h;
      points[(j + 2) * n + j] = at[j]! + h;
    }
  }
  return { points, rows };
}

/** The finite-difference step of decision variable j at `at`: 1e-3 of its box, downwards at the top. */
function sensitivityStep(at: Float64Array, box: Box, j: number): number {
  const width = box.upper[j]! - box.lower[j]!;
  const h = width > 0 ? 1e-3 * width : 1e-6 * Math.max(1, Math.abs(at[j]!));
  return at[j]! + h > box.upper[j]! && width > 0 ? -h : h;
}

/** Why the optimizer's answer must not be recommended (empty when it may be). */
function whyHold(x: Float64Array, box: Box, cost: number, costAtCurrent: number): string {
  const { lower, upper } = box;
  const outside = [...x].some(
    (xi, j) => xi < lower[j]! - 1e-9 * Math.abs(lower[j]!) || xi > upper[j]! + 1e-9 * Math.abs(upper[j]!),
  );
  const tolerance = 1e-9 * Math.max(1, Math.abs(costAtCurrent));
  if (outside) return 'the optimizer returned a point outside the bounds';
  if (!Number.isFinite(cost)) return `the cost at the optimizer's answer is not finite (${cost})`;
  if (cost > costAtCurrent + tolerance) {
    return `the optimizer's answer (cost ${cost}) is not better than holding (cost ${costAtCurrent})`;
  }
  return '';
}

/** Score change per unit of each decision variable, per constraint, from the rows of `aroundBatch`. */
function differenceSensitivities(
  plan: StrategyPlan,
  ws: Workspace,
  steps: Float64Array,
): Map<number, Float64Array> {
  const n = steps.length;
  const sensitivity = new Map<number, Float64Array>();
  for (const p of plan.plans) {
    if (p.kind !== 'constraint') continue;
    const col = ws.dof[p.out]!;
    const s = new Float64Array(n);
    for (let j = 0; j < n; j++) s[j] = (col[j + 2]! - col[0]!) / steps[j]!;
    sensitivity.set(p.out, s);
  }
  return sensitivity;
}

/** The final batch: the costs at the recommendation and at holding, and the sensitivities there. */
interface Answer {
  costs: Float64Array;
  sensitivity: Map<number, Float64Array>;
}

/**
 * The final batch by finite differences: row 0 `at`, row 1 holding, then one row per decision
 * variable moved by its step (`aroundBatch`), through `evaluate`.
 */
async function differenceAnswer(
  plan: StrategyPlan,
  ws: Workspace,
  evaluate: CostBatch,
  at: Float64Array,
  box: Box,
  steps: Float64Array,
): Promise<Answer> {
  const final = aroundBatch(at, box, steps);
  const costs = new Float64Array(final.rows);
  await evaluate(final.points, final.rows, costs);
  return { costs, sensitivity: differenceSensitivities(plan, ws, steps) };
}

/**
 * The final batch by exact derivatives: one pass of the derivative engine over row 0 `at` and
 * row 1 holding, on the side the finite-difference step would take per decision variable (up, or
 * down at the top of the box); the score change per unit of each decision variable, per
 * constraint, from row 0's one-sided derivatives. The workspace keeps both rows' values.
 */
async function exactAnswer(
  plan: StrategyPlan,
  derivatives: CostDerivatives,
  at: Float64Array,
  box: Box,
): Promise<Answer> {
  const n = at.length;
  const sides = new Float64Array(n);
  for (let j = 0; j < n; j++) sides[j] = Math.sign(sensitivityStep(at, box, j));
  const final = aroundBatch(at, box, undefined);
  const costs = new Float64Array(final.rows);
  await derivatives.run(final.points, final.rows, costs, new Float64Array(final.rows * n), sides);
  const sensitivity = new Map<number, Float64Array>();
  for (const p of plan.plans) {
    if (p.kind !== 'constraint') continue;
    const s = new Float64Array(n);
    derivatives.derivativesOf(p.out, 0, s);
    sensitivity.set(p.out, s);
  }
  return { costs, sensitivity };
}
