import type { BoundedProblem } from './types.ts';

/** A cost of one point: `x[offset .. offset + dimension)`. */
export type PointCost = (x: Float64Array, offset: number) => number;

/** A test problem that records the size of every batch it is asked for. */
export interface CountingProblem extends BoundedProblem {
  /** Rows of every `evaluate` call, in order. */
  readonly batchRows: number[];
}

export interface ProblemSpec {
  lower: ArrayLike<number>;
  upper: ArrayLike<number>;
  x0: ArrayLike<number>;
  cost: PointCost;
  /** Milliseconds each batch takes (a slow model). */
  delayMs?: number;
  /** Do not record batch sizes (long loops). */
  uncounted?: boolean;
}

export function makeProblem(spec: ProblemSpec): CountingProblem {
  const n = spec.x0.length;
  const batchRows: number[] = [];
  return {
    dimension: n,
    lower: Float64Array.from(spec.lower),
    upper: Float64Array.from(spec.upper),
    x0: Float64Array.from(spec.x0),
    batchRows,
    async evaluate(points, count, costs) {
      if (!spec.uncounted) batchRows.push(count);
      if (spec.delayMs) await new Promise((resolve) => setTimeout(resolve, spec.delayMs));
      for (let r = 0; r < count; r++) costs[r] = spec.cost(points, r * n);
    },
  };
}

/** Rosenbrock's function in `n` dimensions; minimum 0 at (1, ..., 1). */
export function rosenbrock(n: number): PointCost {
  return (x, o) => {
    let f = 0;
    for (let i = 0; i < n - 1; i++) {
      const a = x[o + i]!;
      const b = x[o + i + 1]!;
      f += 100 * (b - a * a) ** 2 + (1 - a) ** 2;
    }
    return f;
  };
}

/**
 * A score like the predecessor's constraint score on an upper limit: 1 up to `opMax`,
 * then a linear ramp that reaches 0 at `varMax` (and goes negative beyond, unclamped).
 */
export function upperScore(v: number, opMax: number, varMax: number): number {
  return v <= opMax ? 1 : (varMax - v) / (varMax - opMax);
}

/**
 * The predecessor's cost shape, `coal/0.05 - feed/2 - 100 * kpi`, over 10 deltas with
 * box widths from 0.1 to 4000. kpi = 0.5 drive-current score + 0.25 CO score + 0.25
 * clinker score, each fed by a smooth made-up "prediction". Analytic optimum: -102
 * (coal at -0.05, feed at +2, every score 1), reachable only by moving the drive speed to
 * its upper bound, the fan speed past 5 atanh(0.5) and the cooler flows enough.
 *
 * Variables: 0 coal ±0.05, 1 calciner temperature ±20, 2 PH fan speed ±5, 3 drive speed
 * ±0.2, 4 grate pressure ±0.5, 5 cooler fan 2 ±2000, 6 cooler fan A ±1000, 7 feed ±2,
 * 8 cooler fans 3-6 ±1500, 9 cooler fans 7-9 ±1200.
 */
export const kilnWidths = [0.05, 20, 5, 0.2, 0.5, 2000, 1000, 2, 1500, 1200];

export const kilnCost: PointCost = (x, o) => {
  const coal = x[o]!;
  const calciner = x[o + 1]!;
  const fan = x[o + 2]!;
  const drive = x[o + 3]!;
  const grate = x[o + 4]!;
  const fan2 = x[o + 5]!;
  const fanA = x[o + 6]!;
  const feed = x[o + 7]!;
  const fans36 = x[o + 8]!;
  const fans79 = x[o + 9]!;
  const current = 8 * feed - 6 * (drive / 0.2) + (calciner / 20) ** 2 + 2 * Math.tanh(grate);
  const co = 0.5 - 0.4 * (coal / 0.05) - 0.2 * Math.tanh(fan / 5) + 0.02 * (calciner / 20) ** 2;
  const clinker =
    5 * (feed / 2) -
    0.003 * fanA -
    0.001 * fan2 -
    0.0005 * fans36 -
    0.0004 * fans79 +
    0.5 * Math.sin(grate) ** 2;
  const kpi =
    0.5 * upperScore(current, 10 + 2 * Math.tanh(0), 30) +
    0.25 * upperScore(co, 0.8, 1.2) +
    0.25 * upperScore(clinker, 2, 12);
  return coal / 0.05 - feed / 2 - 100 * kpi;
};
