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
