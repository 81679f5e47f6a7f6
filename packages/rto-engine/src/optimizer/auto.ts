import { DE_NAME, dePopulationSize, runDe } from './differential-evolution.ts';
import { SolveContext, solveFixed } from './problem.ts';
import { PROJECTED_BFGS_NAME, runProjectedBfgs } from './projected-bfgs.ts';
import {
  QUASI_NEWTON_NAME,
  type QuasiNewtonOptions,
  quasiNewtonRows,
  runQuasiNewton,
} from './projected-quasi-newton.ts';
import type { BoundedProblem, Optimizer, OptimizerOptions, OptimizerResult } from './types.ts';

/**
 * `auto`: a short differential-evolution search over the whole box (to get past steps
 * and onto the right side of penalties), then quasi-Newton polishing from the best point
 * found (projected-bfgs on exact gradients when the problem has them, else
 * projected-quasi-newton on finite differences). Both phases share one budget (time, evaluations, abort) and their counts
 * add up in the result. `maxiter`, `ftol` and `xtol` apply to the quasi-Newton phase;
 * `populationSize` and `seed` to the DE phase. The result names the phases that ran.
 */
export const AUTO_NAME = 'auto';

export interface AutoOptions extends QuasiNewtonOptions {
  /** Generations of the DE phase. Default 30. */
  generations?: number;
  /** Stop the DE phase early when its population costs agree within this. Default 1e-6. */
  searchFtol?: number;
}

export const AUTO_DEFAULTS = { generations: 30, searchFtol: 1e-6 } as const;

export function createAuto(auto: AutoOptions = {}): Optimizer {
  return {
    name: AUTO_NAME,
    async minimize(problem: BoundedProblem, options: OptimizerOptions = {}): Promise<OptimizerResult> {
      const ctx = new SolveContext(problem, options, AUTO_NAME, (m) =>
        Math.max(dePopulationSize(m, options.populationSize), quasiNewtonRows(m)),
      );
      if (ctx.free === 0) return solveFixed(ctx);
      const search = await runDe(ctx, {
        ...options,
        maxiter: auto.generations ?? AUTO_DEFAULTS.generations,
        ftol: auto.searchFtol ?? AUTO_DEFAULTS.searchFtol,
        xtol: undefined,
      });
      if (search.stop) return { ...ctx.result(false, search.stop, search.message), algorithm: DE_NAME };
      const generations = ctx.iterations;
      ctx.assertFinite();
      // Exact gradients when the problem has them; finite differences otherwise.
      const start = Float64Array.from(ctx.bestZ);
      const polisher = ctx.hasGradient ? PROJECTED_BFGS_NAME : QUASI_NEWTON_NAME;
      const polish = ctx.hasGradient
        ? await runProjectedBfgs(ctx, start, options, auto)
        : await runQuasiNewton(ctx, start, options, auto, false);
      const message = `${polish.message} (after ${generations} DE generations, then ${
        ctx.iterations - generations
      } ${polisher} iterations)`;
      return {
        ...ctx.result(polish.converged, polish.stop, message),
        algorithm: `${DE_NAME} + ${polisher}`,
      };
    },
  };
}
