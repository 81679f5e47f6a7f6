import { describe, expect, it } from 'vitest';
import { createProjectedBfgs } from './projected-bfgs.ts';
import { kilnCost, kilnWidths, makeProblem, type PointCost, rosenbrock } from './testing.ts';
import type { BoundedProblem } from './types.ts';

/**
 * A problem with `valueAndGradient`: the analytic gradient when given, else one-sided
 * differences of the cost with a tiny step (forward for `gradient`, backward for
 * `gradientBelow`), which differ at a kink as the engine's exact one-sided derivatives do.
 */
function withGradient(
  spec: { lower: number[]; upper: number[]; x0: number[]; cost: PointCost },
  analytic?: (x: Float64Array, g: Float64Array) => void,
): BoundedProblem & { calls: number; exact: (x: Float64Array, g: Float64Array, gb: Float64Array) => number } {
  const base = makeProblem({ ...spec, uncounted: true });
  const n = spec.x0.length;
  const probe = new Float64Array(n);
  const exact = (x: Float64Array, gradient: Float64Array, gradientBelow: Float64Array): number => {
    problem.calls++;
    const f = spec.cost(x, 0);
    if (analytic) {
      analytic(x, gradient);
      gradientBelow.set(gradient);
      return f;
    }
    for (let j = 0; j < n; j++) {
      const h = 1e-9 * (spec.upper[j]! - spec.lower[j]!);
      probe.set(x);
      probe[j] = x[j]! + h;
      gradient[j] = (spec.cost(probe, 0) - f) / h;
      probe[j] = x[j]! - h;
      gradientBelow[j] = (f - spec.cost(probe, 0)) / h;
    }
    return f;
  };
  const problem = {
    ...base,
    calls: 0,
    exact,
    async valueAndGradient(x: Float64Array, gradient: Float64Array, gradientBelow: Float64Array) {
      return exact(x, gradient, gradientBelow);
    },
  };
  return problem;
}

describe('projected-bfgs', () => {
  it('minimizes Rosenbrock from exact gradients in few evaluations, one per value-and-gradient', async () => {
    const n = 4;
    const cost = rosenbrock(n);
    const problem = withGradient(
      { lower: Array(n).fill(-2), upper: Array(n).fill(2), x0: Array(n).fill(-1.2), cost },
      (x, g) => {
        g.fill(0);
        for (let i = 0; i < n - 1; i++) {
          const a = x[i]!;
          const b = x[i + 1]!;
          g[i]! += -400 * a * (b - a * a) - 2 * (1 - a);
          g[i + 1]! += 200 * (b - a * a);
        }
      },
    );
    const result = await createProjectedBfgs().minimize(problem, { maxiter: 200 });
    expect(result.algorithm).toBe('projected-bfgs');
    expect(result.cost).toBeLessThan(1e-8);
    for (const xi of result.x) expect(xi).toBeCloseTo(1, 3);
    expect(result.evaluations).toBe(problem.calls);
    expect(result.evaluations).toBeLessThan(200);
  });

  it('lands on the corner of a linear cost in a handful of evaluations', async () => {
    const problem = withGradient(
      { lower: [-1, -2], upper: [1, 2], x0: [0, 0], cost: (x, o) => 3 * x[o]! - 0.5 * x[o + 1]! },
      (_x, g) => {
        g[0] = 3;
        g[1] = -0.5;
      },
    );
    const result = await createProjectedBfgs().minimize(problem);
    expect(Array.from(result.x)).toEqual([-1, 2]);
    expect(result.converged).toBe(true);
    expect(result.evaluations).toBeLessThanOrEqual(3);
  });

  it('reaches the analytic optimum (-102) of the kinked kiln cost, deterministically for a seed', async () => {
    const spec = {
      lower: kilnWidths.map((w) => -w),
      upper: kilnWidths,
      x0: kilnWidths.map(() => 0),
      cost: kilnCost,
    };
    const a = await createProjectedBfgs().minimize(withGradient(spec), { seed: 7, maxiter: 300 });
    const b = await createProjectedBfgs().minimize(withGradient(spec), { seed: 7, maxiter: 300 });
    expect(a.cost).toBeLessThan(-101.9);
    expect(Array.from(b.x)).toEqual(Array.from(a.x));
    expect(b.evaluations).toBe(a.evaluations);
  });

  it('runs the same path without awaiting when the problem evaluates synchronously', async () => {
    const spec = {
      lower: kilnWidths.map((w) => -w),
      upper: kilnWidths,
      x0: kilnWidths.map(() => 0),
      cost: kilnCost,
    };
    const awaited = await createProjectedBfgs().minimize(withGradient(spec), { seed: 3, maxiter: 300 });
    const base = withGradient(spec);
    const problem: BoundedProblem = {
      ...base,
      // The synchronous path must be the one used: the promise-based one fails.
      valueAndGradient: () => Promise.reject(new Error('the awaited path ran')),
      valueAndGradientSync: base.exact,
    };
    const direct = await createProjectedBfgs().minimize(problem, { seed: 3, maxiter: 300 });
    expect(base.calls).toBe(direct.evaluations);
    expect(Array.from(direct.x)).toEqual(Array.from(awaited.x));
    expect(direct.cost).toBe(awaited.cost);
    expect(direct.evaluations).toBe(awaited.evaluations);
    expect(direct.iterations).toBe(awaited.iterations);
  });

  it('keeps the evaluation budget', async () => {
    const spec = {
      lower: kilnWidths.map((w) => -w),
      upper: kilnWidths,
      x0: kilnWidths.map(() => 0),
      cost: kilnCost,
    };
    const result = await createProjectedBfgs().minimize(withGradient(spec), { maxEvaluations: 7 });
    expect(result.evaluations).toBeLessThanOrEqual(7);
    expect(result.converged).toBe(false);
    expect(result.message).toMatch(/maxEvaluations/);
  });

  it('runs projected-quasi-newton (finite differences) on a problem without gradients, and says so', async () => {
    const problem = makeProblem({ lower: [-2, -2], upper: [2, 2], x0: [0, 0], cost: rosenbrock(2) });
    const result = await createProjectedBfgs().minimize(problem);
    expect(result.algorithm).toBe('projected-quasi-newton');
    expect(result.cost).toBeLessThan(1e-4);
  });
});
