/**
 * Finite-difference gradients in normalised variables (z in [0,1]), written as rows of a batch
 * and read back from its costs, so that a whole gradient is one batch (one network run).
 *
 * - `forward`: the centre and one row per variable at +h (-h at the upper bound), divided by
 *   the realised step; m + 1 rows.
 * - `fourth-order`: the centre and 4 rows per variable: -2h, -h, +h, +2h (centred), or h, 2h,
 *   3h, 4h toward the inside near a bound (one-sided); 4m + 1 rows. Exact for quartic costs,
 *   at the same step, so never near float32 resolution.
 */
export type GradientMode = 'forward' | 'fourth-order';

export class FiniteDifferences {
  mode: GradientMode = 'forward';
  /** Per variable, set by `read`: 1 when no finite slope could be formed (an infeasible neighbour). */
  readonly unknown: Uint8Array;

  /**
   * `zb` and `cb` are the batch the rows are written to and the costs are read from (shared with
   * the caller's other rows); `h` is the step as a fraction of each box width.
   */
  constructor(
    readonly m: number,
    readonly h: number,
    private readonly zb: Float64Array,
    private readonly cb: Float64Array,
  ) {
    this.unknown = new Uint8Array(m);
  }

  /** Rows one gradient takes in the current mode. */
  get stencilRows(): number {
    return this.mode === 'forward' ? this.m + 1 : 4 * this.m + 1;
  }

  /** Writes the gradient rows around `zc` at row `at`; returns the number of rows. */
  write(zc: Float64Array, at: number): number {
    const { m, h, zb } = this;
    let r = at;
    zb.set(zc, r * m);
    r++;
    for (let k = 0; k < m; k++) {
      const zk = zc[k]!;
      if (this.mode === 'forward') {
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
  }

  /** Reads the gradient from rows written by `write` at row `at` into `out`; sets `unknown`. */
  read(at: number, out: Float64Array): void {
    const { m, cb } = this;
    const f0 = cb[at]!;
    for (let k = 0; k < m; k++) {
      this.unknown[k] = 0;
      const gk = this.mode === 'forward' ? this.forwardSlope(at, k, f0) : this.fourthOrderSlope(at, k, f0);
      if (Number.isFinite(gk)) {
        out[k] = gk;
      } else {
        out[k] = 0;
        this.unknown[k] = 1;
      }
    }
  }

  private forwardSlope(at: number, k: number, f0: number): number {
    const { m, zb, cb } = this;
    const r = at + 1 + k;
    const step = zb[r * m + k]! - zb[at * m + k]!;
    return (cb[r]! - f0) / step;
  }

  private fourthOrderSlope(at: number, k: number, f0: number): number {
    const { m, zb, cb } = this;
    const r = at + 1 + 4 * k;
    const zk = zb[at * m + k]!;
    const step = zb[(r + 2) * m + k]! - zk; // +h (centred) or 3h·dir (one-sided)
    const f1 = cb[r]!;
    const f2 = cb[r + 1]!;
    const f3 = cb[r + 2]!;
    const f4 = cb[r + 3]!;
    if (zb[r * m + k]! < zk && zb[(r + 3) * m + k]! > zk) {
      let gk = (f1 - 8 * f2 + 8 * f3 - f4) / (12 * step);
      if (!Number.isFinite(gk)) {
        // An infeasible neighbour: use the other side's slope unless it points to the
        // infeasible side (then the variable is held, like at a bound).
        gk = Number.isFinite(f3) ? (f3 - f0) / step : (f0 - f2) / step;
        if (!Number.isFinite(f3) && gk < 0) gk = Number.NaN;
        if (!Number.isFinite(f2) && gk > 0) gk = Number.NaN;
      }
      return gk;
    }
    const hh = step / 3;
    const gk = (-25 * f0 + 48 * f1 - 36 * f2 + 16 * f3 - 3 * f4) / (12 * hh);
    return Number.isFinite(gk) ? gk : (f1 - f0) / hh;
  }
}
