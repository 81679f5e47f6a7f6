import { describe, expect, it } from 'vitest';
import { OptimizerError } from '../errors.ts';
import { createOptimizer, optimizerNames } from './index.ts';
import { kilnCost, kilnWidths, makeProblem, rosenbrock } from './testing.ts';
import type { OptimizerResult } from './types.ts';

/** One suite, run against every optimizer. */
describe.each(['projected-quasi-newton', 'DE', 'auto'])('optimizer %s', (name) => {
  const optimizer = createOptimizer(name);
  const smooth = name !== 'DE';

  function expectInside(result: OptimizerResult, lower: number[], upper: number[]): void {
    expect(Number.isFinite(result.cost)).toBe(true);
    result.x.forEach((v, i) => {
      expect(v).toBeGreaterThanOrEqual(lower[i]!);
      expect(v).toBeLessThanOrEqual(upper[i]!);
    });
  }

  it('finds the minimum of a quadratic with a non-trivial Hessian and different scales', async () => {
    // u = x / scale; f = (u - a)' A (u - a), A positive definite with off-diagonal terms.
    const scale = [0.05, 1000, 3];
    const a = [0.4, -0.3, 0.7];
    const A = [
      [4, 1.5, 0.5],
      [1.5, 3, -1],
      [0.5, -1, 2],
    ];
    const problem = makeProblem({
      lower: [-0.05, -2000, -6],
      upper: [0.05, 2000, 6],
      x0: [0, 0, 0],
      cost: (x, o) => {
        let f = 0;
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 3; j++) {
            f += (x[o + i]! / scale[i]! - a[i]!) * A[i]![j]! * (x[o + j]! / scale[j]! - a[j]!);
          }
        }
        return f;
      },
    });
    const result = await optimizer.minimize(problem, { maxiter: smooth ? undefined : 1000 });
    expect(result.cost).toBeLessThan(smooth ? 1e-10 : 1e-6);
    for (let i = 0; i < 3; i++) expect(result.x[i]! / scale[i]!).toBeCloseTo(a[i]!, smooth ? 5 : 2);
    if (smooth) expect(result.converged).toBe(true);
  });

  it('stops at active bounds, some lower and some upper', async () => {
    const target = [-3, 0.5, 7, 250, -0.02];
    const lower = [-1, 0, 0, 0, 0];
    const upper = [1, 1, 5, 200, 0.01];
    const problem = makeProblem({
      lower,
      upper,
      x0: [0, 0.2, 1, 100, 0.005],
      cost: (x, o) => {
        let f = 0;
        for (let i = 0; i < 5; i++) f += ((x[o + i]! - target[i]!) / (upper[i]! - lower[i]!)) ** 2;
        return f;
      },
    });
    const result = await optimizer.minimize(problem);
    // DE approaches a bound halfway at a time; the gradient methods land on it.
    const digits = smooth ? 12 : 4;
    expect(result.x[0]).toBeCloseTo(-1, digits);
    expect(result.x[1]).toBeCloseTo(0.5, smooth ? 6 : 3);
    expect(result.x[2]).toBeCloseTo(5, digits);
    expect(result.x[3]! / 200).toBeCloseTo(1, digits);
    expect(result.x[4]! / 0.01).toBeCloseTo(0, digits);
    if (smooth) expect([result.x[0], result.x[2], result.x[3], result.x[4]]).toEqual([-1, 5, 200, 0]);
    expectInside(result, lower, upper);
  });

  it('minimizes Rosenbrock in 10 dimensions', async () => {
    const n = 10;
    const lower = Array(n).fill(-2);
    const upper = Array(n).fill(2);
    const x0 = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? -1.2 : 1));
    const problem = makeProblem({ lower, upper, x0, cost: rosenbrock(n) });
    const result = await optimizer.minimize(problem, smooth ? {} : { maxEvaluations: 40_000 });
    if (smooth) {
      expect(result.cost).toBeLessThan(1e-6);
    } else {
      expect(result.cost).toBeLessThan(1);
    }
    expectInside(result, lower, upper);
  });

  it('handles a kinked piecewise-linear ramp', async () => {
    // Optimum at the kinks: x = 0.3 (|x - 0.3| ramp) and y = 1 (the penalty starts there).
    const problem = makeProblem({
      lower: [0, 0],
      upper: [1, 3],
      x0: [0.9, 0.1],
      cost: (x, o) => 10 * Math.abs(x[o]! - 0.3) - x[o + 1]! + 50 * Math.max(0, x[o + 1]! - 1),
    });
    const result = await optimizer.minimize(problem);
    expect(result.cost).toBeLessThan(-1 + 1e-3);
    expect(result.x[0]).toBeCloseTo(0.3, 3);
    expect(result.x[1]).toBeCloseTo(1, 3);
  });

  it('returns a finite point inside the bounds when some regions have NaN costs', async () => {
    const problem = makeProblem({
      lower: [0, 0],
      upper: [1, 1],
      x0: [0.1, 0.1],
      // The unconstrained minimum (0.7, 0.4) is in the NaN region x > 0.5.
      cost: (x, o) => (x[o]! > 0.5 ? Number.NaN : (x[o]! - 0.7) ** 2 + (x[o + 1]! - 0.4) ** 2),
    });
    const result = await optimizer.minimize(problem);
    expectInside(result, [0, 0], [0.5, 1]);
    expect(result.cost).toBeLessThan(0.04 + 1e-3);
    expect(result.x[1]).toBeCloseTo(0.4, 2);
  });

  it('starts from an infeasible x0', async () => {
    const problem = makeProblem({
      lower: [0, 0],
      upper: [1, 1],
      x0: [0.9, 0.9],
      cost: (x, o) => (x[o]! > 0.6 ? Number.POSITIVE_INFINITY : (x[o]! - 0.2) ** 2 + (x[o + 1]! - 0.3) ** 2),
    });
    const result = await optimizer.minimize(problem);
    expect(result.cost).toBeLessThan(1e-4);
  });

  it('rejects with OptimizerError when the cost is NaN everywhere', async () => {
    const problem = makeProblem({ lower: [0, 0], upper: [1, 1], x0: [0.5, 0.5], cost: () => Number.NaN });
    await expect(optimizer.minimize(problem)).rejects.toThrow(OptimizerError);
    await expect(optimizer.minimize(problem)).rejects.toThrow(
      /cost is not finite at the start point or anywhere tried/,
    );
  });

  it('rejects malformed problems with a clear message', async () => {
    const cost = () => 0;
    await expect(optimizer.minimize(makeProblem({ lower: [], upper: [], x0: [], cost }))).rejects.toThrow(
      /dimension 0/,
    );
    await expect(
      optimizer.minimize({
        ...makeProblem({ lower: [0, 0], upper: [1, 1], x0: [0, 0], cost }),
        upper: new Float64Array(1),
      }),
    ).rejects.toThrow(/'upper' has 1 values for 2/);
    await expect(
      optimizer.minimize(makeProblem({ lower: [0, Number.NaN], upper: [1, 1], x0: [0, 0], cost })),
    ).rejects.toThrow(/variable 1 are NaN/);
    await expect(
      optimizer.minimize(makeProblem({ lower: [0, 2], upper: [1, 1], x0: [0, 0], cost })),
    ).rejects.toThrow(/variable 1 are inverted \(lower 2 > upper 1\)/);
    await expect(
      optimizer.minimize(makeProblem({ lower: [0, 2], upper: [1, 1], x0: [0, 0], cost })),
    ).rejects.toThrow(OptimizerError);
  });

  it('keeps zero-width variables fixed and clips x0 into the box', async () => {
    const seen: number[] = [];
    const problem = makeProblem({
      lower: [0, 3, -1],
      upper: [1, 3, 1],
      x0: [5, 3, -4],
      cost: (x, o) => {
        seen.push(x[o + 1]!);
        return (x[o]! - 0.25) ** 2 + (x[o + 2]! - 0.5) ** 2;
      },
    });
    const result = await optimizer.minimize(problem);
    expect(result.x[1]).toBe(3);
    expect(new Set(seen)).toEqual(new Set([3]));
    expect(result.x[0]).toBeCloseTo(0.25, smooth ? 4 : 3);
    expect(result.x[2]).toBeCloseTo(0.5, smooth ? 4 : 3);
    expect(result.cost).toBeLessThan(smooth ? 1e-8 : 1e-6);
  });

  it('evaluates x0 once when no variable is free', async () => {
    const problem = makeProblem({
      lower: [1, 2],
      upper: [1, 2],
      x0: [0, 9],
      cost: (x, o) => x[o]! + x[o + 1]!,
    });
    const result = await optimizer.minimize(problem);
    expect(Array.from(result.x)).toEqual([1, 2]);
    expect(result.cost).toBe(3);
    expect(result.converged).toBe(true);
    expect(result.evaluations).toBe(1);
    expect(result.batches).toBe(1);
    expect(result.message).toMatch(/no free variables/i);
  });

  it('returns promptly with timedOut when maxTimeMs runs out', async () => {
    const problem = makeProblem({
      lower: [-2, -2, -2],
      upper: [2, 2, 2],
      x0: [-1.2, 1, -1.2],
      cost: rosenbrock(3),
      delayMs: 10,
    });
    const started = performance.now();
    const result = await optimizer.minimize(problem, { maxTimeMs: 60 });
    const elapsed = performance.now() - started;
    expect(result.timedOut).toBe(true);
    expect(result.converged).toBe(false);
    expect(result.message).toMatch(/maxTimeMs/);
    // timedOut proves the limit acted; the bound only catches a hang (loose: CI shares 2 cores).
    expect(elapsed).toBeLessThan(60 + 1000);
    expect(result.cost).toBeLessThanOrEqual(rosenbrock(3)(problem.x0, 0));
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    let batches = 0;
    const problem = makeProblem({
      lower: [-2, -2],
      upper: [2, 2],
      x0: [-1.2, 1],
      cost: rosenbrock(2),
    });
    const evaluate = problem.evaluate;
    const result = await optimizer.minimize(
      {
        ...problem,
        async evaluate(points, count, costs) {
          if (++batches === 3) controller.abort();
          await evaluate(points, count, costs);
        },
      },
      { signal: controller.signal },
    );
    expect(result.message).toMatch(/abort/i);
    expect(result.timedOut).toBe(false);
    expect(result.batches).toBe(3);
  });

  it('respects maxEvaluations', async () => {
    const problem = makeProblem({ lower: [-2, -2], upper: [2, 2], x0: [-1.2, 1], cost: rosenbrock(2) });
    const result = await optimizer.minimize(problem, { maxEvaluations: 100 });
    const total = problem.batchRows.reduce((a, b) => a + b, 0);
    expect(total).toBe(result.evaluations);
    expect(total).toBeLessThanOrEqual(100);
    expect(result.batches).toBe(problem.batchRows.length);
  });

  it('is reproducible with a seed', async () => {
    const make = () =>
      makeProblem({
        lower: [-3, -3, -3],
        upper: [3, 3, 3],
        x0: [2, -2, 0],
        cost: (x, o) =>
          (x[o]! - 1) ** 2 + (x[o + 1]! + 1) ** 2 + x[o + 2]! ** 2 + (x[o]! > 0 && x[o + 1]! < 0 ? 500 : 0),
      });
    const a = await optimizer.minimize(make(), { seed: 7, maxiter: 20 });
    const b = await optimizer.minimize(make(), { seed: 7, maxiter: 20 });
    expect(Array.from(a.x)).toEqual(Array.from(b.x));
    expect(a.cost).toBe(b.cost);
  });

  it("reaches the analytic optimum of the predecessor's cost shape (10 variables)", async () => {
    const problem = makeProblem({
      lower: kilnWidths.map((w) => -w),
      upper: kilnWidths,
      x0: Array(10).fill(0),
      cost: kilnCost,
    });
    const result = await optimizer.minimize(problem);
    expect(result.cost).toBeLessThan(-102 + 1e-3);
    expectInside(
      result,
      kilnWidths.map((w) => -w),
      kilnWidths,
    );
  });
});

describe('createOptimizer', () => {
  it('knows the names, case-insensitively, and the aliases of predecessor strategies', () => {
    expect(createOptimizer('projected-quasi-newton').name).toBe('projected-quasi-newton');
    // SLSQP and L-BFGS-B (the predecessor's names) run projected BFGS on exact gradients.
    expect(createOptimizer('projected-bfgs').name).toBe('projected-bfgs');
    expect(createOptimizer('slsqp').name).toBe('projected-bfgs');
    expect(createOptimizer('L-BFGS-B').name).toBe('projected-bfgs');
    expect(createOptimizer('de').name).toBe('DE');
    expect(createOptimizer('AUTO').name).toBe('auto');
    expect(optimizerNames).toEqual([
      'projected-bfgs',
      'projected-quasi-newton',
      'DE',
      'auto',
      'SLSQP',
      'L-BFGS-B',
    ]);
  });

  it('rejects an unknown name, listing the known ones', () => {
    expect(() => createOptimizer('nelder-mead')).toThrow(OptimizerError);
    expect(() => createOptimizer('nelder-mead')).toThrow(
      /'nelder-mead'.*'projected-quasi-newton', 'DE', 'auto' \(aliases 'SLSQP', 'L-BFGS-B'\)/,
    );
  });
});
