import { mulberry32 } from '@po/core';
import { OptimizerError } from '../errors.ts';
import { FiniteDifferences } from './finite-differences.ts';
import { GradientSampling, type Iterate } from './gradient-sampling.ts';
import { clamp01, type PhaseOutcome, SolveContext, type StopReason, solveFixed } from './problem.ts';
import type { BoundedProblem, Optimizer, OptimizerOptions, OptimizerResult } from './types.ts';

/**
 * `projected-quasi-newton`: a bounded quasi-Newton method (projected BFGS on the box, in the
 * spirit of L-BFGS-B and Bertsekas' projected Newton) with gradient sampling on kinks, every
 * cost evaluation in batches. Strategies written for the predecessor name it `SLSQP` or
 * `L-BFGS-B` (accepted aliases): with bounds only (no general constraints) this is what SLSQP
 * reduces to, minus SLSQP's failure modes ("Inequality constraints incompatible" on noisy
 * gradients).
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
 * Gradients (finite-differences.ts): forward differences with a step of `diffStep` times each
 * variable's box width, one batch of n + 1 rows including the centre point (so that the
 * differences come from one network run). When progress stalls, the method switches for good
 * to fourth-order differences at the same step. When neither the gradient nor steepest descent
 * finds a lower cost (a kink), gradient sampling (gradient-sampling.ts) takes over until it
 * finds no descent either.
 */
export const QUASI_NEWTON_NAME = 'projected-quasi-newton';

export interface QuasiNewtonOptions {
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
export const QUASI_NEWTON_DEFAULTS = {
  /** Iterations (accepted steps). */
  maxiter: 100,
  /** Relative decrease per iteration, against max(|f_old|, |f_new|, 1), below which it stops. */
  ftol: 1e-8,
  /** Step, as a fraction of every box width, below which it stops. */
  xtol: 1e-9,
  diffStep: 1e-3,
  gtol: 1e-5,
  stallTol: 1e-6,
  /** Only used to probe the box when the start point's cost is not finite, and for gradient sampling. */
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
/** Trial step lengths along the projected path, with curvature (BFGS) information. */
const QUASI_NEWTON_STEPS = [1, 0.5, 0.25, 0.1, 0.03, 0.01, 0.001];
/**
 * Without curvature, d is scaled to move the furthest variable across the whole box at
 * a = 1; rows are nearly free, so the trials span six decades.
 */
const STEEPEST_STEPS = [1, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6];
const MAX_TRIALS = Math.max(QUASI_NEWTON_STEPS.length, STEEPEST_STEPS.length);

/** Rows the method's batches need for `m` free variables. */
export function quasiNewtonRows(m: number): number {
  return Math.max(SPEC_ROWS, 4 * m + MAX_TRIALS, GradientSampling.rows(m));
}

const maxiterMessage = (maxiter: number) =>
  `Stopped at maxiter (${maxiter}) iterations without meeting a convergence test.`;

/**
 * Runs the method on an existing context from `zStart` (normalised, length ctx.free);
 * counts go to the context. The context must have been made for `quasiNewtonRows(ctx.free)` rows.
 */
export async function runQuasiNewton(
  ctx: SolveContext,
  zStart: Float64Array,
  options: OptimizerOptions,
  method: QuasiNewtonOptions = {},
  first = true,
): Promise<PhaseOutcome> {
  return new QuasiNewtonRun(ctx, zStart, options, method, first).run();
}

/** The state of one run; each step of an iteration is one method. */
class QuasiNewtonRun implements Iterate {
  readonly m: number;
  readonly z: Float64Array;
  readonly g: Float64Array;
  readonly free: Uint8Array;
  f = Number.POSITIVE_INFINITY;
  stop: StopReason;

  private readonly maxiter: number;
  private readonly ftol: number;
  private readonly xtol: number;
  private readonly gtol: number;
  private readonly stallTol: number;
  private readonly rows: number;
  /** The batch: normalised points and their costs. */
  private readonly zb: Float64Array;
  private readonly cb: Float64Array;
  private readonly fd: FiniteDifferences;
  /** Made when a kink calls for it (most solves never need it). */
  private sampling: GradientSampling | undefined;
  private readonly rng: () => number;
  private readonly gOld: Float64Array;
  private readonly d: Float64Array;
  private readonly s: Float64Array;
  private readonly y: Float64Array;
  private readonly hy: Float64Array;
  /** BFGS inverse Hessian (m × m), valid when `hasCurvature`. */
  private readonly H: Float64Array;
  /** Per trial step: its row in the batch, and whether its gradient stencil is there too. */
  private readonly trialRow: Int32Array;
  private readonly spec: Uint8Array;
  private hasCurvature = false;
  private lastSteps: readonly number[] | undefined;
  private lastStep = 0;
  private isFirst: boolean;
  private nFree = 0;
  private chosenCost = 0;
  private stalls = 0;
  private smallSteps = 0;

  constructor(
    private readonly ctx: SolveContext,
    zStart: Float64Array,
    options: OptimizerOptions,
    method: QuasiNewtonOptions,
    first: boolean,
  ) {
    const m = ctx.free;
    const h = method.diffStep ?? QUASI_NEWTON_DEFAULTS.diffStep;
    if (!(h > 0 && h <= 0.1)) {
      throw new OptimizerError(`optimizer '${QUASI_NEWTON_NAME}': diffStep ${h} must be in (0, 0.1].`);
    }
    this.m = m;
    this.maxiter = options.maxiter ?? QUASI_NEWTON_DEFAULTS.maxiter;
    this.ftol = options.ftol ?? QUASI_NEWTON_DEFAULTS.ftol;
    this.xtol = options.xtol ?? QUASI_NEWTON_DEFAULTS.xtol;
    this.gtol = method.gtol ?? QUASI_NEWTON_DEFAULTS.gtol;
    this.stallTol = method.stallTol ?? QUASI_NEWTON_DEFAULTS.stallTol;
    this.rows = quasiNewtonRows(m);
    this.zb = new Float64Array(this.rows * m);
    this.cb = new Float64Array(this.rows);
    this.z = Float64Array.from(zStart);
    this.g = new Float64Array(m);
    this.free = new Uint8Array(m);
    this.gOld = new Float64Array(m);
    this.d = new Float64Array(m);
    this.s = new Float64Array(m);
    this.y = new Float64Array(m);
    this.hy = new Float64Array(m);
    this.H = new Float64Array(m * m);
    this.trialRow = new Int32Array(MAX_TRIALS);
    this.spec = new Uint8Array(MAX_TRIALS);
    this.rng = mulberry32(options.seed ?? QUASI_NEWTON_DEFAULTS.seed);
    this.fd = new FiniteDifferences(m, h, this.zb, this.cb);
    this.isFirst = first;
  }

  async run(): Promise<PhaseOutcome> {
    const { ctx, zb, cb } = this;
    if (!(await this.gradientAt())) return this.done(false, '');
    if (!Number.isFinite(this.f) && !(await this.restartInBox())) return this.done(false, '');
    for (;;) {
      const pgNorm = this.updateFreeSet();
      if (pgNorm <= this.gtol * Math.max(Math.abs(this.f), 1)) {
        if (this.fd.mode === 'fourth-order' || this.nFree === 0) {
          return this.done(true, `Converged: projected gradient ${pgNorm.toExponential(2)} is below gtol.`);
        }
        if (!(await this.refineGradient())) return this.done(false, '');
        continue;
      }
      if (ctx.iterations >= this.maxiter) return this.done(false, maxiterMessage(this.maxiter));
      this.updateDirection();
      const steps = this.hasCurvature ? QUASI_NEWTON_STEPS : STEEPEST_STEPS;
      const count = this.writeLineSearch(steps);
      this.stop = ctx.stopReason(count);
      if (this.stop) return this.done(false, '');
      await ctx.evaluate(zb, count, cb);
      const chosenT = this.chooseStep(steps);
      this.lastSteps = steps;
      this.lastStep = chosenT < 0 ? 0 : steps[chosenT]!;
      if (chosenT < 0) {
        // No trial lowered the cost.
        this.stalls++;
        if (this.fd.mode === 'forward') {
          if (!(await this.refineGradient())) return this.done(false, '');
          continue;
        }
        if (this.hasCurvature && this.stalls < 3) {
          this.resetCurvature();
          continue;
        }
        // Steepest descent fails too: a kink.
        return this.sampleUntilStationary();
      }
      this.stalls = 0;
      const fOld = this.f;
      const stepMax = this.takeStep(chosenT);
      // The step's gradient is in the batch when a stencil was written for it.
      if (!this.spec[chosenT] && !(await this.gradientAt())) return this.done(false, '');
      this.updateCurvature();
      const next = this.afterStep(fOld, stepMax);
      if (next === 'refine') {
        if (!(await this.refineGradient())) return this.done(false, '');
      } else if (next) {
        return next;
      }
    }
  }

  private done(converged: boolean, message: string): PhaseOutcome {
    return { converged, stop: this.stop, message };
  }

  /** Evaluates a gradient batch at `z`; false when a budget stops the solve. */
  private async gradientAt(): Promise<boolean> {
    const count = this.fd.write(this.z, 0);
    if (!this.isFirst) {
      this.stop = this.ctx.stopReason(count);
      if (this.stop) return false;
    }
    this.isFirst = false;
    await this.ctx.evaluate(this.zb, count, this.cb);
    if (Number.isFinite(this.cb[0]!) || !Number.isFinite(this.f)) this.f = this.cb[0]!;
    this.fd.read(0, this.g);
    return true;
  }

  /** Switches to fourth-order differences for good and recomputes the gradient. */
  private refineGradient(): Promise<boolean> {
    this.fd.mode = 'fourth-order';
    return this.gradientAt();
  }

  /** The start point is infeasible: probe the box (its centre and seeded random points), go to the best. */
  private async restartInBox(): Promise<boolean> {
    const { m, zb, rows } = this;
    for (let k = 0; k < m; k++) zb[k] = 0.5;
    for (let i = m; i < rows * m; i++) zb[i] = this.rng();
    this.stop = this.ctx.stopReason(rows);
    if (this.stop) return false;
    await this.ctx.evaluate(zb, rows, this.cb);
    this.ctx.assertFinite();
    this.z.set(this.ctx.bestZ);
    this.f = Number.POSITIVE_INFINITY;
    return this.gradientAt();
  }

  /** Frees every variable the gradient does not push out of the box; returns the projected-gradient norm. */
  private updateFreeSet(): number {
    const { z, g, free } = this;
    const unknown = this.fd.unknown;
    let pgNorm = 0;
    let nFree = 0;
    for (let k = 0; k < this.m; k++) {
      const zk = z[k]!;
      const gk = g[k]!;
      const pushedOut = (zk <= 0 && gk > 0) || (zk >= 1 && gk < 0);
      free[k] = pushedOut || unknown[k] ? 0 : 1;
      if (free[k]) nFree++;
      const pg = Math.abs(clamp01(zk - gk) - zk);
      if (pg > pgNorm) pgNorm = pg;
    }
    this.nFree = nFree;
    return pgNorm;
  }

  /** d_F = -H_FF g_F, or scaled steepest descent without (usable) curvature. */
  private updateDirection(): void {
    const { m, g, d, free, H } = this;
    if (this.hasCurvature) {
      let slope = 0;
      for (let i = 0; i < m; i++) {
        let di = 0;
        if (free[i]) {
          for (let j = 0; j < m; j++) if (free[j]) di -= H[i * m + j]! * g[j]!;
        }
        d[i] = di;
        slope += di * g[i]!;
      }
      if (!(slope < 0)) this.resetCurvature();
    }
    if (!this.hasCurvature) {
      let gmax = 0;
      for (let k = 0; k < m; k++) if (free[k]) gmax = Math.max(gmax, Math.abs(g[k]!));
      for (let k = 0; k < m; k++) d[k] = free[k] && gmax > 0 ? -g[k]! / gmax : 0;
    }
  }

  private resetCurvature(): void {
    this.hasCurvature = false;
    this.H.fill(0);
  }

  /**
   * Writes one batch: the trial steps along the projected path, with speculative gradient
   * stencils around the full step, the step length accepted last time (when the same step table
   * was used), then the longer trial steps, while the batch stays within SPEC_ROWS rows. The
   * gradient of the chosen step is then usually in the batch. Returns the rows.
   */
  private writeLineSearch(steps: readonly number[]): number {
    const { m, z, d, s, zb, spec, trialRow, fd } = this;
    const stencil = fd.stencilRows;
    spec.fill(0);
    let nSpec = 0;
    const order: number[] = [0];
    if (this.lastSteps === steps && this.lastStep > 0) {
      const i = steps.indexOf(this.lastStep);
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
      count += fd.write(s, count);
    }
    for (let t = 1; t < steps.length; t++) {
      if (spec[t]) continue;
      const row = count * m;
      for (let k = 0; k < m; k++) zb[row + k] = clamp01(z[k]! + steps[t]! * d[k]!);
      trialRow[t] = count;
      count++;
    }
    return count;
  }

  /**
   * The trial to take (index into `steps`, -1 when none lowers the cost; its cost goes to
   * `chosenCost`): the full step if it satisfies Armijo and gives at least 90 % of the best
   * decrease, else the best Armijo trial, else the best trial that lowers the cost at all.
   */
  private chooseStep(steps: readonly number[]): number {
    const { m, z, g, zb, cb, f, trialRow } = this;
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
    this.chosenCost = chosenCost;
    return chosenT;
  }

  /** Moves to trial `chosenT` (reading its gradient when it is in the batch); returns the largest step. */
  private takeStep(chosenT: number): number {
    const { m, z, s, zb } = this;
    const chosen = this.trialRow[chosenT]!;
    let stepMax = 0;
    for (let k = 0; k < m; k++) {
      const zn = zb[chosen * m + k]!;
      s[k] = zn - z[k]!;
      stepMax = Math.max(stepMax, Math.abs(s[k]!));
      z[k] = zn;
    }
    this.ctx.iterations++;
    this.gOld.set(this.g);
    this.f = this.chosenCost;
    if (this.spec[chosenT]) this.fd.read(chosen, this.g);
    return stepMax;
  }

  /** y = g - gOld; BFGS update of the inverse Hessian when the curvature is positive. */
  private updateCurvature(): void {
    const { m, s, y, g, gOld, H } = this;
    let sy = 0;
    let yy = 0;
    let ss = 0;
    let anyUnknown = false;
    for (let k = 0; k < m; k++) {
      y[k] = g[k]! - gOld[k]!;
      sy += s[k]! * y[k]!;
      yy += y[k]! * y[k]!;
      ss += s[k]! * s[k]!;
      if (this.fd.unknown[k]) anyUnknown = true;
    }
    if (!anyUnknown && sy > 1e-10 * Math.sqrt(ss * yy) && Number.isFinite(sy) && yy > 0) {
      if (!this.hasCurvature) {
        H.fill(0);
        const gamma = sy / yy;
        for (let k = 0; k < m; k++) H[k * m + k] = gamma;
        this.hasCurvature = true;
      }
      bfgsUpdate(H, m, s, y, sy, this.hy);
    }
  }

  /**
   * Convergence tests after a step: the run ends (the outcome), goes on with fourth-order
   * differences from here (`refine`), or goes on (undefined).
   */
  private afterStep(fOld: number, stepMax: number): PhaseOutcome | 'refine' | undefined {
    const f = this.f;
    const relDecrease = (fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1);
    this.smallSteps = relDecrease < this.stallTol ? this.smallSteps + 1 : 0;
    if (this.smallSteps >= STALL_ITERATIONS) {
      return this.done(
        true,
        `Converged: the cost fell by less than ${this.stallTol} (relative) in each of the last ${STALL_ITERATIONS} iterations.`,
      );
    }
    if (relDecrease <= this.ftol || stepMax <= this.xtol) {
      if (this.fd.mode === 'fourth-order') {
        return this.done(
          true,
          relDecrease <= this.ftol
            ? `Converged: relative cost decrease ${relDecrease.toExponential(2)} is below ftol.`
            : `Converged: step ${stepMax.toExponential(2)} (fraction of box width) is below xtol.`,
        );
      }
      return 'refine';
    }
    // Steps this short meet the forward-difference bias (about h times the curvature).
    return this.fd.mode === 'forward' && stepMax < 10 * this.fd.h ? 'refine' : undefined;
  }

  /** Gradient sampling until it finds no descent (2 batches per iteration); ends the run. */
  private async sampleUntilStationary(): Promise<PhaseOutcome> {
    for (;;) {
      const fBefore = this.f;
      this.sampling ??= new GradientSampling(this.ctx, this.fd, this.zb, this.cb, this.rng, this.gtol);
      const sampled = await this.sampling.step(this);
      if (sampled === 'stopped') return this.done(false, '');
      if (sampled === 'stationary') {
        return this.done(
          true,
          'Converged: neither the gradient nor gradients sampled around the point give a lower cost (a kink, a bound or the noise floor of the cost).',
        );
      }
      const relDecrease = (fBefore - this.f) / Math.max(Math.abs(fBefore), Math.abs(this.f), 1);
      if (relDecrease <= this.ftol) {
        return this.done(
          true,
          `Converged: relative cost decrease ${relDecrease.toExponential(2)} is below ftol.`,
        );
      }
      if (this.ctx.iterations >= this.maxiter) return this.done(false, maxiterMessage(this.maxiter));
    }
  }
}

/** H <- (I - r s y') H (I - r y s') + r s s', r = 1 / (s'y); `hy` is scratch. */
export function bfgsUpdate(
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

export function createQuasiNewton(method: QuasiNewtonOptions = {}): Optimizer {
  return {
    name: QUASI_NEWTON_NAME,
    async minimize(problem: BoundedProblem, options: OptimizerOptions = {}): Promise<OptimizerResult> {
      const ctx = new SolveContext(problem, options, QUASI_NEWTON_NAME, quasiNewtonRows);
      if (ctx.free === 0) return solveFixed(ctx);
      const outcome = await runQuasiNewton(ctx, ctx.z0, options, method);
      return ctx.result(outcome.converged, outcome.stop, outcome.message);
    },
  };
}
