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
    this.simplex = {
      lambda: new Float64Array(m + 2),
      prev: new Float64Array(m + 2),
      yv: new Float64Array(m + 2),
      sorted: new Float64Array(m + 2),
    };
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

/** The arrays `minNormDirection` works in, each as long as the most rows it is given. */
export interface SimplexScratch {
  lambda: Float64Array;
  prev: Float64Array;
  yv: Float64Array;
  sorted: Float64Array;
}

/**
 * The shortest vector in the convex hull of the `count` rows of `G` (m values each), by
 * accelerated projected gradient on the simplex of weights; written to `out`.
 */
export function minNormDirection(
  G: Float64Array,
  count: number,
  m: number,
  scratch: SimplexScratch,
  out: Float64Array,
): void {
  const { lambda, prev, yv, sorted } = scratch;
  // Lipschitz constant of the gradient of |G' lambda|^2: 2 * trace(G G') bounds it.
  let trace = 0;
  for (let i = 0; i < count * m; i++) trace += G[i]! * G[i]!;
  const L = 2 * trace;
  lambda.fill(0);
  lambda[0] = 1;
  if (count === 1 || !(L > 0)) {
    for (let k = 0; k < m; k++) out[k] = G[k]!;
    return;
  }
  for (let i = 0; i < count; i++) lambda[i] = 1 / count;
  prev.set(lambda);
  let t = 1;
  // 400 iterations; the answer G' lambda is computed at the same call site as the iterations'
  // G' y, so that no code after the loop runs without type feedback (V8 deoptimised it).
  for (let iter = 0; ; iter++) {
    const last = iter === 400;
    if (!last) {
      const tNext = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
      const beta = (t - 1) / tNext;
      t = tNext;
      for (let i = 0; i < count; i++) yv[i] = lambda[i]! + beta * (lambda[i]! - prev[i]!);
      prev.set(lambda);
    }
    // v = G' y; gradient_i = 2 G_i . v
    combineRows(G, last ? lambda : yv, count, m, out);
    if (last) return;
    for (let i = 0; i < count; i++) {
      let gi = 0;
      for (let k = 0; k < m; k++) gi += G[i * m + k]! * out[k]!;
      lambda[i] = yv[i]! - (2 * gi) / L;
    }
    projectSimplex(lambda, count, sorted);
  }
}

/** out = G' w: the rows of `G` (m values each) weighted by `w`. */
function combineRows(G: Float64Array, w: Float64Array, count: number, m: number, out: Float64Array): void {
  for (let k = 0; k < m; k++) {
    let v = 0;
    for (let i = 0; i < count; i++) v += w[i]! * G[i * m + k]!;
    out[k] = v;
  }
}

/** Euclidean projection of v[0..count) onto the probability simplex, in place. */
function projectSimplex(v: Float64Array, count: number, sorted: Float64Array): void {
  for (let i = 0; i < count; i++) sorted[i] = v[i]!;
  sorted.subarray(0, count).sort();
  let cumulative = 0;
  let theta = 0;
  for (let i = count - 1, j = 1; i >= 0; i--, j++) {
    cumulative += sorted[i]!;
    const candidate = (cumulative - 1) / j;
    if (sorted[i]! - candidate > 0) theta = candidate;
  }
  for (let i = 0; i < count; i++) v[i] = Math.max(0, v[i]! - theta);
}
