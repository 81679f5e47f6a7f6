/** Limits of a Constraint skill. */
export interface ConstraintLimits {
  var_min: number;
  var_max: number;
  op_min: number;
  op_max: number;
}

/**
 * The predecessor's constraint score: 1 inside [op_min, op_max]; a linear ramp to 0 at
 * the physical limit outside it; not clamped, so negative beyond the physical range;
 * 0 beyond an operating limit that equals the physical one.
 */
export function constraintScore(v: number, l: ConstraintLimits): number {
  if (l.op_min === l.var_min && v < l.op_min) return 0;
  if (l.op_max === l.var_max && v > l.op_max) return 0;
  if (v >= l.op_min && v <= l.op_max) return 1;
  if (v < l.op_min) return (v - l.var_min) / (l.op_min - l.var_min);
  if (v > l.op_max) return (l.var_max - v) / (l.var_max - l.op_max);
  return Number.NaN; // v is NaN
}

/** Where the score is smooth, at a kink (the slopes differ), or at a jump (an operating limit equal to the physical one). */
export type ScoreSmoothness = 'smooth' | 'kink' | 'jump';

/**
 * The one-sided derivatives of `constraintScore` at v: `slopes[0]` moving v down (left),
 * `slopes[1]` moving it up (right). They are equal except at the operating limits, where the
 * ramp meets the plateau (a kink), or where an operating limit equal to the physical one makes
 * the score jump from 1 to 0 (slope 0 on both sides, reported as a jump).
 */
export function constraintScoreSlopes(v: number, l: ConstraintLimits, slopes: Float64Array): ScoreSmoothness {
  if (Number.isNaN(v)) {
    slopes[0] = Number.NaN;
    slopes[1] = Number.NaN;
    return 'smooth';
  }
  const below = l.op_min === l.var_min ? 0 : 1 / (l.op_min - l.var_min);
  const above = l.op_max === l.var_max ? 0 : -1 / (l.var_max - l.op_max);
  slopes[0] = v <= l.op_min ? below : v > l.op_max ? above : 0;
  slopes[1] = v < l.op_min ? below : v >= l.op_max ? above : 0;
  if ((l.op_min === l.var_min && v === l.op_min) || (l.op_max === l.var_max && v === l.op_max)) return 'jump';
  return slopes[0] === slopes[1] ? 'smooth' : 'kink';
}
