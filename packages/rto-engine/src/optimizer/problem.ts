import { OptimizerError } from '../errors.ts';
import type { BoundedProblem, OptimizerOptions, OptimizerResult } from './types.ts';

/**
 * What every optimizer shares: validating the problem, mapping between the caller's
 * variables and the normalised free variables (`z` in [0,1], one per variable whose
 * bounds differ), the batch buffers, the budgets (time, abort, evaluations) and the
 * best point seen. One `SolveContext` per solve; nothing outlives it.
 */

/** Why a solve stopped early, or `undefined` while it may go on. */
export type StopReason = 'timedOut' | 'aborted' | 'evaluations' | undefined;

/** How one method's run on a context ended (`auto` chains two runs on one context). */
export interface PhaseOutcome {
  converged: boolean;
  stop: StopReason;
  message: string;
}

/** Throws `OptimizerError` for a malformed problem; returns nothing otherwise. */
export function validateProblem(problem: BoundedProblem, optimizer: string): void {
  const where = `optimizer '${optimizer}'`;
  const n = problem.dimension;
  if (!Number.isInteger(n) || n < 1) {
    throw new OptimizerError(
      `${where}: the problem has dimension ${n}; it needs at least one decision variable.`,
    );
  }
  for (const [label, array] of [
    ['lower', problem.lower],
    ['upper', problem.upper],
    ['x0', problem.x0],
  ] as const) {
    if (array === undefined || array.length !== n) {
      throw new OptimizerError(
        `${where}: '${label}' has ${array === undefined ? 'no' : array.length} values for ${n} decision variables; give one per variable.`,
      );
    }
  }
  for (let i = 0; i < n; i++) {
    const lo = problem.lower[i]!;
    const hi = problem.upper[i]!;
    if (Number.isNaN(problem.x0[i]!)) {
      throw new OptimizerError(`${where}: the start point x0 of variable ${i} is NaN; give a number.`);
    }
    if (Number.isNaN(lo) || Number.isNaN(hi)) {
      throw new OptimizerError(`${where}: the bounds of variable ${i} are NaN; give finite bounds.`);
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
      throw new OptimizerError(
        `${where}: the bounds of variable ${i} are infinite ([${lo}, ${hi}]); give finite bounds.`,
      );
    }
    if (lo > hi) {
      throw new OptimizerError(
        `${where}: the bounds of variable ${i} are inverted (lower ${lo} > upper ${hi}); swap them.`,
      );
    }
  }
}

/** The smaller of two optional limits. */
function minLimit(a: number | undefined, b: number): number {
  return a === undefined || !(a >= 0) ? b : Math.min(a, b);
}

export class SolveContext {
  /** Number of caller variables. */
  readonly dimension: number;
  /** Number of free (normalised) variables. */
  readonly free: number;
  /** Caller index of each free variable. */
  readonly freeIndex: Int32Array;
  /** Lower bound and width of each free variable (x = lower + z * width). */
  readonly offset: Float64Array;
  readonly width: Float64Array;
  /** The start point, clipped, in normalised free variables. */
  readonly z0: Float64Array;

  /** Best point seen (normalised) and its cost; `bestCost` is Infinity until a finite cost is seen. */
  readonly bestZ: Float64Array;
  bestCost = Number.POSITIVE_INFINITY;

  evaluations = 0;
  batches = 0;
  iterations = 0;

  private readonly problem: BoundedProblem;
  private readonly template: Float64Array;
  /** The batch buffer (caller space), made on the first batch: exact-gradient runs never need it. */
  private points: Float64Array | undefined;
  /** The rows it is made for. */
  private readonly rows: number;
  private readonly deadline: number;
  private readonly maxEvaluations: number;
  private readonly signal: AbortSignal | undefined;
  private readonly name: string;

  /** `rows(free)`: the largest batch the method will ask for, to preallocate the buffer. */
  constructor(
    problem: BoundedProblem,
    options: OptimizerOptions,
    name: string,
    rows: (free: number) => number,
  ) {
    validateProblem(problem, name);
    this.problem = problem;
    this.name = name;
    const n = problem.dimension;
    this.dimension = n;
    let free = 0;
    for (let i = 0; i < n; i++) if (problem.upper[i]! > problem.lower[i]!) free++;
    const pieces = problem.pieceGradients === undefined ? 0 : (problem.maxPieces ?? 0);
    const views = float64Views([n, free, free, free, free, n, n, n, n, pieces * n, 2]);
    [this.template, this.offset, this.width, this.z0, this.bestZ] = views;
    [, , , , , this.#x, this.#gUp, this.#gDown, this.#scale, this.#pieces, this.#info] = views;
    // The caller's point with every variable clipped; fixed variables keep this value.
    for (let i = 0; i < n; i++) {
      const lo = problem.lower[i]!;
      const hi = problem.upper[i]!;
      const x = problem.x0[i]!;
      this.template[i] = Math.min(hi, Math.max(lo, x));
    }
    this.free = free;
    this.freeIndex = new Int32Array(free);
    for (let i = 0, k = 0; i < n; i++) {
      const lo = problem.lower[i]!;
      const hi = problem.upper[i]!;
      if (hi > lo) {
        this.freeIndex[k] = i;
        this.offset[k] = lo;
        this.width[k] = hi - lo;
        this.z0[k] = clamp01((this.template[i]! - lo) / (hi - lo));
        this.#scale[i] = hi - lo;
        k++;
      }
    }
    this.bestZ.set(this.z0);
    this.rows = Math.max(1, rows(free));
    this.deadline =
      options.maxTimeMs !== undefined && options.maxTimeMs >= 0
        ? performance.now() + options.maxTimeMs
        : Number.POSITIVE_INFINITY;
    this.maxEvaluations = minLimit(options.maxEvaluations, Number.POSITIVE_INFINITY);
    this.signal = options.signal;
  }

  /** Rows still allowed by `maxEvaluations`. */
  get remainingEvaluations(): number {
    return this.maxEvaluations - this.evaluations;
  }

  /** Checked between batches (never before the first one). */
  stopReason(nextRows: number): StopReason {
    if (this.signal?.aborted) return 'aborted';
    if (performance.now() >= this.deadline) return 'timedOut';
    if (nextRows > this.remainingEvaluations) return 'evaluations';
    return undefined;
  }

  /**
   * Evaluates `count` normalised points (row-major, `free` values each) into `costs`.
   * Non-finite costs become +Infinity so that comparisons treat them as worse than
   * anything. Grows the caller-space buffer only if a method asks for more rows than it
   * declared (never on the steady path).
   */
  async evaluate(z: Float64Array, count: number, costs: Float64Array): Promise<void> {
    const n = this.dimension;
    const m = this.free;
    if (this.points === undefined || this.points.length < count * n) {
      this.points = new Float64Array(Math.max(this.rows, count) * n);
    }
    const points = this.points;
    for (let r = 0; r < count; r++) {
      const row = r * n;
      points.set(this.template, row);
      const zr = r * m;
      for (let k = 0; k < m; k++) {
        const i = this.freeIndex[k]!;
        points[row + i] = this.toX(k, z[zr + k]!);
      }
    }
    this.batches++;
    this.evaluations += count;
    await this.problem.evaluate(points, count, costs);
    let best = -1;
    let bestCost = this.bestCost;
    for (let r = 0; r < count; r++) {
      const c = costs[r]!;
      if (!Number.isFinite(c)) {
        costs[r] = Number.POSITIVE_INFINITY;
      } else if (c < bestCost) {
        bestCost = c;
        best = r;
      }
    }
    if (best >= 0) {
      this.bestCost = bestCost;
      for (let k = 0; k < m; k++) this.bestZ[k] = z[best * m + k]!;
    }
  }

  /** Whether the problem gives exact derivatives (`valueAndGradient`). */
  get hasGradient(): boolean {
    return this.problem.valueAndGradient !== undefined;
  }

  /** Whether the problem also gives them without a promise (`valueAndGradientSync`). */
  get hasSyncGradient(): boolean {
    return this.problem.valueAndGradientSync !== undefined;
  }

  readonly #x: Float64Array;
  readonly #gUp: Float64Array;
  readonly #gDown: Float64Array;

  /**
   * The exact cost at one normalised point and its one-sided derivatives by z (cost per box
   * width): `up[k]` moving z_k up, `down[k]` moving it down. Counts one evaluation and one
   * batch; a non-finite cost becomes +Infinity. Only when `hasGradient`.
   */
  async valueAndGradient(z: Float64Array, up: Float64Array, down: Float64Array): Promise<number> {
    const x = this.#gradientPoint(z);
    const cost = await this.problem.valueAndGradient!(x, this.#gUp, this.#gDown);
    return this.#gradientDone(z, cost, up, down);
  }

  /** `valueAndGradient` without a promise; only when `hasSyncGradient`. */
  valueAndGradientSync(z: Float64Array, up: Float64Array, down: Float64Array): number {
    const x = this.#gradientPoint(z);
    const cost = this.problem.valueAndGradientSync!(x, this.#gUp, this.#gDown);
    return this.#gradientDone(z, cost, up, down);
  }

  /** Whether the problem gives the gradients of its smooth pieces near a kink (`pieceGradients`). */
  get hasPieces(): boolean {
    return this.problem.pieceGradients !== undefined && (this.problem.maxPieces ?? 0) > 0;
  }

  /** The most rows `pieceGradients` writes. */
  get maxPieces(): number {
    return this.problem.maxPieces ?? 0;
  }

  /** The free variables' widths by caller index, and the pieces' rows. */
  readonly #scale: Float64Array;
  readonly #pieces: Float64Array;
  readonly #info: Float64Array;

  /**
   * The values and exact gradients by z of the smooth pieces meeting within `radius` (normalised,
   * max norm) of `z`, into `values` and one row of `free` values each in `out`; resolves the
   * rows, and writes the distance of the farthest kink taken to `farthest[0]`. Counts the
   * problem's work as evaluations (one batch). Only when `hasPieces`.
   */
  async pieceGradients(
    z: Float64Array,
    radius: number,
    out: Float64Array,
    values: Float64Array,
    farthest: Float64Array,
  ): Promise<number> {
    const x = this.#piecePoint(z);
    const rows = await this.problem.pieceGradients!(x, this.#scale, radius, this.#pieces, values, this.#info);
    return this.#piecesDone(rows, out, farthest);
  }

  /** `pieceGradients` without a promise; only when `hasPieces` and `hasSyncGradient`. */
  pieceGradientsSync(
    z: Float64Array,
    radius: number,
    out: Float64Array,
    values: Float64Array,
    farthest: Float64Array,
  ): number {
    const x = this.#piecePoint(z);
    const rows = this.problem.pieceGradientsSync!(x, this.#scale, radius, this.#pieces, values, this.#info);
    return this.#piecesDone(rows, out, farthest);
  }

  #piecePoint(z: Float64Array): Float64Array {
    const x = this.#gradientPoint(z);
    this.evaluations--;
    return x;
  }

  #piecesDone(rows: number, out: Float64Array, farthest: Float64Array): number {
    const n = this.dimension;
    const m = this.free;
    this.evaluations += this.#info[0]!;
    farthest[0] = this.#info[1]!;
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < m; k++) {
        out[r * m + k] = this.#pieces[r * n + this.freeIndex[k]!]! * this.width[k]!;
      }
    }
    return rows;
  }

  /** The caller's point for normalised `z` (a buffer of the context); counts the evaluation. */
  #gradientPoint(z: Float64Array): Float64Array {
    const x = this.#x;
    x.set(this.template);
    for (let k = 0; k < this.free; k++) x[this.freeIndex[k]!] = this.toX(k, z[k]!);
    this.batches++;
    this.evaluations++;
    return x;
  }

  /** The derivatives by z, the best point; returns the cost (+Infinity when not finite). */
  #gradientDone(z: Float64Array, cost: number, up: Float64Array, down: Float64Array): number {
    const m = this.free;
    for (let k = 0; k < m; k++) {
      const i = this.freeIndex[k]!;
      up[k] = this.#gUp[i]! * this.width[k]!;
      down[k] = this.#gDown[i]! * this.width[k]!;
    }
    if (!Number.isFinite(cost)) return Number.POSITIVE_INFINITY;
    if (cost < this.bestCost) {
      this.bestCost = cost;
      for (let k = 0; k < m; k++) this.bestZ[k] = clamp01(z[k]!);
    }
    return cost;
  }

  /** The caller's value of free variable `k` at normalised `z`, inside its bounds. */
  toX(k: number, z: number): number {
    const lo = this.offset[k]!;
    const w = this.width[k]!;
    const x = lo + clamp01(z) * w;
    return Math.min(x, lo + w);
  }

  /** The best point in the caller's variables. */
  bestX(): Float64Array {
    const x = Float64Array.from(this.template);
    for (let k = 0; k < this.free; k++) x[this.freeIndex[k]!] = this.toX(k, this.bestZ[k]!);
    // Upper bounds exactly when z is 1, whatever the rounding of lower + width.
    for (let k = 0; k < this.free; k++) {
      if (this.bestZ[k]! >= 1) x[this.freeIndex[k]!] = this.problem.upper[this.freeIndex[k]!]!;
    }
    return x;
  }

  /** Throws when no finite cost was ever seen. */
  assertFinite(why?: string): void {
    if (!Number.isFinite(this.bestCost)) {
      const after = why ? ` (${why})` : '';
      throw new OptimizerError(
        `optimizer '${this.name}': the cost is not finite at the start point or anywhere tried${after}; check the cost function and the bounds.`,
      );
    }
  }

  /** The result for the best point seen. */
  result(converged: boolean, stop: StopReason, message: string): OptimizerResult {
    this.assertFinite(stop === undefined ? undefined : stopMessage(stop));
    return {
      x: this.bestX(),
      cost: this.bestCost,
      iterations: this.iterations,
      evaluations: this.evaluations,
      batches: this.batches,
      converged,
      timedOut: stop === 'timedOut',
      message: stop === undefined ? message : stopMessage(stop),
    };
  }
}

export function stopMessage(stop: Exclude<StopReason, undefined>): string {
  switch (stop) {
    case 'timedOut':
      return 'Time limit (maxTimeMs) reached; returning the best point so far.';
    case 'aborted':
      return 'Aborted by the signal; returning the best point so far.';
    case 'evaluations':
      return 'Evaluation budget (maxEvaluations) reached; returning the best point so far.';
  }
}

/**
 * Handles the case every method shares: no free variables. Evaluates the clipped x0
 * once and returns it as converged.
 */
export async function solveFixed(ctx: SolveContext): Promise<OptimizerResult> {
  const costs = new Float64Array(1);
  await ctx.evaluate(ctx.z0, 1, costs);
  return ctx.result(true, undefined, 'No free variables (every lower bound equals its upper bound).');
}

/**
 * Zeroed Float64Arrays of the given lengths, views on one buffer: a solve's scratch in one
 * allocation (each separate typed array costs a backing store, about as much as a few of the
 * cost's evaluations' arithmetic).
 */
export function float64Views<const L extends readonly number[]>(
  lengths: L,
): { -readonly [K in keyof L]: Float64Array } {
  let total = 0;
  for (const length of lengths) total += length;
  const buffer = new Float64Array(total);
  const views: Float64Array[] = [];
  let at = 0;
  for (const length of lengths) {
    views.push(buffer.subarray(at, at + length));
    at += length;
  }
  return views as { -readonly [K in keyof L]: Float64Array };
}

export function clamp01(z: number): number {
  return z < 0 ? 0 : Math.min(z, 1);
}
