import type { FiniteDifferences } from './finite-differences.ts';
import { clamp01, type SolveContext, type StopReason } from './problem.ts';

/** Gradient sampling moves along a direction scaled to a whole box width at a = 1; rows are nearly free. */
export const SAMPLING_STEPS = [1, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6];

/** The iterate that gradient sampling moves (the quasi-Newton run's own state). */
export interface Iterate {
  /** The point, normalised. */
  readonly z: Float64Array;
  /** The gradient at z (written here). */
  readonly g: Float64Array;
  /** Per variable: 1 when it may move (written here; read for where to sample). */
  readonly free: Uint8Array;
  /** The cost at z. */
  f: number;
  /** Why the solve stopped, once a budget stops it. */
  stop: StopReason;
}

export type SamplingStep = 'moved' | 'stationary' | 'stopped';

/**
 * Gradient sampling (Burke, Lewis & Overton, 2005) for a point where no step along the
 * gradient lowers the cost, as on a kink: forward-difference gradients at m + 1 random points
 * within `radius` (one batch), the shortest vector in their convex hull as the descent
 * direction, then one line-search batch. The radius shrinks from 50·diffStep by factors of 5 to
 * diffStep; below that the point is taken as stationary.
 */
export class GradientSampling {
  private radius: number;
  private readonly sampleZ: Float64Array;
  private readonly sampleG: Float64Array;
  private readonly hull: Float64Array;
  /** Weights of the hull's rows and the scratch of `minNormDirection`, one array each. */
  private readonly simplex: SimplexScratch;
  private readonly d: Float64Array;

  constructor(
    private readonly ctx: SolveContext,
    private readonly fd: FiniteDifferences,
    private readonly zb: Float64Array,
    private readonly cb: Float64Array,
    private readonly rng: () => number,
    private readonly gtol: number,
  ) {
    const m = fd.m;
    this.radius = 50 * fd.h;
    this.sampleZ = new Float64Array(m);
    this.sampleG = new Float64Array(m);
    this.hull = new Float64Array((m + 2) * m);
    this.simplex = simplexScratch(m + 2);
    this.d = new Float64Array(m);
  }

  /** Rows the batches need for `m` free variables. */
  static rows(m: number): number {
    return Math.max((m + 2) * (m + 1), SAMPLING_STEPS.length);
  }

  /** One sampling step from `it`: it moves to a lower cost, or is stationary, or a budget stopped it. */
  async step(it: Iterate): Promise<SamplingStep> {
    const { ctx, fd, zb, cb } = this;
    const saved = fd.mode;
    // Sampled gradients are forward differences whatever the run uses.
    fd.mode = 'forward';
    try {
      for (; this.radius >= fd.h; this.radius /= 5) {
        const count = this.writeSamples(it);
        it.stop = ctx.stopReason(count);
        if (it.stop) return 'stopped';
        await ctx.evaluate(zb, count, cb);
        if (this.stationaryAtCentre(it)) return 'stationary';
        if (!this.hullDirection(it)) continue;
        this.writeLineSearch(it);
        it.stop = ctx.stopReason(SAMPLING_STEPS.length);
        if (it.stop) return 'stopped';
        await ctx.evaluate(zb, SAMPLING_STEPS.length, cb);
        if (this.moveToBest(it)) return 'moved';
      }
      return 'stationary';
    } finally {
      fd.mode = saved;
    }
  }

  /** The gradient rows at z, then at m + 1 random points around it (free variables only); returns the rows. */
  private writeSamples(it: Iterate): number {
    const { fd, rng } = this;
    const m = fd.m;
    const samples = m + 1;
    fd.write(it.z, 0);
    for (let c = 1; c <= samples; c++) {
      for (let k = 0; k < m; k++) {
        this.sampleZ[k] = it.free[k] ? clamp01(it.z[k]! + this.radius * (2 * rng() - 1)) : it.z[k]!;
      }
      fd.write(this.sampleZ, c * (m + 1));
    }
    return (samples + 1) * (m + 1);
  }

  /** Reads the gradient at z and the free set; true when the projected gradient vanishes there. */
  private stationaryAtCentre(it: Iterate): boolean {
    const { fd } = this;
    fd.read(0, it.g);
    // Variables at a bound that the gradient at z pushes out stay there.
    let pgNorm = 0;
    for (let k = 0; k < fd.m; k++) {
      const zk = it.z[k]!;
      const gk = it.g[k]!;
      it.free[k] = fd.unknown[k] || (zk <= 0 && gk > 0) || (zk >= 1 && gk < 0) ? 0 : 1;
      pgNorm = Math.max(pgNorm, Math.abs(clamp01(zk - gk) - zk));
    }
    return pgNorm <= this.gtol * Math.max(Math.abs(it.f), 1);
  }

  /**
   * The descent direction from the sampled gradients (into `d`, scaled so that its largest
   * component is 1); false when there is none.
   */
  private hullDirection(it: Iterate): boolean {
    const { fd, hull, sampleG, d } = this;
    const m = fd.m;
    // The gradient at z is left out of the hull: z usually sits right on the kink, where
    // forward differences mix one-sided slopes into a vector that is no gradient at all.
    let used = 0;
    for (let c = 1; c <= m + 1; c++) {
      fd.read(c * (m + 1), sampleG);
      let ok = Number.isFinite(this.cb[c * (m + 1)]!);
      for (let k = 0; k < m; k++) if (fd.unknown[k]) ok = false;
      if (!ok) continue;
      for (let k = 0; k < m; k++) hull[used * m + k] = it.free[k] ? sampleG[k]! : 0;
      used++;
    }
    fd.unknown.fill(0);
    if (used === 0) return false;
    minNormDirection(hull, used, m, this.simplex, d);
    let dmax = 0;
    for (let k = 0; k < m; k++) dmax = Math.max(dmax, Math.abs(d[k]!));
    if (!(dmax > this.gtol * Math.max(Math.abs(it.f), 1))) return false;
    for (let k = 0; k < m; k++) d[k] = -d[k]! / dmax;
    return true;
  }

  /** The trial steps along the projected path P(z + a d), one row each. */
  private writeLineSearch(it: Iterate): void {
    const { zb, d } = this;
    const m = this.fd.m;
    for (let t = 0; t < SAMPLING_STEPS.length; t++) {
      for (let k = 0; k < m; k++) zb[t * m + k] = clamp01(it.z[k]! + SAMPLING_STEPS[t]! * d[k]!);
    }
  }

  /** Moves `it` to the best trial when it lowers the cost; false when none does. */
  private moveToBest(it: Iterate): boolean {
    const { zb, cb } = this;
    const m = this.fd.m;
    let best = -1;
    for (let t = 0; t < SAMPLING_STEPS.length; t++) {
      if (cb[t]! < (best < 0 ? it.f : cb[best]!)) best = t;
    }
    if (best < 0) return false;
    for (let k = 0; k < m; k++) it.z[k] = zb[best * m + k]!;
    it.f = cb[best]!;
    this.ctx.iterations++;
    return true;
  }
}

/** The arrays `minNormDirection` works in, sized by `simplexScratch` for the most rows it is given. */
export interface SimplexScratch {
  /** Rows of the corral (Wolfe's active set), its weights, and the affine minimizer's weights. */
  corral: Int32Array;
  lambda: Float64Array;
  alpha: Float64Array;
  /** The bordered Gram system of the corral, (rows + 1)^2 values, and its right-hand side. */
  system: Float64Array;
  rhs: Float64Array;
}

export function simplexScratch(rows: number): SimplexScratch {
  return {
    corral: new Int32Array(rows),
    lambda: new Float64Array(rows),
    alpha: new Float64Array(rows),
    system: new Float64Array((rows + 1) * (rows + 1)),
    rhs: new Float64Array(rows + 1),
  };
}

/** Relative tolerance of Wolfe's optimality test and of a weight counted as zero. */
const WOLFE_TOLERANCE = 1e-12;

/**
 * The shortest vector in the convex hull of the `count` rows of `G` (m values each), written to
 * `out`, by Wolfe's minimum-norm-point algorithm (1976): an active set of rows (the corral) whose
 * affine hull's nearest point to the origin lies inside their convex hull; a major step adds the
 * row most opposed to the current point, minor steps drop rows until the affine minimizer has
 * positive weights again. It ends exactly (to rounding) after a few steps, when no row lowers the
 * norm: x.x - min_i G_i.x <= tolerance * max_i |G_i|^2 (the Frank-Wolfe duality gap). Returns
 * the corral's size: x = sum over s < size of lambda[s] * G[corral[s]] (in `scratch`).
 */
export function minNormDirection(
  G: Float64Array,
  count: number,
  m: number,
  scratch: SimplexScratch,
  out: Float64Array,
): number {
  const { corral, lambda, alpha } = scratch;
  let first = 0;
  let least = Number.POSITIVE_INFINITY;
  let largest = 0;
  for (let i = 0; i < count; i++) {
    const norm = dot(G, i * m, G, i * m, m);
    if (norm < least) {
      least = norm;
      first = i;
    }
    largest = Math.max(largest, norm);
  }
  for (let k = 0; k < m; k++) out[k] = G[first * m + k]!;
  corral[0] = first;
  lambda[0] = 1;
  let size = 1;
  if (count === 1 || !(largest > 0)) return size;
  const tolerance = WOLFE_TOLERANCE * largest;
  let previous = Number.POSITIVE_INFINITY;
  // Each major step lowers |x| strictly, so no corral repeats; the cap only guards rounding.
  for (let major = 0; major < 4 * count + 10; major++) {
    const xx = dot(out, 0, out, 0, m);
    // When rounding stops a major step from lowering |x|, x is as short as it gets.
    if (!(xx < previous)) return size;
    previous = xx;
    let j = -1;
    let lowest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < count; i++) {
      const v = dot(G, i * m, out, 0, m);
      if (v < lowest) {
        lowest = v;
        j = i;
      }
    }
    if (xx - lowest <= tolerance || size > m || inCorral(corral, size, j)) return size;
    corral[size] = j;
    lambda[size] = 0;
    size++;
    let singular = false;
    for (let minor = 0; minor < size; minor++) {
      if (!affineMinimizer(G, m, scratch, size)) {
        singular = true;
        break;
      }
      let theta = 1;
      for (let s = 0; s < size; s++) {
        if (alpha[s]! > WOLFE_TOLERANCE) continue;
        const step = lambda[s]! / (lambda[s]! - alpha[s]!);
        if (step < theta) theta = step;
      }
      for (let s = 0; s < size; s++) lambda[s] = theta * alpha[s]! + (1 - theta) * lambda[s]!;
      if (theta === 1) break;
      size = dropZeroWeights(corral, lambda, size);
    }
    if (singular) size = dropZeroWeights(corral, lambda, size);
    let total = 0;
    for (let s = 0; s < size; s++) total += lambda[s]!;
    for (let s = 0; s < size; s++) lambda[s]! /= total;
    for (let k = 0; k < m; k++) {
      let v = 0;
      for (let s = 0; s < size; s++) v += lambda[s]! * G[corral[s]! * m + k]!;
      out[k] = v;
    }
    if (singular) return size;
  }
  return size;
}

/** Drops the corral's rows whose weight is (by rounding) zero; returns the new size. */
function dropZeroWeights(corral: Int32Array, lambda: Float64Array, size: number): number {
  let kept = 0;
  for (let s = 0; s < size; s++) {
    if (lambda[s]! <= WOLFE_TOLERANCE) continue;
    corral[kept] = corral[s]!;
    lambda[kept] = lambda[s]!;
    kept++;
  }
  return kept;
}

function dot(a: Float64Array, ia: number, b: Float64Array, ib: number, m: number): number {
  let v = 0;
  for (let k = 0; k < m; k++) v += a[ia + k]! * b[ib + k]!;
  return v;
}

function inCorral(corral: Int32Array, size: number, row: number): boolean {
  for (let s = 0; s < size; s++) if (corral[s] === row) return true;
  return false;
}

/**
 * The weights (into `alpha`, summing to 1) of the point of the corral's affine hull nearest the
 * origin: the bordered system [G_S G_S', 1; 1', 0] [alpha; mu] = [0; 1], by Gaussian elimination
 * with partial pivoting. False when the system is singular (rows affinely dependent by rounding).
 */
function affineMinimizer(G: Float64Array, m: number, scratch: SimplexScratch, size: number): boolean {
  const { corral, alpha, system: A, rhs } = scratch;
  const w = size + 1;
  let scale = 0;
  for (let a = 0; a < size; a++) {
    for (let b = 0; b <= a; b++) {
      const v = dot(G, corral[a]! * m, G, corral[b]! * m, m);
      A[a * w + b] = v;
      A[b * w + a] = v;
      if (a === b) scale = Math.max(scale, v);
    }
    A[a * w + size] = 1;
    A[size * w + a] = 1;
    rhs[a] = 0;
  }
  A[size * w + size] = 0;
  rhs[size] = 1;
  // The bordered system mixes units (G.G and 1): scale the border to the Gram block's size.
  const unit = scale > 0 ? scale : 1;
  for (let a = 0; a < size; a++) {
    A[a * w + size] = unit;
    A[size * w + a] = unit;
  }
  rhs[size] = unit;
  for (let c = 0; c < w; c++) {
    let pivot = c;
    for (let r = c + 1; r < w; r++) if (Math.abs(A[r * w + c]!) > Math.abs(A[pivot * w + c]!)) pivot = r;
    if (!(Math.abs(A[pivot * w + c]!) > 1e-14 * unit)) return false;
    if (pivot !== c) {
      for (let k = c; k < w; k++) {
        const t = A[c * w + k]!;
        A[c * w + k] = A[pivot * w + k]!;
        A[pivot * w + k] = t;
      }
      const t = rhs[c]!;
      rhs[c] = rhs[pivot]!;
      rhs[pivot] = t;
    }
    const p = A[c * w + c]!;
    for (let r = c + 1; r < w; r++) {
      const f = A[r * w + c]! / p;
      if (f === 0) continue;
      for (let k = c; k < w; k++) A[r * w + k]! -= f * A[c * w + k]!;
      rhs[r]! -= f * rhs[c]!;
    }
  }
  for (let r = w - 1; r >= 0; r--) {
    let v = rhs[r]!;
    for (let k = r + 1; k < w; k++) v -= A[r * w + k]! * rhs[k]!;
    rhs[r] = v / A[r * w + r]!;
  }
  for (let a = 0; a < size; a++) alpha[a] = rhs[a]!;
  return true;
}
