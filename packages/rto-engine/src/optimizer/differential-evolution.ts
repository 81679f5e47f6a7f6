import { mulberry32 } from '@po/core';
import { type PhaseOutcome, SolveContext, type StopReason, solveFixed } from './problem.ts';
import type { BoundedProblem, Optimizer, OptimizerOptions, OptimizerResult } from './types.ts';

/**
 * `DE`: differential evolution, JADE's DE/current-to-pbest/1/bin (Zhang & Sanderson,
 * 2009) without the archive, with JADE's self-adapted F and CR and its midpoint bound
 * handling (a mutant coordinate outside the box goes halfway between its parent and the
 * bound it crossed).
 *
 * Why DE rather than CMA-ES: the costs it is for have steps (a boolean times 500) and
 * kinks, where DE's greedy one-to-one selection is robust and needs no step-size or
 * covariance state to recover; the smooth, ill-conditioned end game that CMA-ES is good
 * at is left to the projected quasi-Newton method (see `auto`). One generation is one batch; the population is
 * sized to fill a batch (rows are nearly free up to ~64).
 *
 * The initial population is x0 plus a seeded Latin hypercube over the box, so the result
 * is never worse than x0. The same seed gives the same result.
 */
export const DE_NAME = 'DE';

/** Defaults when `OptimizerOptions` leave them out. */
export const DE_DEFAULTS = {
  /** Generations. */
  maxiter: 300,
  /** Converged when the population's costs all lie within ftol * max(|best|, 1). */
  ftol: 1e-8,
  /** Converged when the population fits within xtol of the box width in every variable. */
  xtol: 1e-9,
  seed: 1,
} as const;

/** Default population: 6 per free variable, at least 12, at most 60 (one batch of <= 64 rows). */
export function dePopulationSize(m: number, requested?: number): number {
  if (requested !== undefined && Number.isFinite(requested) && requested >= 4) return Math.floor(requested);
  return Math.max(12, Math.min(60, 6 * m));
}

/** The population of one DE run and JADE's adapted means of F and CR. */
interface Population {
  m: number;
  np: number;
  pop: Float64Array;
  cost: Float64Array;
  trial: Float64Array;
  trialCost: Float64Array;
  trialF: Float64Array;
  trialCR: Float64Array;
  order: Int32Array;
  muF: number;
  muCR: number;
}

/** Runs DE on an existing context; counts and the best point go to the context. */
export async function runDe(
  ctx: SolveContext,
  options: OptimizerOptions,
  first = true,
): Promise<PhaseOutcome> {
  const m = ctx.free;
  const np = dePopulationSize(m, options.populationSize);
  const maxiter = options.maxiter ?? DE_DEFAULTS.maxiter;
  const ftol = options.ftol ?? DE_DEFAULTS.ftol;
  const xtol = options.xtol ?? DE_DEFAULTS.xtol;
  const rng = mulberry32(options.seed ?? DE_DEFAULTS.seed);
  const p: Population = {
    m,
    np,
    pop: new Float64Array(np * m),
    cost: new Float64Array(np),
    trial: new Float64Array(np * m),
    trialCost: new Float64Array(np),
    trialF: new Float64Array(np),
    trialCR: new Float64Array(np),
    order: new Int32Array(np),
    muF: 0.5,
    muCR: 0.5,
  };
  let stop: StopReason;

  initialPopulation(p, ctx.z0, rng);
  if (!first) {
    stop = ctx.stopReason(np);
    if (stop) return { converged: false, stop, message: '' };
  }
  await ctx.evaluate(p.pop, np, p.cost);

  for (let gen = 0; ; gen++) {
    const converged = convergence(p, ftol, xtol);
    if (converged) return { converged: true, stop, message: converged };
    if (gen >= maxiter) {
      return { converged: false, stop, message: `Stopped at maxiter (${maxiter}) generations.` };
    }
    mutate(p, rng);
    stop = ctx.stopReason(np);
    if (stop) return { converged: false, stop, message: '' };
    await ctx.evaluate(p.trial, np, p.trialCost);
    ctx.iterations++;
    select(p);
  }
}

/** x0, then a Latin hypercube: one point per stratum in every variable. */
function initialPopulation(p: Population, z0: Float64Array, rng: () => number): void {
  const { m, np, pop, order } = p;
  pop.set(z0);
  const strata = np - 1;
  for (let k = 0; k < m; k++) {
    for (let i = 0; i < strata; i++) order[i] = i;
    for (let i = strata - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    for (let i = 0; i < strata; i++) pop[(i + 1) * m + k] = (order[i]! + rng()) / strata;
  }
}

/** Why the run has converged (the costs, or the points, of the whole population agree), or ''. */
function convergence(p: Population, ftol: number, xtol: number): string {
  const { m, np, pop, cost } = p;
  let fmin = Number.POSITIVE_INFINITY;
  let fmax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < np; i++) {
    fmin = Math.min(fmin, cost[i]!);
    fmax = Math.max(fmax, cost[i]!);
  }
  if (Number.isFinite(fmax) && fmax - fmin <= ftol * Math.max(Math.abs(fmin), 1)) {
    return 'Converged: the population costs agree within ftol.';
  }
  let extent = 0;
  for (let k = 0; k < m; k++) {
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < np; i++) {
      const v = pop[i * m + k]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    extent = Math.max(extent, hi - lo);
  }
  return extent <= xtol ? 'Converged: the population has shrunk below xtol.' : '';
}

/** One trial per member: DE/current-to-pbest/1/bin with F and CR drawn around their means. */
function mutate(p: Population, rng: () => number): void {
  const { m, np, pop, cost, trial, order } = p;
  const normal = (): number => {
    const u = 1 - rng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  };
  const pBest = Math.max(2, Math.ceil(0.1 * np));
  for (let i = 0; i < np; i++) order[i] = i;
  order.sort((a, b) => cost[a]! - cost[b]! || a - b);
  for (let i = 0; i < np; i++) {
    let F = 0;
    do {
      F = p.muF + 0.1 * Math.tan(Math.PI * (rng() - 0.5));
    } while (!(F > 0));
    if (F > 1) F = 1;
    const CR = Math.min(1, Math.max(0, p.muCR + 0.1 * normal()));
    p.trialF[i] = F;
    p.trialCR[i] = CR;
    const best = order[Math.floor(rng() * pBest)]!;
    let r1 = i;
    while (r1 === i) r1 = Math.floor(rng() * np);
    let r2 = i;
    while (r2 === i || r2 === r1) r2 = Math.floor(rng() * np);
    const jrand = Math.floor(rng() * m);
    for (let k = 0; k < m; k++) {
      const xi = pop[i * m + k]!;
      let v = xi;
      if (k === jrand || rng() < CR) {
        v = xi + F * (pop[best * m + k]! - xi) + F * (pop[r1 * m + k]! - pop[r2 * m + k]!);
        if (v < 0) v = xi / 2;
        else if (v > 1) v = (xi + 1) / 2;
      }
      trial[i * m + k] = v;
    }
  }
}

/** Greedy one-to-one selection, then JADE's update of the means from the successful F and CR. */
function select(p: Population): void {
  const { m, np, pop, cost, trial, trialCost } = p;
  let sumCR = 0;
  let sumF = 0;
  let sumF2 = 0;
  let wins = 0;
  for (let i = 0; i < np; i++) {
    const ft = trialCost[i]!;
    if (ft <= cost[i]!) {
      if (ft < cost[i]!) {
        sumCR += p.trialCR[i]!;
        sumF += p.trialF[i]!;
        sumF2 += p.trialF[i]! * p.trialF[i]!;
        wins++;
      }
      cost[i] = ft;
      for (let k = 0; k < m; k++) pop[i * m + k] = trial[i * m + k]!;
    }
  }
  if (wins > 0) {
    p.muCR = 0.9 * p.muCR + (0.1 * sumCR) / wins;
    p.muF = 0.9 * p.muF + (0.1 * sumF2) / sumF;
  }
}

export function createDifferentialEvolution(): Optimizer {
  return {
    name: DE_NAME,
    async minimize(problem: BoundedProblem, options: OptimizerOptions = {}): Promise<OptimizerResult> {
      const ctx = new SolveContext(problem, options, DE_NAME, (m) =>
        dePopulationSize(m, options.populationSize),
      );
      if (ctx.free === 0) return solveFixed(ctx);
      const outcome = await runDe(ctx, options);
      return ctx.result(outcome.converged, outcome.stop, outcome.message);
    },
  };
}
