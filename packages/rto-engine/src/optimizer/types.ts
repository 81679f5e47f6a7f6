/**
 * A bounded minimization problem whose cost is evaluated in batches.
 *
 * The optimizer asks for whole batches of candidate points (one finite-difference
 * gradient = one batch of n+1 rows; one generation = one batch), because each batch
 * costs one network run per model however many rows it has.
 */
export interface BoundedProblem {
  /** Number of decision variables (n >= 1). */
  readonly dimension: number;
  /** Lower bounds, length n. lower[i] <= upper[i]; equal bounds fix a variable. */
  readonly lower: Float64Array;
  /** Upper bounds, length n. */
  readonly upper: Float64Array;
  /** Start point, length n, inside the bounds (it is clipped into them if not). */
  readonly x0: Float64Array;
  /**
   * Evaluates the cost of `count` points stored row-major in `points`
   * (`count * dimension` values) and writes them to `costs[0..count)`.
   * A non-finite cost (NaN, ±Infinity) marks an infeasible point.
   * The arrays belong to the caller of `evaluate` until the returned promise settles;
   * `evaluate` must not keep them.
   */
  evaluate(points: Float64Array, count: number, costs: Float64Array): Promise<void>;
  /**
   * Optional: the exact cost at one point `x` (length n) and its one-sided partial derivatives:
   * `gradient[j]` = d cost / d x_j moving x_j up, `gradientBelow[j]` moving it down. They are
   * equal where the cost is smooth and differ at a kink. Resolves the cost (non-finite marks an
   * infeasible point). Methods that use it count each call as one evaluation.
   */
  valueAndGradient?(x: Float64Array, gradient: Float64Array, gradientBelow: Float64Array): Promise<number>;
  /**
   * Optional, with `valueAndGradient`: the same evaluation without a promise (returns the cost,
   * throws where `valueAndGradient` rejects). Methods on exact gradients then run their whole
   * loop without awaiting; it must give exactly what `valueAndGradient` gives.
   */
  valueAndGradientSync?(x: Float64Array, gradient: Float64Array, gradientBelow: Float64Array): number;
  /**
   * Optional, with `valueAndGradient`: the exact gradients of the cost's smooth pieces that
   * meet within `radius` of `x` (a kink of a piecewise-linear term within that distance, in the
   * max norm of the variables divided by `scale`, linearised): each piece's value at `x` (the
   * smooth function extended past its kink) in `values` and its gradient as one row of n values
   * in `out` (room for `maxPieces` rows); one row, the cost and its gradient, where no kink is
   * that near. Resolves the rows; writes to `info[0]` the evaluations' worth of work it took and
   * to `info[1]` the distance of the farthest kink it took (0 with none). Methods use it at a
   * kink instead of sampling gradients around the point.
   */
  pieceGradients?(
    x: Float64Array,
    scale: Float64Array,
    radius: number,
    out: Float64Array,
    values: Float64Array,
    info: Float64Array,
  ): Promise<number>;
  /** Optional, with `pieceGradients` and `valueAndGradientSync`: the same without a promise. */
  pieceGradientsSync?(
    x: Float64Array,
    scale: Float64Array,
    radius: number,
    out: Float64Array,
    values: Float64Array,
    info: Float64Array,
  ): number;
  /** With `pieceGradients`: the most rows it writes. */
  readonly maxPieces?: number;
}

/** Options every optimizer understands; each documents its defaults. */
export interface OptimizerOptions {
  /** Largest number of iterations (generations for population methods). */
  maxiter?: number;
  /** Stop when the cost improves by less than this (relative to max(|f|, 1)) in an iteration. */
  ftol?: number;
  /** Stop when the step is smaller than this fraction of the box width in every variable. */
  xtol?: number;
  /** Wall-clock budget; when it runs out the best point so far is returned with `timedOut`. */
  maxTimeMs?: number;
  /** Largest number of cost evaluations (rows), across all batches. */
  maxEvaluations?: number;
  /** Seed for every random choice; the same seed gives the same result. */
  seed?: number;
  /** Population size for population methods (default depends on the method). */
  populationSize?: number;
  /** Aborts the solve; the best point so far is returned with `message` saying so. */
  signal?: AbortSignal;
}

export interface OptimizerResult {
  /** The best point found, inside the bounds. */
  x: Float64Array;
  /** Its cost. */
  cost: number;
  /** Iterations (or generations) performed. */
  iterations: number;
  /** Cost evaluations (rows) performed. */
  evaluations: number;
  /** Batches (calls to `evaluate`) performed. */
  batches: number;
  /** Whether a convergence test was met (not a budget or time limit). */
  converged: boolean;
  /** Whether `maxTimeMs` ran out. */
  timedOut: boolean;
  /** Why the solve stopped, in words. */
  message: string;
  /** The method that ran, when it is more precise than the optimizer's name (`auto`: its phases). */
  algorithm?: string;
}

/**
 * A bounded optimizer. Implementations are stateless between calls: one instance may
 * run many solves, one after another or concurrently. `minimize` never throws for a
 * property of the cost (NaN, infinities, flat regions): it returns the best finite
 * point it found, or rejects with `OptimizerError` when no finite cost was seen at all
 * or the problem itself is malformed (inverted bounds, no variables).
 */
export interface Optimizer {
  /** The name it is registered under (`projected-quasi-newton`, `DE`, `auto`), reported with results. */
  readonly name: string;
  minimize(problem: BoundedProblem, options?: OptimizerOptions): Promise<OptimizerResult>;
}
