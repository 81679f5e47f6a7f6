/**
 * Python's numeric semantics, as the predecessor's asteval applied them, on float64.
 *
 * Booleans are 1/0. Where Python raises (division by zero, math domain errors, overflow)
 * these return the IEEE result (±Infinity or NaN): the engine treats a non-finite value as
 * infeasible instead of the predecessor's silent 0.0.
 *
 * Everything here is allocation-free, except `roundDigits` exactly at (or within a few ulps
 * of) a decimal tie, which takes an exact BigInt path.
 */

/** Python truthiness of a number: 0 and -0 are falsy; NaN is truthy. */
export function truthy(x: number): boolean {
  return x !== 0;
}

/** `a % b`: the result has the sign of the divisor (`-7 % 3` is 2); `x % 0` is NaN. */
export function pyMod(a: number, b: number): number {
  const r = a % b; // C fmod
  if (r !== 0) return r < 0 !== b < 0 ? r + b : r;
  return b < 0 ? -0 : 0;
}

/**
 * `a // b`: CPython's float floor division (not `Math.floor(a / b)`: `1 // 0.1` is 9.0 in
 * Python because 0.1 is slightly more than a tenth). `x // 0` is `x / 0` (non-finite).
 */
export function pyFloorDiv(a: number, b: number): number {
  if (b === 0) return a / b;
  const mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) div -= 1;
  if (div !== 0) {
    let floordiv = Math.floor(div);
    if (div - floordiv > 0.5) floordiv += 1;
    return floordiv;
  }
  const q = a / b;
  return q < 0 || (q === 0 && 1 / q < 0) ? -0 : 0;
}

/** `a ** b` and `pow(a, b)`: like C's pow, `1 ** nan` and `(-1) ** inf` are 1 (JS gives NaN). */
export function pyPow(a: number, b: number): number {
  if (a === 1 || b === 0) return 1;
  if (a === -1 && (b === Number.POSITIVE_INFINITY || b === Number.NEGATIVE_INFINITY)) return 1;
  return a ** b;
}

/** `round(x)`: half to even (`round(2.5)` is 2, `round(-3.5)` is -4); an integer, so never -0. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // halves go up, toward +Infinity
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r + 0;
}

/** Digits beyond which rounding a float64 cannot change it (CPython uses the same bound). */
const MAX_DIGITS = 340;

/**
 * `round(x, digits)`: the float64 nearest to x rounded half-to-even at `digits` decimal
 * places, where x is taken at its exact binary value (so `round(2.675, 2)` is 2.67, as in
 * Python, because 2.675 is stored as 2.67499999...). `scale` must be `10 ** Math.abs(digits)`.
 */
export function roundDigits(x: number, digits: number, scale: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  if (digits >= 0 && digits <= 22) {
    // 10 ** digits is exact up to 1e22, so y is the exact product rounded once.
    const y = x * scale;
    const ay = Math.abs(y);
    // 10 ** -digits is below a quarter ulp of x: the rounded decimal's nearest float is x.
    if (ay >= 2 ** 55) return x;
    if (ay < 2 ** 52) {
      const fraction = y - Math.floor(y); // exact below 2 ** 52
      // Far enough from .5 that the product's rounding error cannot move it across.
      if (Math.abs(fraction - 0.5) > ay * 2 ** -50 + 2 ** -50) return Math.round(y) / scale;
    }
  }
  return roundDigitsExact(x, digits);
}

/** Exact half-even rounding of x's binary value at `digits` decimal places (allocates). */
function roundDigitsExact(x: number, digits: number): number {
  if (digits > MAX_DIGITS) return x;
  if (digits < -MAX_DIGITS) return x * 0;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const biasedExponent = (high >>> 20) & 0x7ff;
  let mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  let exponent = -1074;
  if (biasedExponent !== 0) {
    mantissa |= 1n << 52n;
    exponent = biasedExponent - 1075;
  }
  // |x| * 10 ** digits = numerator / denominator, exactly.
  let numerator = mantissa;
  let denominator = 1n;
  if (digits >= 0) numerator *= 10n ** BigInt(digits);
  else denominator *= 10n ** BigInt(-digits);
  if (exponent >= 0) numerator <<= BigInt(exponent);
  else denominator <<= BigInt(-exponent);
  let quotient = numerator / denominator;
  const twiceRemainder = (numerator % denominator) * 2n;
  if (twiceRemainder > denominator || (twiceRemainder === denominator && quotient % 2n === 1n))
    quotient += 1n;
  // Parsing a decimal string is correctly rounded: the nearest float64 to quotient * 10 ** -digits.
  const magnitude = Number(`${quotient}e${-digits}`);
  return x < 0 ? -magnitude : magnitude;
}

/** `min(a, b, ...)`: Python keeps the first of equal items and compares with `<` (NaN handling included). */
export function pyMin2(a: number, b: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Math.min propagates NaN; Python's min does not (min(1, nan) is 1).
  return b < a ? b : a;
}

/** `max(a, b, ...)`: Python keeps the first of equal items and compares with `>`. */
export function pyMax2(a: number, b: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Math.max propagates NaN; Python's max does not (max(1, nan) is 1).
  return b > a ? b : a;
}

/** `clip(x, lo, hi)` as numpy: `minimum(maximum(x, lo), hi)`, NaN propagates. */
export function clip(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}

/** `log(x, base)`: Python's math.log with a base is log(x) / log(base). */
export function logBase(x: number, base: number): number {
  return Math.log(x) / Math.log(base);
}

/** `floor`/`ceil` return Python ints, so never -0. */
export function pyFloor(x: number): number {
  return Math.floor(x) + 0;
}

export function pyCeil(x: number): number {
  return Math.ceil(x) + 0;
}
