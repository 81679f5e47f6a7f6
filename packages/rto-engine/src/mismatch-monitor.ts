import type { TrainingError } from '@po/core';
import type { MismatchStatus } from './result-schema.ts';
import type { ModelsSpec } from './schema.ts';
import type { MonitoredPrediction } from './semantics.ts';

/**
 * Model-plant mismatch, pure: each comparison of a model's prediction with what the plant did
 * updates a filtered bias (EWMA of measured - predicted), a filtered absolute error (EWMA of
 * |error|), a two-sided CUSUM of the error beyond a slack, and the error the bias-corrected
 * prediction would have had. Status: bad when the filtered absolute error reaches `bad` or a CUSUM
 * its decision interval; suspect from `suspect` or half the interval; good below. The CUSUMs are
 * capped at twice the interval, so a model recovers within a bounded number of clean comparisons.
 */

/** The thresholds of one model (output units). */
export interface MismatchThresholds {
  suspect: number;
  bad: number;
  /** CUSUM decision interval. */
  cusum: number;
  /** CUSUM slack per comparison. */
  slack: number;
}

/** The state of one model's monitor: a plain object, carried by the caller from cycle to cycle. */
export interface MismatchState {
  samples: number;
  lastError: number | null;
  bias: number | null;
  meanAbsError: number | null;
  /** Filtered absolute error of the prediction shifted by the bias known before each comparison. */
  correctedMeanAbsError: number | null;
  cusumHigh: number;
  cusumLow: number;
}

export const initialMismatchState = (): MismatchState => ({
  samples: 0,
  lastError: null,
  bias: null,
  meanAbsError: null,
  correctedMeanAbsError: null,
  cusumHigh: 0,
  cusumLow: 0,
});

/** The defaults a strategy's `models.mismatch` resolves to. */
export interface MismatchSettings {
  horizonS: number;
  filter: number;
  suspectFactor: number;
  badFactor: number;
  perModel: Readonly<Record<string, Partial<MismatchThresholds>>>;
}

/** `models.mismatch` of a strategy, defaults filled. */
export function mismatchSettings(models: ModelsSpec | undefined): MismatchSettings {
  const m = models?.mismatch;
  return {
    horizonS: m?.horizon_s ?? 0,
    filter: m?.filter ?? 0.2,
    suspectFactor: m?.suspect_factor ?? 2,
    badFactor: m?.bad_factor ?? 4,
    perModel: m?.models ?? {},
  };
}

/**
 * The thresholds of one model: the strategy's, else from its training error (the held-out mean
 * absolute error, else 0.8 × its RMSE): suspect and bad as factors of it, a CUSUM interval of 5 and
 * a slack of 1 times it. A string says why there are none.
 */
export function mismatchThresholds(
  skill: string,
  settings: MismatchSettings,
  trainingError: TrainingError | undefined,
): MismatchThresholds | string {
  const given = settings.perModel[skill] ?? {};
  const typical =
    trainingError?.meanAbs ?? (trainingError?.rmse === undefined ? undefined : 0.8 * trainingError.rmse);
  const pick = (value: number | undefined, factor: number) =>
    value ?? (typical === undefined || typical <= 0 ? undefined : factor * typical);
  const thresholds = {
    suspect: pick(given.suspect, settings.suspectFactor),
    bad: pick(given.bad, settings.badFactor),
    cusum: pick(given.cusum, 5),
    slack: pick(given.slack, 1),
  };
  const missing = Object.entries(thresholds).filter(([, v]) => v === undefined);
  if (missing.length > 0) {
    return `no ${missing.map(([k]) => k).join(', ')} threshold: give models.mismatch.models.${skill} or a training_error in the model's metadata`;
  }
  return thresholds as MismatchThresholds;
}

/** One comparison: the state after the plant measured `measured` where the model predicted `predicted`. */
export function updateMismatch(
  state: MismatchState,
  predicted: number,
  measured: number,
  filter: number,
  thresholds: MismatchThresholds | string,
): MismatchState {
  const error = measured - predicted;
  const ewma = (previous: number | null, value: number) =>
    previous === null ? value : previous + filter * (value - previous);
  const corrected = Math.abs(error - (state.bias ?? 0));
  const cap = typeof thresholds === 'string' ? Number.POSITIVE_INFINITY : 2 * thresholds.cusum;
  const slack = typeof thresholds === 'string' ? 0 : thresholds.slack;
  return {
    samples: state.samples + 1,
    lastError: error,
    bias: ewma(state.bias, error),
    meanAbsError: ewma(state.meanAbsError, Math.abs(error)),
    correctedMeanAbsError: ewma(state.correctedMeanAbsError, corrected),
    cusumHigh: Math.min(cap, Math.max(0, state.cusumHigh + error - slack)),
    cusumLow: Math.min(cap, Math.max(0, state.cusumLow - error - slack)),
  };
}

/** The status of a model's monitor, in the result's shape. */
export function mismatchStatus(
  monitored: MonitoredPrediction,
  state: MismatchState,
  thresholds: MismatchThresholds | string,
): MismatchStatus {
  const base = {
    variable: monitored.variable,
    measured_by: monitored.measuredBy,
    inferred: monitored.inferred,
    samples: state.samples,
    last_error: state.lastError,
    bias: state.bias,
    mean_abs_error: state.meanAbsError,
    corrected_mean_abs_error: state.correctedMeanAbsError,
    cusum_high: state.cusumHigh,
    cusum_low: state.cusumLow,
    thresholds: typeof thresholds === 'string' ? null : thresholds,
  };
  if (typeof thresholds === 'string') return { ...base, status: 'unknown', reason: thresholds };
  if (state.samples === 0 || state.meanAbsError === null) {
    return { ...base, status: 'unknown', reason: 'no prediction has been compared with the plant yet' };
  }
  const cusum = Math.max(state.cusumHigh, state.cusumLow);
  const error = state.meanAbsError;
  const f = (x: number) => x.toPrecision(3);
  if (error >= thresholds.bad || cusum >= thresholds.cusum) {
    const why =
      error >= thresholds.bad
        ? `filtered absolute error ${f(error)} ≥ bad ${f(thresholds.bad)}`
        : `CUSUM ${f(cusum)} ≥ ${f(thresholds.cusum)}`;
    return { ...base, status: 'bad', reason: why };
  }
  if (error >= thresholds.suspect || cusum >= thresholds.cusum / 2) {
    const why =
      error >= thresholds.suspect
        ? `filtered absolute error ${f(error)} ≥ suspect ${f(thresholds.suspect)}`
        : `CUSUM ${f(cusum)} ≥ half of ${f(thresholds.cusum)}`;
    return { ...base, status: 'suspect', reason: why };
  }
  return {
    ...base,
    status: 'good',
    reason: `filtered absolute error ${f(error)} < suspect ${f(thresholds.suspect)}`,
  };
}
