import { describe, expect, it } from 'vitest';
import { createQuasiNewton, QUASI_NEWTON_DEFAULTS } from './projected-quasi-newton.ts';
import { kilnCost, kilnWidths, makeProblem, rosenbrock } from './testing.ts';

describe('projected quasi-Newton batches', () => {
  it('computes a forward-difference gradient as one batch of n + 1 rows', async () => {
    const n = 6;
    const problem = makeProblem({
      lower: Array(n).fill(-1),
      upper: Array(n).fill(1),
      x0: Array(n).fill(0.5),
      cost: (x, o) => {
        let f = 0;
        for (let i = 0; i < n; i++) f += (i + 1) * (x[o + i]! - 0.1 * i) ** 2;
        return f;
      },
    });
    const result = await createQuasiNewton().minimize(problem, { maxiter: 1 });
    // The first batch is the gradient at x0: the centre and one row per variable.
    expect(problem.batchRows[0]).toBe(n + 1);
    expect(result.batches).toBe(problem.batchRows.length);
    expect(result.evaluations).toBe(problem.batchRows.reduce((a, b) => a + b, 0));
  });

  it('moves the finite-difference step with the box width, never near float32 resolution', async () => {
    const steps: number[] = [];
    const problem = makeProblem({ lower: [0, -2000], upper: [0.1, 2000], x0: [0.05, 0], cost: () => 1 });
    const evaluate = problem.evaluate;
    await createQuasiNewton().minimize(
      {
        ...problem,
        async evaluate(points, count, costs) {
          if (steps.length === 0)
            for (let r = 1; r < count; r++) steps.push(points[r * 2 + r - 1]! - points[r - 1]!);
          await evaluate(points, count, costs);
        },
      },
      { maxiter: 1 },
    );
    expect(steps[0]).toBeCloseTo(QUASI_NEWTON_DEFAULTS.diffStep * 0.1, 12);
    expect(steps[1]).toBeCloseTo(QUASI_NEWTON_DEFAULTS.diffStep * 4000, 6);
  });

  it('solves a linear cost with active bounds in 2 batches', async () => {
    const problem = makeProblem({
      lower: [-0.05, -2],
      upper: [0.05, 2],
      x0: [0, 0],
      cost: (x, o) => x[o]! / 0.05 - x[o + 1]! / 2,
    });
    const result = await createQuasiNewton().minimize(problem);
    expect(Array.from(result.x)).toEqual([-0.05, 2]);
    expect(result.cost).toBe(-2);
    expect(result.batches).toBe(2);
    expect(result.converged).toBe(true);
  });

  it('reports its batch counts on the test problems', async () => {
    const kiln = makeProblem({
      lower: kilnWidths.map((w) => -w),
      upper: kilnWidths,
      x0: Array(10).fill(0),
      cost: kilnCost,
    });
    const k = await createQuasiNewton().minimize(kiln);
    expect(k.cost).toBeLessThan(-102 + 1e-6);
    expect(k.batches).toBeLessThanOrEqual(30);
    const rosen = makeProblem({
      lower: Array(10).fill(-2),
      upper: Array(10).fill(2),
      x0: Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? -1.2 : 1)),
      cost: rosenbrock(10),
    });
    const r = await createQuasiNewton().minimize(rosen);
    expect(r.cost).toBeLessThan(1e-6);
    expect(r.batches).toBeLessThan(r.iterations * 1.5);
  });
});

describe('projected quasi-Newton memory', () => {
  it('keeps the heap flat over 100,000 small solves', { timeout: 60_000 }, async () => {
    const optimizer = createQuasiNewton();
    const problem = makeProblem({
      lower: [-1, -10],
      upper: [1, 10],
      x0: [0.5, 5],
      uncounted: true,
      cost: (x, o) => 3 * (x[o]! - 0.2) ** 2 + 0.01 * (x[o + 1]! + 1) ** 2 + 0.1 * x[o]! * x[o + 1]!,
    });
    const gc = (globalThis as { gc?: () => void }).gc;
    const heap = (): number => {
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    for (let i = 0; i < 1000; i++) await optimizer.minimize(problem);
    const before = heap();
    let worst = 0;
    for (let i = 0; i < 100_000; i++) {
      const result = await optimizer.minimize(problem);
      worst = Math.max(worst, result.cost);
    }
    const growth = heap() - before;
    expect(Number.isFinite(worst)).toBe(true);
    expect(growth).toBeLessThan(gc ? 5e6 : 50e6);
  });
});
