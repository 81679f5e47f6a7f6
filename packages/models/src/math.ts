const TWO_OVER_SQRT_PI = 1.1283791670955126;

/**
 * The error function in float64 (absolute error below 1e-13): Maclaurin series for
 * |x| < 3, Lentz continued fraction for erfc beyond. Used by reference forward passes
 * and the demo-model generator, which need exact GELU.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  if (ax < 3) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const contribution = term / (2 * n + 1);
      sum += contribution;
      if (Math.abs(contribution) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), modified Lentz.
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? tiny : 1 / d;
    c = ax + an / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** Pieces of `fastErf` on [0, ERF_LIMIT): width, count, Chebyshev coefficients per piece. */
const ERF_LIMIT = 6;
const ERF_PIECE = 0.25;
const ERF_PIECES = ERF_LIMIT / ERF_PIECE;
const ERF_TERMS = 13;

/**
 * Chebyshev coefficients of `erf` on each piece, from `erf` at the Chebyshev nodes (computed once
 * when the module loads: 312 evaluations).
 */
const ERF_COEFFICIENTS = (() => {
  const c = new Float64Array(ERF_PIECES * ERF_TERMS);
  const f = new Float64Array(ERF_TERMS);
  for (let piece = 0; piece < ERF_PIECES; piece++) {
    const mid = (piece + 0.5) * ERF_PIECE;
    for (let j = 0; j < ERF_TERMS; j++) {
      f[j] = erf(mid + (ERF_PIECE / 2) * Math.cos((Math.PI * (j + 0.5)) / ERF_TERMS));
    }
    for (let k = 0; k < ERF_TERMS; k++) {
      let sum = 0;
      for (let j = 0; j < ERF_TERMS; j++) sum += f[j]! * Math.cos((Math.PI * k * (j + 0.5)) / ERF_TERMS);
      c[piece * ERF_TERMS + k] = ((k === 0 ? 1 : 2) / ERF_TERMS) * sum;
    }
  }
  return c;
})();

/**
 * `erf` by piecewise Chebyshev series (24 pieces of width 1/4 on [0, 6), degree 12; within 2e-13
 * of `erf`, whose own error is about 1e-13): the same function in a fixed dozen multiply-adds, for the dense kernel,
 * which calls it for every GELU unit of every row.
 */
export function fastErf(x: number): number {
  const ax = Math.abs(x);
  if (!(ax < ERF_LIMIT)) return Number.isNaN(x) ? Number.NaN : Math.sign(x);
  const piece = Math.floor(ax / ERF_PIECE);
  const u = (2 / ERF_PIECE) * (ax - (piece + 0.5) * ERF_PIECE);
  const c = ERF_COEFFICIENTS;
  const base = piece * ERF_TERMS;
  // Clenshaw's recurrence.
  let b1 = 0;
  let b2 = 0;
  for (let k = ERF_TERMS - 1; k >= 1; k--) {
    const b0 = 2 * u * b1 - b2 + c[base + k]!;
    b2 = b1;
    b1 = b0;
  }
  const y = u * b1 - b2 + c[base]!;
  return x < 0 ? -y : y;
}

/** Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}
