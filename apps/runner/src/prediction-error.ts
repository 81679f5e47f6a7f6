import { type ExactTime, exactTime, type ReplayPredictionChecks, type StoredReplayCycle } from '@po/db';
import { mismatchSettings, monitoredPredictions, predictingModel, type StrategySpec } from '@po/rto-engine';
import { z } from 'zod';
import { percentile } from './stats.ts';
import type { InputIssue } from './types.ts';

/**
 * Which predictions a replay compares with the plant, recorded with the replay: every Predicted
 * variable, the model behind it and the column that measures it (declared `measured_by`, or
 * inferred from the delta-model pattern, as the mismatch monitor finds it), and the strategy's
 * `models.mismatch.horizon_s`.
 */
export function predictionChecks(spec: StrategySpec): ReplayPredictionChecks {
  const monitored = new Map(monitoredPredictions(spec).map((m) => [m.variable, m]));
  const outputs: ReplayPredictionChecks['outputs'] = {};
  for (const [name, v] of Object.entries(spec.variables)) {
    if (v.type !== 'Predicted') continue;
    const m = monitored.get(name);
    const model = predictingModel(spec, name);
    const measuredBy = m?.measuredBy ?? v.measured_by ?? null;
    const note =
      measuredBy === null
        ? 'no plant-data column measures it (declare measured_by to compare it with the plant)'
        : typeof model === 'string'
          ? undefined
          : model.problem;
    outputs[name] = {
      model: typeof model === 'string' ? model : null,
      measured_by: measuredBy,
      inferred: m?.inferred ?? false,
      ...(note === undefined ? {} : { note }),
    };
  }
  return { horizon_s: mismatchSettings(spec.models).horizonS, outputs };
}

/** The columns whose readings a replayed cycle keeps (`ReplayCycleRecord.measured`). */
export function measuringColumns(checks: ReplayPredictionChecks): string[] {
  const columns = new Set<string>();
  for (const o of Object.values(checks.outputs)) if (o.measured_by !== null) columns.add(o.measured_by);
  return [...columns];
}

/**
 * A row's readings of `columns` as the report compares them: the number read, or null when it is
 * missing, not a finite number, or the input validation raised an issue on it (a substituted or
 * bad reading is not what the plant did). `issues` undefined: the row was not validated (all null).
 */
export function measuredReadings(
  columns: readonly string[],
  values: Readonly<Record<string, unknown>>,
  issues: readonly InputIssue[] | undefined,
): Record<string, number | null> {
  const flagged = new Set(issues?.map((i) => i.variable));
  const out: Record<string, number | null> = {};
  for (const c of columns) {
    const raw = values[c];
    const n =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    out[c] = issues === undefined || flagged.has(c) || !Number.isFinite(n) ? null : n;
  }
  return out;
}

const figure = (d: string) => z.number().nullable().describe(`${d}; null without any pair`);

export const predictionErrorSchema = z
  .object({
    model_estimated: z
      .literal(true)
      .describe('The predictions are model-estimated; the errors are measured readings minus them.'),
    recorded: z
      .boolean()
      .describe(
        'False for a replay made before the predictions to compare were recorded with it (no figures).',
      ),
    comparison: z
      .enum(['next_row', 'horizon'])
      .nullable()
      .describe(
        "next_row: each cycle's prediction against the measurement in the next replayed row; horizon: against the first replayed row at least horizon_s later.",
      ),
    horizon_s: z.number().nullable().describe("The strategy's models.mismatch.horizon_s (0: next_row)."),
    description: z.string().describe('The comparison in words.'),
    outputs: z
      .record(
        z.string(),
        z.object({
          model: z
            .string()
            .nullable()
            .describe('The InferenceModel skill behind the prediction (null: cannot be told).'),
          measured_by: z
            .string()
            .nullable()
            .describe('The plant-data column compared with; null: none measures it.'),
          inferred: z.boolean().describe('measured_by inferred from the delta-model pattern, not declared.'),
          note: z.string().nullable().describe('Why it is not compared, or why its model is unknown.'),
          predictions: z
            .number()
            .describe(
              "Cycles that ran with a prediction at the plant's actual values (holding the setpoints); 0 when not compared.",
            ),
          pairs: z.number().describe('Predictions compared with a measurement.'),
          without_measurement: z
            .number()
            .describe(
              'Predictions whose comparison row has no valid reading (missing, or flagged by the input validation).',
            ),
          past_last_row: z
            .number()
            .describe(
              'Predictions whose comparison row lies past the last stored row (the end of the window).',
            ),
          bias: figure('Mean error, measured - predicted (output units)'),
          mean_abs_error: figure('Mean absolute error'),
          rmse: figure('Root-mean-square error'),
          p95_abs_error: figure('95th percentile of the absolute error (nearest rank)'),
        }),
      )
      .describe('Per Predicted variable (model output, or a variable computed from one).'),
  })
  .describe(
    "Per model output: its prediction at each cycle, at the plant's actual values, against what the plant measured next. Computed after the replay from the stored cycles in data-time order, so a resumed replay gives the same figures. The holding prediction does not know the moves the plant made in between: those count as error.",
  );

export type PredictionErrorReport = z.infer<typeof predictionErrorSchema>;

const EXACT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})(\d{3})Z$/;

/** Microseconds since the epoch of an exact time (within 2^53: exact). */
function exactMicros(time: ExactTime): number {
  const m = EXACT.exec(exactTime(time, 'data time'))!;
  return Date.parse(`${m[1]}Z`) * 1000 + Number(m[2]);
}

/**
 * The prediction-error figures of a replay: a post-pass over its stored cycles in data-time
 * order. For each cycle that ran, each compared variable's prediction at the plant's actual
 * values (`predictions[v].at_current`) is paired with the reading of its measuring column in the
 * next stored row (horizon 0) or the first stored row at least `horizon_s` later. Pure.
 */
export function predictionErrors(
  checks: ReplayPredictionChecks | null,
  cycles: readonly StoredReplayCycle[],
): PredictionErrorReport {
  if (checks === null)
    return {
      model_estimated: true,
      recorded: false,
      comparison: null,
      horizon_s: null,
      description:
        'not recorded: this replay was made before po recorded which predictions to compare (replay it again)',
      outputs: {},
    };
  const rows = cycles.map((c) => ({ at: exactMicros(c.dataTime), c })).sort((a, b) => a.at - b.at);
  const horizon = checks.horizon_s * 1e6;
  // The comparison row of each row: the next one, or the first at least the horizon later.
  const target = new Int32Array(rows.length);
  for (let i = 0, j = 0; i < rows.length; i++) {
    if (horizon === 0) target[i] = i + 1;
    else {
      while (j < rows.length && rows[j]!.at < rows[i]!.at + horizon) j++;
      target[i] = j;
    }
  }
  const outputs: PredictionErrorReport['outputs'] = {};
  for (const [variable, check] of Object.entries(checks.outputs)) {
    const errors: number[] = [];
    let predictions = 0;
    let withoutMeasurement = 0;
    let pastLastRow = 0;
    if (check.measured_by !== null) {
      for (let i = 0; i < rows.length; i++) {
        const c = rows[i]!.c;
        const predicted = c.status === 'ok' ? c.predictions?.[variable]?.at_current : undefined;
        if (typeof predicted !== 'number' || !Number.isFinite(predicted)) continue;
        predictions++;
        const t = target[i]!;
        if (t >= rows.length) {
          pastLastRow++;
          continue;
        }
        const measured = rows[t]!.c.measured?.[check.measured_by];
        if (typeof measured !== 'number') withoutMeasurement++;
        else errors.push(measured - predicted);
      }
    }
    outputs[variable] = {
      model: check.model,
      measured_by: check.measured_by,
      inferred: check.inferred,
      note: check.note ?? null,
      predictions,
      pairs: errors.length,
      without_measurement: withoutMeasurement,
      past_last_row: pastLastRow,
      ...errorFigures(errors),
    };
  }
  return {
    model_estimated: true,
    recorded: true,
    comparison: checks.horizon_s === 0 ? 'next_row' : 'horizon',
    horizon_s: checks.horizon_s,
    description:
      checks.horizon_s === 0
        ? "each cycle's prediction at the plant's actual values against the measurement in the next replayed row"
        : `each cycle's prediction at the plant's actual values against the measurement in the first replayed row at least ${checks.horizon_s} s later (models.mismatch.horizon_s)`,
    outputs,
  };
}

function errorFigures(errors: readonly number[]) {
  const n = errors.length;
  if (n === 0) return { bias: null, mean_abs_error: null, rmse: null, p95_abs_error: null };
  let sum = 0;
  let abs = 0;
  let squares = 0;
  for (const e of errors) {
    sum += e;
    abs += Math.abs(e);
    squares += e * e;
  }
  const sorted = errors.map(Math.abs).sort((a, b) => a - b);
  return {
    bias: sum / n,
    mean_abs_error: abs / n,
    rmse: Math.sqrt(squares / n),
    p95_abs_error: percentile(sorted, 95),
  };
}
