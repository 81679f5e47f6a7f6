import { describe, expect, it } from 'vitest';
import {
  initialMismatchState,
  type MismatchState,
  mismatchSettings,
  mismatchStatus,
  mismatchThresholds,
  updateMismatch,
} from './mismatch-monitor.ts';

const monitored = { variable: 'predicted_y', measuredBy: 'y', skill: 'im_y', inferred: false };
const thresholds = { suspect: 2, bad: 4, cusum: 10, slack: 1 };

function run(state: MismatchState, errors: readonly number[], filter = 0.5): MismatchState {
  let s = state;
  for (const e of errors) s = updateMismatch(s, 100, 100 + e, filter, thresholds);
  return s;
}

describe('mismatch monitor (pure)', () => {
  it('filters the bias and the absolute error as EWMAs, starting at the first error', () => {
    let s = updateMismatch(initialMismatchState(), 10, 13, 0.25, thresholds);
    expect(s).toMatchObject({ samples: 1, lastError: 3, bias: 3, meanAbsError: 3, correctedMeanAbsError: 3 });
    s = updateMismatch(s, 10, 9, 0.25, thresholds);
    expect(s.bias).toBeCloseTo(3 + 0.25 * (-1 - 3), 12);
    expect(s.meanAbsError).toBeCloseTo(3 + 0.25 * (1 - 3), 12);
    // The corrected error uses the bias known before this comparison (3): |-1 - 3| = 4.
    expect(s.correctedMeanAbsError).toBeCloseTo(3 + 0.25 * (4 - 3), 12);
  });

  it('runs a two-sided CUSUM beyond the slack, capped at twice the decision interval', () => {
    let s = run(initialMismatchState(), [3, 3]);
    expect(s.cusumHigh).toBe(4); // (3 - 1) + (3 - 1)
    expect(s.cusumLow).toBe(0);
    s = run(s, [-0.5]); // within the slack: the high side shrinks by 1.5, the low side stays 0
    expect(s.cusumHigh).toBe(2.5);
    expect(s.cusumLow).toBe(0);
    s = run(s, Array(50).fill(9));
    expect(s.cusumHigh).toBe(20);
    s = run(initialMismatchState(), [-4]);
    expect(s.cusumLow).toBe(3);
  });

  it('good, then suspect, then bad as the error grows; back to good within a bounded number of clean comparisons', () => {
    let s = run(initialMismatchState(), [0.5, -0.5, 0.3]);
    expect(mismatchStatus(monitored, s, thresholds).status).toBe('good');
    s = run(s, [2.6, 2.6]);
    expect(mismatchStatus(monitored, s, thresholds)).toMatchObject({ status: 'suspect' });
    s = run(s, [6, 6, 6]);
    const bad = mismatchStatus(monitored, s, thresholds);
    expect(bad.status).toBe('bad');
    expect(bad.reason).toMatch(/≥ bad 4/);
    s = run(s, Array(50).fill(50)); // saturate the CUSUM
    let cycles = 0;
    while (mismatchStatus(monitored, s, thresholds).status !== 'good') {
      s = run(s, [0]);
      cycles++;
      expect(cycles).toBeLessThan(60);
    }
    // 2 × cusum / slack = 20 comparisons drain a saturated CUSUM.
    expect(cycles).toBeLessThanOrEqual(20);
  });

  it('bias correction removes a steady offset that the raw error keeps', () => {
    const s = run(initialMismatchState(), Array(30).fill(5), 0.3);
    expect(s.meanAbsError).toBeCloseTo(5, 9);
    expect(s.correctedMeanAbsError!).toBeLessThan(0.1);
    expect(s.bias).toBeCloseTo(5, 3);
  });

  it('thresholds: the strategy’s, else factors of the training error; unknown without either, with why', () => {
    const settings = mismatchSettings({
      extrapolation: 'warn',
      bias_correction: false,
      mismatch: { horizon_s: 0, filter: 0.2, suspect_factor: 2, bad_factor: 4, models: { im_a: { bad: 9 } } },
    });
    expect(mismatchThresholds('im_b', settings, { meanAbs: 1.5 })).toEqual({
      suspect: 3,
      bad: 6,
      cusum: 7.5,
      slack: 1.5,
    });
    expect(mismatchThresholds('im_b', settings, { rmse: 2 })).toEqual({
      suspect: 3.2,
      bad: 6.4,
      cusum: 8,
      slack: 1.6,
    });
    expect(mismatchThresholds('im_a', settings, { meanAbs: 1 })).toMatchObject({ suspect: 2, bad: 9 });
    const none = mismatchThresholds('im_a', settings, undefined);
    expect(none).toMatch(/no suspect, cusum, slack threshold: give models\.mismatch\.models\.im_a/);
    const status = mismatchStatus(monitored, run(initialMismatchState(), [1]), none);
    expect(status).toMatchObject({ status: 'unknown', thresholds: null, samples: 1 });
    expect(mismatchStatus(monitored, initialMismatchState(), thresholds).status).toBe('unknown');
  });
});
