import { mulberry32 } from '@po/core';
import { minNormDirection, type SimplexScratch, simplexScratch } from './gradient-sampling.ts';
import {
  clamp01,
  float64Views,
  type PhaseOutcome,
  SolveContext,
  type StopReason,
  solveFixed,
} from './problem.ts';
import {
  bfgsUpdate,
  QUASI_NEWTON_DEFAULTS,
  QUASI_NEWTON_NAME,
  type QuasiNewtonOptions,
  quasiNewtonRows,
  runQuasiNewton,
} from './projected-quasi-newton.ts';
import type { BoundedProblem, Optimizer, OptimizerOptions, OptimizerResult } from './types.ts';

/**
 * `projected-bfgs`: a bounded quasi-Newton method on exact gradients (the problem's
 * `valueAndGradient`: one evaluation gives the cost and its one-sided derivatives), in the spirit
 * of L-BFGS-B with a dense BFGS matrix (decision vectors are small). Strategies written for the
 * predecessor name it `SLSQP` or `L-BFGS-B`.
 *
 * Per iteration, in normalised variables z in [0, 1]:
 * 1. The working gradient takes, per variable, the one-sided derivative that lowers the cost
 *    (they differ only at a kink); a variable at a bound pushed outwards, or at a kink that
 *    rises on both sides, is held.
 * 2. d = -H g on the others (H: BFGS inverse Hessian), the step along the projected path
 *    P(z + a d) from a = 1 (capped to one box width), backtracking with quadratic
 *    interpolation on the exact slope until Armijo holds; every trial is one evaluation and its
 *    gradient comes with it.
 * 3. Kinks handled deliberately, only when the line search fails or progress stalls while the
 *    projected gradient is not small (the signature of a kink; with exact pieces, after one long
 *    backtrack):
 *    - when the problem gives the exact pieces of its cost near a point (`pieceGradients`: the
 *      values and gradients of the smooth pieces that meet at the kinks of piecewise-linear
 *      terms within a radius), kink mode: each step minimises the largest of the pieces'
 *      linearisations plus the BFGS curvature of their combination (a small QP on the simplex of
 *      the pieces, solved exactly), which lands on the kink and slides along it, until the
 *      combination has no slope and the pieces all meet (stationary on the kink);
 *    - otherwise a gradient-sampling step (Burke, Lewis & Overton) takes exact gradients at
 *      m + 1 seeded random points within a radius, moves along the shortest vector of their
 *      convex hull and shrinks the radius until no descent is left (a Clarke-stationary point).
 *    Smooth problems never pay for either.
 *
 * The method is one generator of evaluation requests, driven without awaits when the problem
 * evaluates synchronously (`valueAndGradientSync`, `pieceGradientsSync`).
 *
 * A problem without `valueAndGradient` runs `projected-quasi-newton` (finite differences) and
 * the result says so.
 */
export const PROJECTED_BFGS_NAME = 'projected-bfgs';

/** Armijo sufficient-decrease constant. */
const ARMIJO = 1e-4;
/** Kinks within this distance (normalised, max norm) enter kink mode's model of the cost. */
const KINK_RADIUS = 0.1;
/** Line-search trials per iteration. */
const MAX_TRIALS = 20;
/** Gradient-sampling radii (normalised units): the first, the factor, the last. */
const SAMPLING_RADIUS = 1e-2;
const SAMPLING_SHRINK = 10;
const SAMPLING_MIN_RADIUS = 1e-6;
/** The outcome's message when the start point's cost is not finite (the caller probes the box). */
const INFEASIBLE_START = 'The cost is not finite at the start point.';
/** Evaluations in one iteration that count as a long backtrack (the step crossed a kink). */
const LONG_BACKTRACK = 4;
/**
 * Iterations in a row, each in the direction of the last and cut back by the line search, each
 * gaining at most CUT_BACK_RATIO of the last: steps that keep halving their way towards a kink
 * (with exact pieces, kink mode starts after them).
 */
const CUT_BACK_ITERATIONS = 3;
const CUT_BACK_RATIO = 0.9;
/** Consecutive iterations below `stallTol` that count as a stall. */
const STALL_ITERATIONS = 2;

/** Runs the method on `ctx` from `zStart`; the context must have `ctx.hasGradient`. */
export async function runProjectedBfgs(
  ctx: SolveContext,
  zStart: Float64Array,
  options: OptimizerOptions,
  method: QuasiNewtonOptions = {},
): Promise<PhaseOutcome> {
  const run = new BfgsRun(ctx, zStart, options, method).run();
  return ctx.hasSyncGradient ? driveSync(ctx, run) : driveAsync(ctx, run);
}

/**
 * The method is written once, as a generator that yields each evaluation it needs (the point
 * and where its one-sided gradients go) and resumes with the cost. A driver runs it: without a
 * single await when the problem evaluates synchronously, else awaiting each evaluation.
 */
interface EvaluationRequest {
  /** `value`: the cost and its one-sided gradients into (up, down); `pieces`: the pieces near z. */
  kind: 'value' | 'pieces';
  z: Float64Array;
  up: Float64Array;
  down: Float64Array;
  /** For `pieces`: the radius, the pieces' values, and the farthest kink's distance. */
  radius: number;
  values: Float64Array;
  farthest: Float64Array;
}

type Steps<T> = Generator<EvaluationRequest, T, number>;

function driveSync(ctx: SolveContext, run: Steps<PhaseOutcome>): PhaseOutcome {
  let step = run.next();
  while (!step.done) {
    const r = step.value;
    step = run.next(
      r.kind === 'value'
        ? ctx.valueAndGradientSync(r.z, r.up, r.down)
        : ctx.pieceGradientsSync(r.z, r.radius, r.up, r.values, r.farthest),
    );
  }
  return step.value;
}

async function driveAsync(ctx: SolveContext, run: Steps<PhaseOutcome>): Promise<PhaseOutcome> {
  let step = run.next();
  while (!step.done) {
    const r = step.value;
    step = run.next(
      r.kind === 'value'
        ? await ctx.valueAndGradient(r.z, r.up, r.down)
        : await ctx.pieceGradients(r.z, r.radius, r.up, r.values, r.farthest),
    );
  }
  return step.value;
}

class BfgsRun {
  private readonly m: number;
  private readonly z: Float64Array;
  private f = Number.POSITIVE_INFINITY;
  private readonly up: Float64Array;
  private readonly down: Float64Array;
  /** The working gradient (descent-side one-sided derivatives; 0 where held). */
  private readonly g: Float64Array;
  private readonly held: Uint8Array;
  private readonly H: Float64Array;
  private fresh = true;
  private readonly d: Float64Array;
  private readonly zt: Float64Array;
  private readonly upT: Float64Array;
  private readonly downT: Float64Array;
  private readonly s: Float64Array;
  private readonly y: Float64Array;
  private readonly hy: Float64Array;
  private readonly gOld: Float64Array;
  /** The step accepted before the last one (s is the last). */
  private readonly sBefore: Float64Array;
  private readonly samples: Float64Array;
  /** Rows `samples` holds (sampled gradients, or the pieces' gradients). */
  private readonly sampleRows: number;
  /** The distance of the farthest kink of the last `pieceGradients`. */
  private readonly farthest: Float64Array;
  /** Kink mode: the pieces' values (less the cost), the model's weights, its Gram matrix and H g_i. */
  private readonly pieceValues: Float64Array;
  private readonly lambda: Float64Array;
  private readonly Q: Float64Array;
  private readonly hg: Float64Array;
  private readonly qpScratch: QpScratch;
  /** The last kink step's point, weights and their combination of the pieces' gradients, and its row count (0: none). */
  private readonly kinkZ: Float64Array;
  private readonly kinkLambda: Float64Array;
  private readonly kinkGradient: Float64Array;
  private kinkPrevious = 0;
  /** Set when kink mode found the point stationary on its exact pieces. */
  private kinkStationary = false;
  /** Set when kink mode took its one last step from a point that passed the stationarity test. */
  private kinkPolished = false;
  /** Kink mode's largest step (normalised, max norm). */
  private kinkTrust = KINK_RADIUS;
  /** The bundle: the last m + 1 points evaluated and their (upper) gradients, a ring. */
  private readonly bundleZ: Float64Array;
  private readonly bundleG: Float64Array;
  private bundleSize = 0;
  private bundleNext = 0;
  /** Made on the first hull step: smooth runs never need it. */
  private simplex: SimplexScratch | undefined;
  private readonly rng: () => number;
  private readonly maxiter: number;
  private readonly ftol: number;
  private readonly xtol: number;
  private readonly gtol: number;
  private readonly stallTol: number;
  private stop: StopReason;

  constructor(
    private readonly ctx: SolveContext,
    zStart: Float64Array,
    options: OptimizerOptions,
    method: QuasiNewtonOptions,
  ) {
    const m = ctx.free;
    this.m = m;
    this.sampleRows = Math.max(2 * m + 4, ctx.hasPieces ? ctx.maxPieces : 0);
    const pieces = Math.max(1, ctx.maxPieces);
    // One allocation for the run's scratch (views, zeroed).
    [
      this.z,
      this.up,
      this.down,
      this.g,
      this.d,
      this.zt,
      this.upT,
      this.downT,
      this.s,
      this.y,
      this.hy,
      this.gOld,
      this.sBefore,
      this.H,
      this.samples,
      this.pieceValues,
      this.lambda,
      this.Q,
      this.hg,
      this.kinkZ,
      this.kinkLambda,
      this.kinkGradient,
      this.bundleZ,
      this.bundleG,
      this.farthest,
    ] = float64Views([
      m,
      m,
      m,
      m,
      m,
      m,
      m,
      m,
      m,
      m,
      m,
      m,
      m,
      m * m,
      this.sampleRows * m,
      pieces,
      pieces,
      pieces * pieces,
      pieces * m,
      m,
      pieces,
      m,
      (m + 1) * m,
      (m + 1) * m,
      1,
    ]);
    for (let k = 0; k < m; k++) this.z[k] = clamp01(zStart[k]!);
    this.held = new Uint8Array(m);
    this.qpScratch = qpScratch(pieces);
    this.request = {
      kind: 'value',
      z: this.z,
      up: this.up,
      down: this.down,
      radius: 0,
      values: this.pieceValues,
      farthest: this.farthest,
    };
    this.rng = mulberry32(options.seed ?? QUASI_NEWTON_DEFAULTS.seed);
    this.maxiter = options.maxiter ?? QUASI_NEWTON_DEFAULTS.maxiter;
    this.ftol = options.ftol ?? QUASI_NEWTON_DEFAULTS.ftol;
    this.xtol = options.xtol ?? QUASI_NEWTON_DEFAULTS.xtol;
    this.gtol = method.gtol ?? QUASI_NEWTON_DEFAULTS.gtol;
    this.stallTol = method.stallTol ?? QUASI_NEWTON_DEFAULTS.stallTol;
  }

  private done(converged: boolean, message: string): PhaseOutcome {
    return { converged, stop: this.stop, message };
  }

  /** The request the run yields for each evaluation (one object, rewritten each time). */
  private readonly request: EvaluationRequest;

  /** The pieces of the cost near `z` into `out` (gradients) and `pieceValues`; returns the rows. */
  private *pieces(z: Float64Array, radius: number, out: Float64Array): Steps<number> {
    const request = this.request;
    request.kind = 'pieces';
    request.z = z;
    request.up = out;
    request.radius = radius;
    return yield request;
  }

  /** One exact evaluation at `z` into (up, down); undefined when a budget stopped the run. */
  private *evaluate(z: Float64Array, up: Float64Array, down: Float64Array): Steps<number | undefined> {
    this.stop = this.ctx.evaluations === 0 ? undefined : this.ctx.stopReason(1);
    if (this.stop) return undefined;
    const request = this.request;
    request.kind = 'value';
    request.z = z;
    request.up = up;
    request.down = down;
    const f = yield request;
    if (Number.isFinite(f)) {
      const m = this.m;
      this.bundleZ.set(z.subarray(0, m), this.bundleNext * m);
      this.bundleG.set(up.subarray(0, m), this.bundleNext * m);
      this.bundleNext = (this.bundleNext + 1) % (m + 1);
      this.bundleSize = Math.min(this.bundleSize + 1, m + 1);
    }
    return f;
  }

  *run(): Steps<PhaseOutcome> {
    const f0 = yield* this.evaluate(this.z, this.up, this.down);
    if (f0 === undefined) return this.done(false, '');
    this.f = f0;
    if (!Number.isFinite(this.f)) return this.done(false, INFEASIBLE_START);
    // Phases (iterations, sampling steps) in a row that lowered the cost by less than stallTol,
    // and iterations in a row that needed a long backtrack (a kink crossed).
    let stalls = 0;
    let backtracks = 0;
    // Iterations in a row cut back on their way towards a kink, and the last iteration's gain.
    let cutBacks = 0;
    let lastGain = Number.POSITIVE_INFINITY;
    while (true) {
      const pg = this.workingGradient();
      const scale = Math.max(Math.abs(this.f), 1);
      if (pg <= this.gtol * scale) return this.done(true, 'Converged: the projected gradient vanishes.');
      if (this.ctx.iterations >= this.maxiter) {
        return this.done(
          false,
          `Stopped at maxiter (${this.maxiter}) iterations without meeting a convergence test.`,
        );
      }
      const before = this.f;
      const evaluations = this.ctx.evaluations;
      const moved = yield* this.quasiNewtonStep();
      if (this.stop) return this.done(false, '');
      this.ctx.iterations++;
      const small = !moved || before - this.f <= this.stallTol * Math.max(Math.abs(before), 1);
      stalls = small ? stalls + 1 : 0;
      const spent = this.ctx.evaluations - evaluations;
      backtracks = moved && spent >= LONG_BACKTRACK ? backtracks + 1 : 0;
      const gain = before - this.f;
      const cutBack = moved && spent >= 2 && gain <= CUT_BACK_RATIO * lastGain && this.alongLastStep();
      cutBacks = cutBack ? cutBacks + 1 : 0;
      lastGain = gain;
      if (moved) this.sBefore.set(this.s);
      // With the exact pieces of the cost a kink is handled as soon as a step crosses one, or
      // as soon as steps keep being cut back on their way towards one.
      const patience = this.ctx.hasPieces ? 1 : STALL_ITERATIONS;
      const approaching = this.ctx.hasPieces && cutBacks >= CUT_BACK_ITERATIONS;
      if (moved && stalls < STALL_ITERATIONS && backtracks < patience && !approaching) continue;
      cutBacks = 0;
      // No step, stalled progress or repeated long backtracks with a projected gradient that
      // is not small: the signature of a kink.
      backtracks = 0;
      const beforeSampling = this.f;
      const sampled = yield* this.sample();
      if (this.stop) return this.done(false, '');
      if (this.kinkStationary) {
        return this.done(
          true,
          'Converged: stationary on a kink (no descent in the model of its exact pieces).',
        );
      }
      const gained = beforeSampling - this.f > this.stallTol * Math.max(Math.abs(beforeSampling), 1);
      if (!sampled || (!gained && stalls >= STALL_ITERATIONS)) {
        return this.done(
          true,
          'Converged: no descent direction in the gradients sampled around the point (a kink).',
        );
      }
      if (gained) stalls = 0;
    }
  }

  /** Whether the last step accepted went the way of the one before (a positive inner product). */
  private alongLastStep(): boolean {
    let along = 0;
    for (let k = 0; k < this.m; k++) along += this.s[k]! * this.sBefore[k]!;
    return along > 0;
  }

  /**
   * The working gradient and the held variables at the current point; returns the largest
   * component of the projected gradient (0 at a stationary point).
   */
  private workingGradient(): number {
    const { z, up, down, g, held } = this;
    let largest = 0;
    for (let k = 0; k < this.m; k++) {
      const lowers = up[k]! < 0 && z[k]! < 1;
      const raises = down[k]! > 0 && z[k]! > 0;
      if (lowers && raises) g[k] = -up[k]! > down[k]! ? up[k]! : down[k]!;
      else if (lowers) g[k] = up[k]!;
      else if (raises) g[k] = down[k]!;
      else g[k] = 0;
      held[k] =
        g[k] === 0 && up[k] !== down[k]
          ? 1
          : z[k]! <= 0 && up[k]! >= 0
            ? 1
            : z[k]! >= 1 && down[k]! <= 0
              ? 1
              : 0;
      if (held[k]) g[k] = 0;
      largest = Math.max(largest, Math.abs(g[k]!));
    }
    return largest;
  }

  /** d = -H g on the free variables; steepest descent when that is not a descent direction. */
  private direction(): number {
    const { m, H, g, d, held } = this;
    if (this.fresh) {
      H.fill(0);
      for (let k = 0; k < m; k++) H[k * m + k] = 1;
    }
    let slope = 0;
    for (let i = 0; i < m; i++) {
      let v = 0;
      if (!held[i]) for (let j = 0; j < m; j++) if (!held[j]) v -= H[i * m + j]! * g[j]!;
      d[i] = v;
      slope += v * g[i]!;
    }
    if (slope < 0) return slope;
    this.fresh = true;
    slope = 0;
    for (let i = 0; i < m; i++) {
      d[i] = held[i] ? 0 : -g[i]!;
      slope -= g[i]! * g[i]!;
    }
    return slope;
  }

  /** One BFGS iteration with its line search; false when no step lowered the cost. */
  private *quasiNewtonStep(): Steps<boolean> {
    const slope = this.direction();
    if (!(slope < 0)) return false;
    let dmax = 0;
    for (let k = 0; k < this.m; k++) dmax = Math.max(dmax, Math.abs(this.d[k]!));
    const accepted = yield* this.lineSearch(Math.min(1, 1 / dmax), true);
    if (accepted === undefined) {
      // Failed with curvature information: once more from steepest descent.
      if (this.fresh) return false;
      this.fresh = true;
      return yield* this.quasiNewtonStep();
    }
    return true;
  }

  /**
   * Backtracking along P(z + a d) from `a`, Armijo on the working gradient; on success moves
   * the point (and updates H when `update`). Returns the step taken, or undefined.
   */
  private *lineSearch(start: number, update: boolean): Steps<number | undefined> {
    const { m, z, zt, d, g } = this;
    let a = start;
    for (let trial = 0; trial < MAX_TRIALS; trial++) {
      let predicted = 0;
      let step = 0;
      for (let k = 0; k < m; k++) {
        zt[k] = clamp01(z[k]! + a * d[k]!);
        predicted += g[k]! * (zt[k]! - z[k]!);
        step = Math.max(step, Math.abs(zt[k]! - z[k]!));
      }
      if (step <= this.xtol) return undefined;
      const ft = yield* this.evaluate(zt, this.upT, this.downT);
      if (ft === undefined) return undefined;
      if (ft <= this.f + ARMIJO * predicted && ft < this.f) {
        this.accept(ft, update);
        return a;
      }
      // Quadratic interpolation on the exact initial slope, kept within [0.1 a, 0.5 a].
      const q = Number.isFinite(ft) ? (-predicted * a) / (2 * (ft - this.f - predicted)) : 0.1 * a;
      a = Math.min(0.5 * a, Math.max(0.1 * a, q));
    }
    return undefined;
  }

  /** Moves to the trial point; the BFGS update on (s, y) when it keeps H positive definite. */
  private accept(ft: number, update: boolean): void {
    const { m, z, zt, s, y, gOld, g } = this;
    gOld.set(g);
    for (let k = 0; k < m; k++) s[k] = zt[k]! - z[k]!;
    z.set(zt);
    this.up.set(this.upT);
    this.down.set(this.downT);
    this.f = ft;
    this.workingGradient();
    if (!update) return;
    let sy = 0;
    let yy = 0;
    for (let k = 0; k < m; k++) {
      // The same one-sided derivative on both ends: the smooth piece's curvature.
      y[k] = (s[k]! >= 0 ? this.up[k]! : this.down[k]!) - gOld[k]!;
      sy += s[k]! * y[k]!;
      yy += y[k]! * y[k]!;
    }
    if (!(sy > 1e-12 * Math.sqrt(yy) * Math.hypot(...s))) return;
    if (this.fresh) {
      // Scale the identity to the curvature seen (Nocedal & Wright 6.20) before the first update.
      const gamma = sy / yy;
      for (let k = 0; k < m * m; k++) this.H[k]! *= gamma;
      this.fresh = false;
    }
    bfgsUpdate(this.H, m, s, y, sy, this.hy);
  }

  /**
   * A gradient-sampling step: exact gradients at m + 1 seeded random points within the radius
   * (plus both one-sided gradients at the point), the shortest vector of their convex hull, a
   * line search along it; the radius shrinks while no descent is found. False when the point is
   * stationary at the smallest radius.
   */
  private *sample(): Steps<boolean> {
    if (this.ctx.hasPieces) {
      const moved = yield* this.kinkMode();
      if (moved !== undefined) return moved;
    }
    // A bundle step first: the gradients already evaluated near the point (the iterations that
    // crossed the kink) cost nothing.
    const near = this.bundleRadius();
    if (near > 0) {
      const moved = yield* this.hullStep(this.bundleRows(near), near);
      if (moved !== undefined) return moved;
    }
    const { m, z, zt, samples } = this;
    for (let radius = SAMPLING_RADIUS; radius >= SAMPLING_MIN_RADIUS; radius /= SAMPLING_SHRINK) {
      samples.set(this.up, 0);
      samples.set(this.down, m);
      let rows = 2;
      for (let p = 0; p <= m; p++) {
        for (let k = 0; k < m; k++) zt[k] = clamp01(z[k]! + radius * (2 * this.rng() - 1));
        const ft = yield* this.evaluate(zt, this.upT, this.downT);
        if (ft === undefined) return false;
        if (!Number.isFinite(ft)) continue;
        samples.set(this.upT, rows * m);
        rows++;
      }
      const moved = yield* this.hullStep(rows, radius);
      if (moved !== undefined) return moved;
    }
    this.workingGradient();
    return false;
  }

  /**
   * Kink mode, when the problem gives the exact pieces of its cost (`ctx.pieceGradients`): steps
   * while they lower the cost. Each step models the cost near the point as the largest of its
   * smooth pieces meeting within KINK_RADIUS (their values and exact gradients) plus the BFGS
   * curvature, and moves to the model's minimum (an SQP step on the kink: it lands on the kink
   * and slides along it). True when it lowered the cost and then found the point stationary or
   * left the kink; false when the point is stationary at the first step; undefined when the
   * cost has no kink near (or not a convex one), or a step found no descent: the caller samples.
   */
  private *kinkMode(): Steps<boolean | undefined> {
    let moved = false;
    this.kinkPolished = false;
    this.kinkPrevious = 0;
    while (this.ctx.iterations < this.maxiter) {
      const step = yield* this.kinkStep();
      if (this.stop) return false;
      if (step === 'moved') {
        moved = true;
        this.ctx.iterations++;
        continue;
      }
      if (step === 'stationary') {
        this.kinkStationary = true;
        return moved;
      }
      // Left kink mode: the quasi-Newton iterations start afresh.
      this.fresh = true;
      return moved ? true : undefined;
    }
    this.fresh = true;
    return moved;
  }

  /** One kink-mode step: moved, stationary, or none (no kink near, or no descent found). */
  private *kinkStep(): Steps<'moved' | 'stationary' | 'none'> {
    const { ctx, m, samples: G, pieceValues: a, lambda, d, z, zt, held, H } = this;
    // The pieces take up to one evaluation's work each, and one for the point.
    this.stop = ctx.stopReason(1 + ctx.maxPieces);
    if (this.stop) return 'none';
    const rows = yield* this.pieces(z, KINK_RADIUS, G);
    if (rows <= 1) return 'none';
    const f = this.f;
    const scale = Math.max(Math.abs(f), 1);
    // The pieces' values less the cost: the cost is their largest (a convex kink) or this
    // model does not describe it.
    let top = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < rows; i++) {
      a[i] = a[i]! - f;
      top = Math.max(top, a[i]!);
    }
    if (!(Math.abs(top) <= 1e-9 * scale)) return 'none';
    if (this.kinkPrevious === 0) {
      this.kinkTrust = KINK_RADIUS;
      // Entering kink mode: the quasi-Newton matrix learnt across the kink mixes the pieces'
      // slopes; start from a multiple of the identity that moves at most KINK_RADIUS, rescaled
      // to the curvature seen at the first update.
      let gMax = 0;
      for (let k = 0; k < rows * m; k++) gMax = Math.max(gMax, Math.abs(G[k]!));
      H.fill(0);
      for (let k = 0; k < m; k++) H[k * m + k] = gMax > 0 ? KINK_RADIUS / gMax : 1;
      this.fresh = true;
    } else if (this.kinkPrevious === rows) {
      // The curvature seen since the last kink step: the same combination of the same pieces.
      this.kinkUpdate(rows);
    }
    // Variables at a bound that the step pushes out are held; the model is solved again without them.
    held.fill(0);
    let predicted = 0;
    for (let pass = 0; pass <= m; pass++) {
      this.kinkModel(rows);
      predicted = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < rows; i++) predicted = Math.max(predicted, a[i]! + dot(G, i * m, d, 0, m));
      let changed = false;
      for (let k = 0; k < m; k++) {
        if (held[k]) continue;
        if ((z[k]! <= 0 && d[k]! < 0) || (z[k]! >= 1 && d[k]! > 0)) {
          held[k] = 1;
          changed = true;
        }
      }
      if (!changed) break;
    }
    // Remember the combination for the next step's curvature update.
    const gl = this.kinkGradient;
    for (let k = 0; k < m; k++) {
      let v = 0;
      for (let i = 0; i < rows; i++) v += lambda[i]! * G[i * m + k]!;
      gl[k] = held[k] ? 0 : v;
    }
    let glMax = 0;
    for (let k = 0; k < m; k++) glMax = Math.max(glMax, Math.abs(gl[k]!));
    // Stationary: the model's combination of the pieces has no slope and its pieces all meet here.
    let gap = 0;
    for (let i = 0; i < rows; i++) gap -= lambda[i]! * a[i]!;
    if (glMax <= this.gtol * scale && gap <= 1e-9 * scale) {
      // Within the tolerances: one last step (one trial) while the model still predicts descent,
      // so that a kink reached early ends no higher than the iterations would have.
      if (this.kinkPolished || !(predicted < 0)) return 'stationary';
      this.kinkPolished = true;
    }
    if (!(predicted < 0)) return 'stationary';
    let dmax = 0;
    for (let k = 0; k < m; k++) dmax = Math.max(dmax, Math.abs(d[k]!));
    // A trust region: ten times the last kink step (KINK_RADIUS at first), one box width at most.
    let alpha = Math.min(1, Math.min(1, this.kinkTrust) / dmax);
    for (let trial = 0; trial < MAX_TRIALS; trial++) {
      let step = 0;
      for (let k = 0; k < m; k++) {
        zt[k] = clamp01(z[k]! + alpha * d[k]!);
        step = Math.max(step, Math.abs(zt[k]! - z[k]!));
      }
      if (step <= this.xtol) break;
      const ft = yield* this.evaluate(zt, this.upT, this.downT);
      if (ft === undefined) return 'none';
      if (ft < f && ft <= f + ARMIJO * alpha * predicted) {
        this.kinkTrust = 10 * step;
        // A full step that the model predicted well: along the kink the cost may be nearly
        // linear (no curvature for BFGS to learn), so the metric grows until the model overshoots.
        if (alpha === 1 && ft - f <= 0.5 * predicted) {
          for (let k = 0; k < m * m; k++) H[k]! *= 4;
        }
        this.kinkZ.set(z);
        this.kinkLambda.set(lambda.subarray(0, rows));
        this.kinkPrevious = rows;
        this.accept(ft, false);
        return 'moved';
      }
      if (this.kinkPolished) return 'stationary';
      alpha *= 0.5;
    }
    if (this.kinkPolished) return 'stationary';
    this.kinkPrevious = 0;
    return 'none';
  }

  /**
   * The model's minimum: lambda on the simplex minimising 1/2 (G' lambda)' H (G' lambda) - a'
   * lambda (the dual of min_d max_i (a_i + g_i.d) + 1/2 d' H^-1 d), and d = -H G' lambda, over
   * the variables not held.
   */
  private kinkModel(rows: number): void {
    const { m, samples: G, pieceValues: a, lambda, d, held, H, hg, Q } = this;
    // hg[i] = H g_i on the free variables.
    for (let i = 0; i < rows; i++) {
      for (let r = 0; r < m; r++) {
        let v = 0;
        if (!held[r]) for (let c = 0; c < m; c++) if (!held[c]) v += H[r * m + c]! * G[i * m + c]!;
        hg[i * m + r] = v;
      }
    }
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j <= i; j++) {
        let v = 0;
        for (let k = 0; k < m; k++) if (!held[k]) v += G[i * m + k]! * hg[j * m + k]!;
        Q[i * rows + j] = v;
        Q[j * rows + i] = v;
      }
    }
    simplexQp(Q, a, rows, lambda, this.qpScratch);
    for (let k = 0; k < m; k++) {
      let v = 0;
      for (let i = 0; i < rows; i++) v -= lambda[i]! * hg[i * m + k]!;
      d[k] = held[k] ? 0 : v;
    }
  }

  /** BFGS on the combination of the pieces (the kink's Lagrangian) between two kink steps. */
  private kinkUpdate(rows: number): void {
    const { m, samples: G, s, y, z } = this;
    const lambda = this.kinkLambda;
    let sy = 0;
    let yy = 0;
    for (let k = 0; k < m; k++) {
      let v = 0;
      for (let i = 0; i < rows; i++) v += lambda[i]! * G[i * m + k]!;
      s[k] = z[k]! - this.kinkZ[k]!;
      y[k] = v - this.kinkGradient[k]!;
      sy += s[k]! * y[k]!;
      yy += y[k]! * y[k]!;
    }
    if (!(sy > 1e-12 * Math.sqrt(yy) * Math.hypot(...s))) return;
    if (this.fresh) {
      const gamma = sy / yy;
      this.H.fill(0);
      for (let k = 0; k < m; k++) this.H[k * m + k] = gamma;
      this.fresh = false;
    }
    bfgsUpdate(this.H, m, s, y, sy, this.hy);
  }

  /** The largest distance (max norm) from the point to a bundle point within 0.1; 0 when none. */
  private bundleRadius(): number {
    const { m, z } = this;
    let radius = 0;
    for (let b = 0; b < this.bundleSize; b++) {
      let distance = 0;
      for (let k = 0; k < m; k++) distance = Math.max(distance, Math.abs(this.bundleZ[b * m + k]! - z[k]!));
      if (distance <= 0.1) radius = Math.max(radius, distance);
    }
    return radius;
  }

  /** Writes both one-sided gradients at the point and the bundle's gradients within `radius`; returns the rows. */
  private bundleRows(radius: number): number {
    const { m, z, samples } = this;
    samples.set(this.up, 0);
    samples.set(this.down, m);
    let rows = 2;
    for (let b = 0; b < this.bundleSize; b++) {
      let distance = 0;
      for (let k = 0; k < m; k++) distance = Math.max(distance, Math.abs(this.bundleZ[b * m + k]! - z[k]!));
      if (distance > radius) continue;
      samples.set(this.bundleG.subarray(b * m, (b + 1) * m), rows * m);
      rows++;
    }
    return rows;
  }

  /**
   * Moves along the shortest vector of the hull of the `rows` gradients in `samples`: true when
   * it lowered the cost, undefined when there is no descent at this radius (or the line search
   * found none); false when a budget stopped the run.
   */
  private *hullStep(rows: number, radius: number): Steps<boolean | undefined> {
    const { m, z, d } = this;
    this.simplex ??= simplexScratch(this.sampleRows);
    minNormDirection(this.samples, rows, m, this.simplex, d);
    let norm = 0;
    for (let k = 0; k < m; k++) {
      const v = -d[k]!;
      // Held at a bound: the direction must not leave the box.
      d[k] = (z[k]! <= 0 && v < 0) || (z[k]! >= 1 && v > 0) ? 0 : v;
      norm = Math.max(norm, Math.abs(d[k]!));
    }
    if (norm <= this.gtol * Math.max(Math.abs(this.f), 1)) return undefined;
    // The Armijo test along the hull direction uses the direction itself as the slope.
    for (let k = 0; k < m; k++) this.g[k] = -d[k]!;
    const accepted = yield* this.lineSearch(Math.min(1, (10 * radius) / norm), false);
    if (this.stop) return false;
    if (accepted === undefined) return undefined;
    this.fresh = true;
    return true;
  }
}

/** The scratch of `simplexQp` for up to `rows` pieces. */
interface QpScratch {
  system: Float64Array;
  rhs: Float64Array;
  trial: Float64Array;
}

function qpScratch(rows: number): QpScratch {
  return {
    system: new Float64Array((rows + 1) * (rows + 1)),
    rhs: new Float64Array(rows + 1),
    trial: new Float64Array(rows),
  };
}

/**
 * lambda on the simplex (count values >= 0 summing to 1) minimising 1/2 lambda' Q lambda - a'
 * lambda, Q symmetric positive semidefinite (count x count), exactly: every support's equality
 * problem [Q_S 1; 1' 0] [lambda_S; mu] = [a_S; 1] (count is at most a few pieces), the best one
 * with lambda_S >= 0. A single piece is always a candidate, so there is an answer.
 */
export function simplexQp(
  Q: Float64Array,
  a: Float64Array,
  count: number,
  lambda: Float64Array,
  scratch: QpScratch,
): void {
  const { system: A, rhs, trial } = scratch;
  let best = Number.POSITIVE_INFINITY;
  let unit = 0;
  for (let i = 0; i < count; i++) unit = Math.max(unit, Math.abs(Q[i * count + i]!));
  if (!(unit > 0)) unit = 1;
  for (let mask = 1; mask < 1 << count; mask++) {
    let size = 0;
    for (let i = 0; i < count; i++) if (mask & (1 << i)) size++;
    const w = size + 1;
    for (let r = 0, i = 0; i < count; i++) {
      if (!(mask & (1 << i))) continue;
      for (let c = 0, j = 0; j < count; j++) {
        if (!(mask & (1 << j))) continue;
        A[r * w + c] = Q[i * count + j]!;
        c++;
      }
      // The border scaled to the Gram block's size (mixed units otherwise).
      A[r * w + size] = unit;
      A[size * w + r] = unit;
      rhs[r] = a[i]!;
      r++;
    }
    A[size * w + size] = 0;
    rhs[size] = unit;
    if (!solveDense(A, rhs, w, unit)) continue;
    trial.fill(0);
    let feasible = true;
    for (let r = 0, i = 0; i < count; i++) {
      if (!(mask & (1 << i))) continue;
      const v = rhs[r++]!;
      if (v < -1e-12) feasible = false;
      trial[i] = Math.max(0, v);
    }
    if (!feasible) continue;
    let value = 0;
    for (let i = 0; i < count; i++) {
      if (trial[i] === 0) continue;
      let qi = 0;
      for (let j = 0; j < count; j++) qi += Q[i * count + j]! * trial[j]!;
      value += trial[i]! * (0.5 * qi - a[i]!);
    }
    if (value < best) {
      best = value;
      for (let i = 0; i < count; i++) lambda[i] = trial[i]!;
    }
  }
}

/** Solves A x = b in place (x into b), w x w, partial pivoting; false when singular. */
function solveDense(A: Float64Array, b: Float64Array, w: number, unit: number): boolean {
  for (let c = 0; c < w; c++) {
    let pivot = c;
    for (let r = c + 1; r < w; r++) if (Math.abs(A[r * w + c]!) > Math.abs(A[pivot * w + c]!)) pivot = r;
    if (!(Math.abs(A[pivot * w + c]!) > 1e-13 * unit)) return false;
    if (pivot !== c) {
      for (let k = c; k < w; k++) {
        const t = A[c * w + k]!;
        A[c * w + k] = A[pivot * w + k]!;
        A[pivot * w + k] = t;
      }
      const t = b[c]!;
      b[c] = b[pivot]!;
      b[pivot] = t;
    }
    const p = A[c * w + c]!;
    for (let r = c + 1; r < w; r++) {
      const f = A[r * w + c]! / p;
      if (f === 0) continue;
      for (let k = c; k < w; k++) A[r * w + k]! -= f * A[c * w + k]!;
      b[r]! -= f * b[c]!;
    }
  }
  for (let r = w - 1; r >= 0; r--) {
    let v = b[r]!;
    for (let k = r + 1; k < w; k++) v -= A[r * w + k]! * b[k]!;
    b[r] = v / A[r * w + r]!;
  }
  return true;
}

function dot(a: Float64Array, ia: number, b: Float64Array, ib: number, m: number): number {
  let v = 0;
  for (let k = 0; k < m; k++) v += a[ia + k]! * b[ib + k]!;
  return v;
}

export function createProjectedBfgs(method: QuasiNewtonOptions = {}): Optimizer {
  return {
    name: PROJECTED_BFGS_NAME,
    async minimize(problem: BoundedProblem, options: OptimizerOptions = {}): Promise<OptimizerResult> {
      const ctx = new SolveContext(problem, options, PROJECTED_BFGS_NAME, quasiNewtonRows);
      if (ctx.free === 0) return solveFixed(ctx);
      if (!ctx.hasGradient) {
        const outcome = await runQuasiNewton(ctx, ctx.z0, options, method);
        return {
          ...ctx.result(outcome.converged, outcome.stop, outcome.message),
          algorithm: QUASI_NEWTON_NAME,
        };
      }
      const outcome = await runProjectedBfgs(ctx, ctx.z0, options, method);
      if (outcome.message === INFEASIBLE_START && !outcome.stop) {
        // Finite differences probe the box for a finite cost; then this method polishes from there.
        const probe = await runQuasiNewton(ctx, ctx.z0, options, method);
        return { ...ctx.result(probe.converged, probe.stop, probe.message), algorithm: QUASI_NEWTON_NAME };
      }
      return {
        ...ctx.result(outcome.converged, outcome.stop, outcome.message),
        algorithm: PROJECTED_BFGS_NAME,
      };
    },
  };
}
