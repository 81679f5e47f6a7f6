import { OptimizerError } from '../errors.ts';
import {
  clamp01,
  mulberry32,
  type PhaseOutcome,
  SolveContext,
  type StopReason,
  solveFixed,
} from './problem.ts';
import type { BoundedProblem, Optimizer, OptimizerOptions, OptimizerResult } from './types.ts';

/**
 * `SLSQP`: a bounded quasi-Newton method (projected BFGS on the box, in the spirit of
 * L-BFGS-B and Bertsekas' projected Newton), with every cost evaluation in batches.
 *
 * It keeps the predecessor's name so that its strategies keep working; with bounds only
 * (no general constraints), this is what SLSQP reduces to, minus SLSQP's failure modes
 * ("Inequality constraints incompatible" on noisy gradients).
 *
 * Per iteration:
 * 1. Variables at a bound whose gradient points out of the box are frozen; the others
 *    move along d = -H g (H: BFGS inverse Hessian in normalised variables).
 * 2. One batch holds every trial step length along the projected path P(z + a d) and,
 *    speculatively, the finite-difference rows around the full step a = 1, around the step
 *    length accepted in the previous iteration, and around further trial steps while the
 *    batch stays within SPEC_ROWS rows. When the step taken is one of those (the usual
 *    case) its gradient is already known, so an iteration costs one batch; otherwise a
 *    second batch computes the gradient.
 * 3. The step taken is the full step if it satisfies Armijo and gives at least 90 % of the
 *    best decrease; else the best trial that satisfies Armijo; else the best trial that
 *    lowers the cost at all (cost functions here have kinks and steps).
 *
 * Gradients: forward differences with a step of `diffStep` times each variable's box width
 * (flipped inward at a bound, divided by the realised step), one batch of n + 1 rows
 * including the centre point (so that the differences come from one network run). When
 * progress stalls, the method switches for good to fourth-order differences
 * (4 rows per variable, one-sided near a bound) at the same step: still one batch, exact
 * for quartic costs, and never a step near float32 resolution.
 */
export const SLSQP_NAME = 'SLSQP';

export interface SlsqpOptions {
  /**
   * Finite-difference step as a fraction of each variable's box width. Default 1e-3:
   * large against float32 resolution of network inputs, small against the box.
   */
  diffStep?: number;
  /**
   * Converged when no component of the projected gradient step P(z - g) - z (normalised
   * variables, g in cost per box width) exceeds gtol * max(|f|, 1). Default 1e-5.
   */
  gtol?: number;
  /**
   * Converged when the cost fell by less than stallTol * max(|f_old|, |f_new|, 1) in each of
   * the last 2 iterations: on kinked costs the projected gradient never vanishes and the
   * last iterations creep along a kink. Default 1e-6 (1e-4 cost units at |f| = 100).
   */
  stallTol?: number;
}

/** Defaults when `OptimizerOptions` leave them out. */
export const SLSQP_DEFAULTS = {
  /** Iterations (accepted steps). */
  maxiter: 100,
  /** Relative decrease per iteration, against max(|f_old|, |f_new|, 1), below which it stops. */
  ftol: 1e-8,
  /** Step, as a fraction of every box width, below which it stops. */
  xtol: 1e-9,
  diffStep: 1e-3,
  gtol: 1e-5,
  stallTol: 1e-6,
  /** Only used to probe the box when the start point's cost is not finite. */
  seed: 1,
} as const;

/** Consecutive iterations below `stallTol` that end the solve. */
const STALL_ITERATIONS = 2;
/**
 * Rows a speculative line-search batch may grow to with extra gradient stencils (a batch
 * costs about the same up to a few tens of rows, so a second stencil is nearly free).
 */
const SPEC_ROWS = 64;
/** Armijo sufficient-decrease constant. */
const ARMIJO = 1e-4;
/** Trial step lengths along the projected path, with and without curvature (BFGS) information. */
const QUASI_NEWTON_STEPS = [1, 0.5, 0.25, 0.1, 0.03, 0.01, 0.001];
/**
 * Without curvature, d is scaled to move the furthest variable across the whole box at
 * a = 1; rows are nearly free, so the trials span six decades.
 */
const STEEPEST_STEPS = [1, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6];
/** Gradient sampling moves along a direction scaled to a whole box width at a = 1. */
const SAMPLING_STEPS = STEEPEST_STEPS;
const MAX_TRIALS = Math.max(QUASI_NEWTON_STEPS.length, STEEPEST_STEPS.length);

type GradientMode = 'forward' | 'fourth-order';

/** Rows the SLSQP batches need for `m` free variables. */
export function slsqpRows(m: number): number {
  return Math.max(SPEC_ROWS, 4 * m + MAX_TRIALS, (m + 2) * (m + 1), SAMPLING_STEPS.length);
}

/**
 * Runs the method on an existing context from `zStart` (normalised, length ctx.free);
 * counts go to the context. The context must have been made for `slsqpRows(ctx.free)` rows.
 */
export async function runSlsqp(
  ctx: SolveContext,
  zStart: Float64Array,
  options: OptimizerOptions,
  slsqp: SlsqpOptions = {},
  first = true,
): Promise<PhaseOutcome> {
  const m = ctx.free;
  const maxiter = options.maxiter ?? SLSQP_DEFAULTS.maxiter;
  const ftol = options.ftol ?? SLSQP_DEFAULTS.ftol;
  const xtol = options.xtol ?? SLSQP_DEFAULTS.xtol;
  const h = slsqp.diffStep ?? SLSQP_DEFAULTS.diffStep;
  const gtol = slsqp.gtol ?? SLSQP_DEFAULTS.gtol;
  const stallTol = slsqp.stallTol ?? SLSQP_DEFAULTS.stallTol;
  if (!(h > 0 && h <= 0.1)) {
    throw new OptimizerError(`optimizer '${SLSQP_NAME}': diffStep ${h} must be in (0, 0.1].`);
  }

  const rows = slsqpRows(m);
  const zb = new Float64Array(rows * m);
  const cb = new Float64Array(rows);
  const z = Float64Array.from(zStart);
  const g = new Float64Array(m);
  const gOld = new Float64Array(m);
  const d = new Float64Array(m);
  const s = new Float64Array(m);
  const y = new Float64Array(m);
  const hy = new Float64Array(m);
  const free = new Uint8Array(m);
  const unknown = new Uint8Array(m);
  const H = new Float64Array(m * m);
  const sampleZ = new Float64Array(m);
  const sampleG = new Float64Array(m);
  const G = new Float64Array((m + 2) * m);
  const lambda = new Float64Array(4 * (m + 2));
  const rng = mulberry32(options.seed ?? SLSQP_DEFAULTS.seed);
  const trialRow = new Int32Array(MAX_TRIALS);
  const spec = new Uint8Array(MAX_TRIALS);
  let lastSteps: readonly number[] | undefined;
  let lastStep = 0;
  let hasCurvature = false;
  let gsRadius = 50 * h;
  let mode: GradientMode = 'forward';
  let f = Number.POSITIVE_INFINITY;
  let isFirst = first;

  /** Writes the gradient rows around `zc` at row `at`; returns the number of rows. */
  const writeGradientRows = (zc: Float64Array, at: number): number => {
    let r = at;
    zb.set(zc, r * m);
    r++;
    for (let k = 0; k < m; k++) {
      const zk = zc[k]!;
      if (mode === 'forward') {
        zb.set(zc, r * m);
        zb[r * m + k] = zk + h <= 1 ? zk + h : zk - h;
        r++;
      } else {
        const centred = zk - 2 * h >= 0 && zk + 2 * h <= 1;
        const dir = zk + 4 * h <= 1 ? 1 : -1;
        for (let j = 1; j <= 4; j++) {
          zb.set(zc, r * m);
          // Centred: -2h, -h, +h, +2h. One-sided: h, 2h, 3h, 4h towards the inside.
          zb[r * m + k] = centred ? zk + (j <= 2 ? j - 3 : j - 2) * h : zk + dir * j * h;
          r++;
        }
      }
    }
    return r - at;
  };

  /** Reads the gradient from rows written by `writeGradientRows` at row `at`. */
  const readGradient = (at: number, out: Float64Array): void => {
    const f0 = cb[at]!;
    const zc = at * m;
    for (let k = 0; k < m; k++) {
      unknown[k] = 0;
      let gk = Number.NaN;
      if (mode === 'forward') {
        const r = at + 1 + k;
        const step = zb[r * m + k]! - zb[zc + k]!;
        gk = (cb[r]! - f0) / step;
      } else {
        const r = at + 1 + 4 * k;
        const zk = zb[zc + k]!;
        const step = zb[(r + 2) * m + k]! - zk; // +h (centred) or 3h·dir (one-sided)
        const f1 = cb[r]!;
        const f2 = cb[r + 1]!;
        const f3 = cb[r + 2]!;
        const f4 = cb[r + 3]!;
        if (zb[r * m + k]! < zk && zb[(r + 3) * m + k]! > zk) {
          gk = (f1 - 8 * f2 + 8 * f3 - f4) / (12 * step);
          if (!Number.isFinite(gk)) {
            // An infeasible neighbour: use the other side's slope unless it points to the
            // infeasible side (then the variable is held, like at a bound).
            gk = Number.isFinite(f3) ? (f3 - f0) / step : (f0 - f2) / step;
            if (!Number.isFinite(f3) && gk < 0) gk = Number.NaN;
            if (!Number.isFinite(f2) && gk > 0) gk = Number.NaN;
          }
        } else {
          const hh = step / 3;
          gk = (-25 * f0 + 48 * f1 - 36 * f2 + 16 * f3 - 3 * f4) / (12 * hh);
          if (!Number.isFinite(gk)) gk = (f1 - f0) / hh;
        }
      }
      if (Number.isFinite(gk)) {
        out[k] = gk;
      } else {
        out[k] = 0;
        unknown[k] = 1;
      }
    }
  };

  /** Evaluates a gradient batch at `z`; false when a budget stops the solve. */
  let stop: StopReason;
  const gradientAt = async (): Promise<boolean> => {
    const count = writeGradientRows(z, 0);
    if (!isFirst) {
      stop = ctx.stopReason(count);
      if (stop) return false;
    }
    isFirst = false;
    await ctx.evaluate(zb, count, cb);
    if (Number.isFinite(cb[0]!) || !Number.isFinite(f)) f = cb[0]!;
    readGradient(0, g);
    return true;
  };

  /**
   * Gradient sampling (Burke, Lewis & Overton, 2005) for a point where no step along the
   * gradient lowers the cost, as on a kink: forward-difference gradients at m + 1 random
   * points within `radius` (one batch), the shortest vector in their convex hull (with the
   * gradient at z) as the descent direction, then one line-search batch. The radius
   * shrinks from 10·diffStep·5 to diffStep; below that z is taken as stationary.
   */
  const gradientSampling = async (): Promise<'moved' | 'stationary' | 'stopped'> => {
    const samples = m + 1;
    const groups = samples + 1;
    const saved = mode;
    for (; gsRadius >= h; gsRadius /= 5) {
      // Group 0: the gradient at z; then one group per sample, m + 1 rows each.
      mode = 'forward';
      writeGradientRows(z, 0);
      for (let c = 1; c <= samples; c++) {
        for (let k = 0; k < m; k++) {
          sampleZ[k] = free[k] ? clamp01(z[k]! + gsRadius * (2 * rng() - 1)) : z[k]!;
        }
        writeGradientRows(sampleZ, c * (m + 1));
      }
      mode = saved;
      const count = groups * (m + 1);
      stop = ctx.stopReason(count);
      if (stop) return 'stopped';
      await ctx.evaluate(zb, count, cb);
      mode = 'forward';
      readGradient(0, g);
      // Variables at a bound that the gradient at z pushes out stay there.
      let pgNorm = 0;
      for (let k = 0; k < m; k++) {
        free[k] = unknown[k] || (z[k]! <= 0 && g[k]! > 0) || (z[k]! >= 1 && g[k]! < 0) ? 0 : 1;
        pgNorm = Math.max(pgNorm, Math.abs(clamp01(z[k]! - g[k]!) - z[k]!));
      }
      if (pgNorm <= gtol * Math.max(Math.abs(f), 1)) {
        mode = saved;
        return 'stationary';
      }
      // The gradient at z is left out of the hull: z usually sits right on the kink, where
      // forward differences mix one-sided slopes into a vector that is no gradient at all.
      let used = 0;
      for (let c = 1; c <= samples; c++) {
        readGradient(c * (m + 1), sampleG);
        const source = sampleG;
        let ok = Number.isFinite(cb[c * (m + 1)]!);
        for (let k = 0; k < m; k++) if (unknown[k]) ok = false;
        if (!ok) continue;
        for (let k = 0; k < m; k++) G[used * m + k] = free[k] ? source[k]! : 0;
        used++;
      }
      mode = saved;
      unknown.fill(0);
      if (used === 0) continue;
      minNormDirection(G, used, m, lambda, groups, d);
      let dmax = 0;
      for (let k = 0; k < m; k++) dmax = Math.max(dmax, Math.abs(d[k]!));
      if (!(dmax > gtol * Math.max(Math.abs(f), 1))) continue;
      for (let k = 0; k < m; k++) d[k] = -d[k]! / dmax;
      // Line search along the projected path, one batch.
      for (let t = 0; t < SAMPLING_STEPS.length; t++) {
        for (let k = 0; k < m; k++) zb[t * m + k] = clamp01(z[k]! + SAMPLING_STEPS[t]! * d[k]!);
      }
      stop = ctx.stopReason(SAMPLING_STEPS.length);
      if (stop) return 'stopped';
      await ctx.evaluate(zb, SAMPLING_STEPS.length, cb);
      let best = -1;
      for (let t = 0; t < SAMPLING_STEPS.length; t++) {
        if (cb[t]! < (best < 0 ? f : cb[best]!)) best = t;
      }
      if (best < 0) continue;
      for (let k = 0; k < m; k++) z[k] = zb[best * m + k]!;
      f = cb[best]!;
      ctx.iterations++;
      return 'moved';
    }
    return 'stationary';
  };

  const resetCurvature = (): void => {
    hasCurvature = false;
    H.fill(0);
  };

  const done = (converged: boolean, message: string): PhaseOutcome => ({
    converged,
    stop,
    message,
  });

  if (!(await gradientAt())) return done(false, '');
  if (!Number.isFinite(f)) {
    // The start point is infeasible: probe the box (its centre and seeded random points).
    for (let k = 0; k < m; k++) zb[k] = 0.5;
    for (let i = m; i < rows * m; i++) zb[i] = rng();
    stop = ctx.stopReason(rows);
    if (stop) return done(false, '');
    await ctx.evaluate(zb, rows, cb);
    ctx.assertFinite();
    z.set(ctx.bestZ);
    f = Number.POSITIVE_INFINITY;
    if (!(await gradientAt())) return done(false, '');
  }

  let stalls = 0;
  let smallSteps = 0;
  for (;;) {
    // Projected-gradient test and the free set.
    let pgNorm = 0;
    let nFree = 0;
    for (let k = 0; k < m; k++) {
      const zk = z[k]!;
      const gk = g[k]!;
      const pushedOut = (zk <= 0 && gk > 0) || (zk >= 1 && gk < 0);
      free[k] = pushedOut || unknown[k] ? 0 : 1;
      if (free[k]) nFree++;
      const pg = Math.abs(clamp01(zk - gk) - zk);
      if (pg > pgNorm) pgNorm = pg;
    }
    if (pgNorm <= gtol * Math.max(Math.abs(f), 1)) {
      if (mode === 'fourth-order' || nFree === 0) {
        return done(true, `Converged: projected gradient ${pgNorm.toExponential(2)} is below gtol.`);
      }
      mode = 'fourth-order';
      if (!(await gradientAt())) return done(false, '');
      continue;
    }
    if (ctx.iterations >= maxiter) {
      return done(false, `Stopped at maxiter (${maxiter}) iterations without meeting a convergence test.`);
    }

    // Direction: d_F = -H_FF g_F (or scaled steepest descent without curvature).
    let slope = 0;
    if (hasCurvature) {
      for (let i = 0; i < m; i++) {
        let di = 0;
        if (free[i]) {
          for (let j = 0; j < m; j++) if (free[j]) di -= H[i * m + j]! * g[j]!;
        }
        d[i] = di;
        slope += di * g[i]!;
      }
      if (!(slope < 0)) resetCurvature();
    }
    if (!hasCurvature) {
      let gmax = 0;
      for (let k = 0; k < m; k++) if (free[k]) gmax = Math.max(gmax, Math.abs(g[k]!));
      for (let k = 0; k < m; k++) d[k] = free[k] && gmax > 0 ? -g[k]! / gmax : 0;
    }

    // One batch: the full step with its gradient rows, the step length accepted last time
    // (same table) with its gradient rows too, then the other trial steps.
    const steps = hasCurvature ? QUASI_NEWTON_STEPS : STEEPEST_STEPS;
    // Speculative gradient stencils: the full step, the step length accepted last time (when
    // the same step table was used), then the longer trial steps, while the batch stays
    // within SPEC_ROWS rows. The gradient of the chosen step is then usually in the batch.
    const stencil = mode === 'forward' ? m + 1 : 4 * m + 1;
    spec.fill(0);
    let nSpec = 0;
    const order: number[] = [0];
    if (lastSteps === steps && lastStep > 0) {
      const i = steps.indexOf(lastStep);
      if (i > 0) order.push(i);
    }
    for (let t = 1; t < steps.length; t++) if (!order.includes(t)) order.push(t);
    let count = 0;
    for (const t of order) {
      if (nSpec > 0 && (nSpec + 1) * stencil + steps.length - nSpec - 1 > SPEC_ROWS) break;
      spec[t] = 1;
      nSpec++;
      for (let k = 0; k < m; k++) s[k] = clamp01(z[k]! + steps[t]! * d[k]!);
      trialRow[t] = count;
      count += writeGradientRows(s, count);
    }
    for (let t = 1; t < steps.length; t++) {
      if (spec[t]) continue;
      const row = count * m;
      for (let k = 0; k < m; k++) zb[row + k] = clamp01(z[k]! + steps[t]! * d[k]!);
      trialRow[t] = count;
      count++;
    }
    stop = ctx.stopReason(count);
    if (stop) return done(false, '');
    await ctx.evaluate(zb, count, cb);

    // Choose the step.
    let chosenT = -1;
    let chosenCost = f;
    let armijoFound = false;
    for (let t = 0; t < steps.length; t++) {
      const row = trialRow[t]!;
      const ft = cb[row]!;
      let decrease = 0;
      for (let k = 0; k < m; k++) decrease += g[k]! * (zb[row * m + k]! - z[k]!);
      const armijo = ft <= f + ARMIJO * decrease && ft < f;
      if (armijo && (!armijoFound || ft < chosenCost)) {
        chosenT = t;
        chosenCost = ft;
        armijoFound = true;
      } else if (!armijoFound && ft < chosenCost) {
        chosenT = t;
        chosenCost = ft;
      }
    }
    const fullCost = cb[0]!;
    if (chosenT > 0 && fullCost < f && f - fullCost >= 0.9 * (f - chosenCost)) {
      let fullArmijo = 0;
      for (let k = 0; k < m; k++) fullArmijo += g[k]! * (zb[k]! - z[k]!);
      if (fullCost <= f + ARMIJO * fullArmijo) {
        chosenT = 0;
        chosenCost = fullCost;
      }
    }
    const chosen = chosenT < 0 ? -1 : trialRow[chosenT]!;
    lastSteps = steps;
    lastStep = chosenT < 0 ? 0 : steps[chosenT]!;

    if (chosen < 0) {
      // No trial lowered the cost.
      stalls++;
      if (mode === 'forward') {
        mode = 'fourth-order';
        if (!(await gradientAt())) return done(false, '');
        continue;
      }
      if (hasCurvature && stalls < 3) {
        resetCurvature();
        continue;
      }
      // Steepest descent fails too: a kink. Gradient sampling finds descent directions
      // there; it goes on until it finds none (2 batches per iteration).
      for (;;) {
        const fBefore = f;
        const sampled = await gradientSampling();
        if (sampled === 'stopped') return done(false, '');
        if (sampled === 'stationary') {
          return done(
            true,
            'Converged: neither the gradient nor gradients sampled around the point give a lower cost (a kink, a bound or the noise floor of the cost).',
          );
        }
        const relDecrease = (fBefore - f) / Math.max(Math.abs(fBefore), Math.abs(f), 1);
        if (relDecrease <= ftol) {
          return done(
            true,
            `Converged: relative cost decrease ${relDecrease.toExponential(2)} is below ftol.`,
          );
        }
        if (ctx.iterations >= maxiter) {
          return done(
            false,
            `Stopped at maxiter (${maxiter}) iterations without meeting a convergence test.`,
          );
        }
      }
    }
    stalls = 0;

    // Take the step; its gradient is in the batch when it is the full step.
    const fOld = f;
    let stepMax = 0;
    for (let k = 0; k < m; k++) {
      const zn = zb[chosen * m + k]!;
      s[k] = zn - z[k]!;
      stepMax = Math.max(stepMax, Math.abs(s[k]!));
      z[k] = zn;
    }
    ctx.iterations++;
    gOld.set(g);
    f = chosenCost;
    if (chosenT >= 0 && spec[chosenT]) {
      readGradient(chosen, g);
    } else if (!(await gradientAt())) {
      return done(false, '');
    }
    // y = g - gOld, BFGS update of the inverse Hessian when the curvature is positive.
    let sy = 0;
    let yy = 0;
    let ss = 0;
    let anyUnknown = false;
    for (let k = 0; k < m; k++) {
      y[k] = g[k]! - gOld[k]!;
      sy += s[k]! * y[k]!;
      yy += y[k]! * y[k]!;
      ss += s[k]! * s[k]!;
      if (unknown[k]) anyUnknown = true;
    }
    if (!anyUnknown && sy > 1e-10 * Math.sqrt(ss * yy) && Number.isFinite(sy) && yy > 0) {
      if (!hasCurvature) {
        H.fill(0);
        const gamma = sy / yy;
        for (let k = 0; k < m; k++) H[k * m + k] = gamma;
        hasCurvature = true;
      }
      bfgsUpdate(H, m, s, y, sy, hy);
    }

    const relDecrease = (fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1);
    smallSteps = relDecrease < stallTol ? smallSteps + 1 : 0;
    if (smallSteps >= STALL_ITERATIONS) {
      return done(
        true,
        `Converged: the cost fell by less than ${stallTol} (relative) in each of the last ${STALL_ITERATIONS} iterations.`,
      );
    }
    if (relDecrease <= ftol || stepMax <= xtol) {
      if (mode === 'fourth-order') {
        return done(
          true,
          relDecrease <= ftol
            ? `Converged: relative cost decrease ${relDecrease.toExponential(2)} is below ftol.`
            : `Converged: step ${stepMax.toExponential(2)} (fraction of box width) is below xtol.`,
        );
      }
      mode = 'fourth-order';
      if (!(await gradientAt())) return done(false, '');
    } else if (mode === 'forward' && stepMax < 10 * h) {
      // Steps this short meet the forward-difference bias (about h times the curvature).
      mode = 'fourth-order';
      if (!(await gradientAt())) return done(false, '');
    }
  }
}

/**
 * The shortest vector in the convex hull of the `count` rows of `G` (m values each), by
 * accelerated projected gradient on the simplex of weights; written to `out`.
 * `scratch` holds 4 * `capacity` values.
 */
function minNormDirection(
  G: Float64Array,
  count: number,
  m: number,
  scratch: Float64Array,
  capacity: number,
  out: Float64Array,
): void {
  const lambda = scratch.subarray(0, capacity);
  const prev = scratch.subarray(capacity, 2 * capacity);
  const yv = scratch.subarray(2 * capacity, 3 * capacity);
  const sorted = scratch.subarray(3 * capacity, 4 * capacity);
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
  for (let iter = 0; iter < 400; iter++) {
    const tNext = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    const beta = (t - 1) / tNext;
    t = tNext;
    for (let i = 0; i < count; i++) yv[i] = lambda[i]! + beta * (lambda[i]! - prev[i]!);
    prev.set(lambda);
    // v = G' y; gradient_i = 2 G_i . v
    for (let k = 0; k < m; k++) {
      let v = 0;
      for (let i = 0; i < count; i++) v += yv[i]! * G[i * m + k]!;
      out[k] = v;
    }
    for (let i = 0; i < count; i++) {
      let gi = 0;
      for (let k = 0; k < m; k++) gi += G[i * m + k]! * out[k]!;
      lambda[i] = yv[i]! - (2 * gi) / L;
    }
    projectSimplex(lambda, count, sorted);
  }
  for (let k = 0; k < m; k++) {
    let v = 0;
    for (let i = 0; i < count; i++) v += lambda[i]! * G[i * m + k]!;
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

/** H <- (I - r s y') H (I - r y s') + r s s', r = 1 / (s'y); `hy` is scratch. */
function bfgsUpdate(
  H: Float64Array,
  m: number,
  s: Float64Array,
  y: Float64Array,
  sy: number,
  hy: Float64Array,
): void {
  const r = 1 / sy;
  let yHy = 0;
  for (let i = 0; i < m; i++) {
    let v = 0;
    for (let j = 0; j < m; j++) v += H[i * m + j]! * y[j]!;
    hy[i] = v;
    yHy += y[i]! * v;
  }
  const c = (1 + r * yHy) * r;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      H[i * m + j] = H[i * m + j]! + c * s[i]! * s[j]! - r * (hy[i]! * s[j]! + s[i]! * hy[j]!);
    }
  }
}

export function createSlsqp(slsqp: SlsqpOptions = {}): Optimizer {
  return {
    name: SLSQP_NAME,
    async minimize(problem: BoundedProblem, options: OptimizerOptions = {}): Promise<OptimizerResult> {
      const ctx = new SolveContext(problem, options, SLSQP_NAME, slsqpRows);
      if (ctx.free === 0) return solveFixed(ctx);
      const outcome = await runSlsqp(ctx, ctx.z0, options, slsqp);
      return ctx.result(outcome.converged, outcome.stop, outcome.message);
    },
  };
}
