import { describe, expect, it } from 'vitest';
import { createProjectedBfgs, simplexQp } from './projected-bfgs.ts';
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

  it('slides along a curved kink to its optimum with the exact pieces, where sampling stops short', async () => {
    // -x - y - 100 * score(h), h = x^2 + y^2: score 1 up to h = 1, then a ramp to 0 at h = 2. The
    // optimum sits on the kink (the circle) at x = y = 1/sqrt 2.
    const h = (x: Float64Array) => x[0]! ** 2 + x[1]! ** 2;
    const cost = (x: Float64Array, o: number) => {
      const v = x[o]! ** 2 + x[o + 1]! ** 2;
      return -x[o]! - x[o + 1]! - 100 * (v <= 1 ? 1 : 2 - v);
    };
    const spec = { lower: [-2, -2], upper: [2, 2], x0: [0.1, -0.3], cost };
    const sampling = withGradient(spec);
    const base = withGradient(spec);
    let pieceCalls = 0;
    const pieces = (
      x: Float64Array,
      scale: Float64Array,
      radius: number,
      out: Float64Array,
      values: Float64Array,
      info: Float64Array,
    ): number => {
      pieceCalls++;
      const v = h(x);
      const reach = Math.abs(2 * x[0]!) * scale[0]! + Math.abs(2 * x[1]!) * scale[1]!;
      const plateau = () => -x[0]! - x[1]! - 100;
      const ramp = () => -x[0]! - x[1]! - 100 * (2 - v);
      info[0] = 1;
      info[1] = 0;
      if (!(Math.abs(v - 1) <= radius * reach)) {
        values[0] = v <= 1 ? plateau() : ramp();
        out[0] = v <= 1 ? -1 : -1 + 200 * x[0]!;
        out[1] = v <= 1 ? -1 : -1 + 200 * x[1]!;
        return 1;
      }
      values[0] = plateau();
      out[0] = -1;
      out[1] = -1;
      values[1] = ramp();
      out[2] = -1 + 200 * x[0]!;
      out[3] = -1 + 200 * x[1]!;
      info[0] = 2;
      info[1] = Math.abs(v - 1) / reach;
      return 2;
    };
    const exact = await createProjectedBfgs().minimize(
      {
        ...base,
        maxPieces: 4,
        pieceGradients: async (...args) => pieces(...args),
      },
      { maxiter: 300 },
    );
    const sampled = await createProjectedBfgs().minimize(sampling, { maxiter: 300 });
    const optimum = -Math.SQRT2 - 100;
    expect(pieceCalls).toBeGreaterThan(0);
    expect(exact.cost).toBeLessThan(optimum + 1e-7);
    expect(exact.x[0]).toBeCloseTo(Math.SQRT1_2, 4);
    expect(exact.x[1]).toBeCloseTo(Math.SQRT1_2, 4);
    expect(exact.message).toMatch(/stationary on a kink/);
    // Sampling gradients stops about 7e-3 above the optimum here; the exact pieces reach it (in
    // many short steps: the kink curves strongly within one step).
    expect(exact.cost).toBeLessThan(sampled.cost);
    // The evaluation budget holds in kink mode too (a pieces call counts its forward passes).
    for (const budget of [12, 25, 40]) {
      const capped = await createProjectedBfgs().minimize(
        { ...withGradient(spec), maxPieces: 4, pieceGradients: async (...args) => pieces(...args) },
        { maxiter: 300, maxEvaluations: budget },
      );
      expect(capped.evaluations).toBeLessThanOrEqual(budget);
    }
  });
});

describe('simplexQp', () => {
  it('finds the minimum of 1/2 l Q l - a l over the simplex (against a fine grid)', () => {
    let seed = 1;
    const rand = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647 - 0.5;
    };
    const scratch = { system: new Float64Array(25), rhs: new Float64Array(5), trial: new Float64Array(4) };
    for (let t = 0; t < 50; t++) {
      const count = 2 + (t % 3);
      // Q = G G' from random gradients (positive semidefinite, singular when the rows are dependent).
      const m = t % 2 ? 2 : 3;
      const G = Array.from({ length: count * m }, rand);
      const Q = new Float64Array(count * count);
      for (let i = 0; i < count; i++) {
        for (let j = 0; j < count; j++) {
          for (let k = 0; k < m; k++) Q[i * count + j]! += G[i * m + k]! * G[j * m + k]!;
        }
      }
      const a = Float64Array.from({ length: count }, () => 0.3 * rand());
      const lambda = new Float64Array(count);
      simplexQp(Q, a, count, lambda, scratch);
      const value = (l: ArrayLike<number>) => {
        let v = 0;
        for (let i = 0; i < count; i++) {
          let qi = 0;
          for (let j = 0; j < count; j++) qi += Q[i * count + j]! * l[j]!;
          v += l[i]! * (0.5 * qi - a[i]!);
        }
        return v;
      };
      expect(lambda.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
      for (const v of lambda) expect(v).toBeGreaterThanOrEqual(0);
      let best = Number.POSITIVE_INFINITY;
      const steps = 60;
      for (let i = 0; i <= steps; i++) {
        for (let j = 0; j <= (count > 2 ? steps - i : 0); j++) {
          const l = count === 2 ? [i / steps, 1 - i / steps] : [i / steps, j / steps, 1 - (i + j) / steps];
          if (count === 4) {
            for (let k = 0; k <= steps - i - j; k++) {
              best = Math.min(best, value([i / steps, j / steps, k / steps, 1 - (i + j + k) / steps]));
            }
          } else best = Math.min(best, value(l));
        }
      }
      expect(value(lambda)).toBeLessThanOrEqual(best + 1e-12);
    }
  });
});
