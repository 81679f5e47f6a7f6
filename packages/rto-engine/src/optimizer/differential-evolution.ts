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
  const normal = (): number => {
    const u = 1 - rng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  };

  const pop = new Float64Array(np * m);
  const cost = new Float64Array(np);
  const trial = new Float64Array(np * m);
  const trialCost = new Float64Array(np);
  const trialF = new Float64Array(np);
  const trialCR = new Float64Array(np);
  const order = new Int32Array(np);
  let stop: StopReason;

  // x0, then a Latin hypercube: one point per stratum in every variable.
  pop.set(ctx.z0);
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
  if (!first) {
    stop = ctx.stopReason(np);
    if (stop) return { converged: false, stop, message: '' };
  }
  await ctx.evaluate(pop, np, cost);

  let muF = 0.5;
  let muCR = 0.5;
  const p = Math.max(2, Math.ceil(0.1 * np));
  const byCost = (a: number, b: number): number => cost[a]! - cost[b]! || a - b;
  for (let gen = 0; ; gen++) {
    // Convergence: the costs (or the points) of the whole population agree.
    let fmin = Number.POSITIVE_INFINITY;
    let fmax = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < np; i++) {
      fmin = Math.min(fmin, cost[i]!);
      fmax = Math.max(fmax, cost[i]!);
    }
    if (Number.isFinite(fmax) && fmax - fmin <= ftol * Math.max(Math.abs(fmin), 1)) {
      return { converged: true, stop, message: 'Converged: the population costs agree within ftol.' };
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
    if (extent <= xtol) {
      return { converged: true, stop, message: 'Converged: the population has shrunk below xtol.' };
    }
    if (gen >= maxiter) {
      return { converged: false, stop, message: `Stopped at maxiter (${maxiter}) generations.` };
    }

    for (let i = 0; i < np; i++) order[i] = i;
    order.sort(byCost);
    for (let i = 0; i < np; i++) {
      let F = 0;
      do {
        F = muF + 0.1 * Math.tan(Math.PI * (rng() - 0.5));
      } while (!(F > 0));
      if (F > 1) F = 1;
      const CR = Math.min(1, Math.max(0, muCR + 0.1 * normal()));
      trialF[i] = F;
      trialCR[i] = CR;
      const best = order[Math.floor(rng() * p)]!;
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
    stop = ctx.stopReason(np);
    if (stop) return { converged: false, stop, message: '' };
    await ctx.evaluate(trial, np, trialCost);
    ctx.iterations++;

    let sumCR = 0;
    let sumF = 0;
    let sumF2 = 0;
    let wins = 0;
    for (let i = 0; i < np; i++) {
      const ft = trialCost[i]!;
      if (ft <= cost[i]!) {
        if (ft < cost[i]!) {
          sumCR += trialCR[i]!;
          sumF += trialF[i]!;
          sumF2 += trialF[i]! * trialF[i]!;
          wins++;
        }
        cost[i] = ft;
        for (let k = 0; k < m; k++) pop[i * m + k] = trial[i * m + k]!;
      }
    }
    if (wins > 0) {
      muCR = 0.9 * muCR + (0.1 * sumCR) / wins;
      muF = 0.9 * muF + (0.1 * sumF2) / sumF;
    }
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
