import { mulberry32 } from '@po/core';
import { describe, expect, it } from 'vitest';
import { minNormDirection, simplexScratch } from './gradient-sampling.ts';

/** The shortest point of the hull of two rows, in closed form: a + t (b - a), t clipped to [0, 1]. */
function segmentMinimum(a: number[], b: number[]): number[] {
  let ab = 0;
  let bb = 0;
  for (let k = 0; k < a.length; k++) {
    ab += (b[k]! - a[k]!) * a[k]!;
    bb += (b[k]! - a[k]!) ** 2;
  }
  const t = bb > 0 ? Math.min(1, Math.max(0, -ab / bb)) : 0;
  return a.map((v, k) => v + t * (b[k]! - v));
}

describe('minNormDirection (Wolfe)', () => {
  it('matches the closed form for two gradients (a kink between two pieces)', () => {
    const rng = mulberry32(7);
    const out = new Float64Array(3);
    for (let trial = 0; trial < 200; trial++) {
      const a = [0, 1, 2].map(() => 2 * rng() - 1);
      const b = [0, 1, 2].map(() => 2 * rng() - 1);
      minNormDirection(Float64Array.from([...a, ...b]), 2, 3, simplexScratch(2), out);
      const expected = segmentMinimum(a, b);
      for (let k = 0; k < 3; k++) expect(out[k]).toBeCloseTo(expected[k]!, 12);
    }
  });

  it('finds the origin inside the hull and the nearest vertex or face outside it', () => {
    const out = new Float64Array(2);
    // A triangle around the origin: no descent (a Clarke-stationary point).
    minNormDirection(Float64Array.of(1, 0, -1, 1, -1, -1), 3, 2, simplexScratch(3), out);
    expect(Math.hypot(out[0]!, out[1]!)).toBeLessThan(1e-12);
    // A triangle to the right of the origin: its left edge x = 1 is nearest.
    minNormDirection(Float64Array.of(1, 1, 1, -1, 3, 0), 3, 2, simplexScratch(3), out);
    expect(out[0]).toBeCloseTo(1, 12);
    expect(out[1]).toBeCloseTo(0, 12);
    // Its vertex (2, 1) is nearest.
    minNormDirection(Float64Array.of(2, 1, 3, 1, 2, 4), 3, 2, simplexScratch(3), out);
    expect([...out]).toEqual([2, 1]);
  });

  it('meets the optimality conditions on random hulls (x in the hull, every row at least as far along x)', () => {
    const rng = mulberry32(2026);
    for (let trial = 0; trial < 300; trial++) {
      const m = 1 + Math.floor(rng() * 16);
      const count = 1 + Math.floor(rng() * (2 * m + 4));
      const shift = 2 * rng() - 1;
      const G = Float64Array.from({ length: count * m }, () => 2 * rng() - 1 + shift);
      const out = new Float64Array(m);
      const scratch = simplexScratch(count);
      const size = minNormDirection(G, count, m, scratch, out);
      // x is a convex combination of the rows (the corral's weights)...
      let weights = 0;
      for (let s = 0; s < size; s++) {
        expect(scratch.lambda[s]).toBeGreaterThan(0);
        weights += scratch.lambda[s]!;
      }
      expect(weights).toBeCloseTo(1, 12);
      for (let k = 0; k < m; k++) {
        let v = 0;
        for (let s = 0; s < size; s++) v += scratch.lambda[s]! * G[scratch.corral[s]! * m + k]!;
        expect(out[k]).toBeCloseTo(v, 12);
      }
      let xx = 0;
      let largest = 0;
      for (let k = 0; k < m; k++) xx += out[k]! * out[k]!;
      for (let i = 0; i < count; i++) {
        let gx = 0;
        let gg = 0;
        for (let k = 0; k < m; k++) {
          gx += G[i * m + k]! * out[k]!;
          gg += G[i * m + k]! ** 2;
        }
        largest = Math.max(largest, gg);
        // ...and the hull's nearest point to 0 iff G_i . x >= x . x for every row.
        expect(gx, `trial ${trial}, row ${i}`).toBeGreaterThanOrEqual(xx - 1e-9 * largest);
      }
    }
  });
});
