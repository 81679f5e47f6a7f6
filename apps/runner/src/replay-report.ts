import type { Replay, ReplayCycleOutcome, StoredReplayCycle } from '@po/db';
import { z } from 'zod';
import { predictionErrorSchema, predictionErrors } from './prediction-error.ts';
import { median, percentile } from './stats.ts';

const pct = (d: string) =>
  z.number().nullable().describe(`${d} (percent of the cycles counted; null without any)`);
const stat = (d: string) => z.number().nullable().describe(`${d}; null without any cycle`);
const distribution = (d: string) =>
  z
    .object({ median: stat('Median'), p95: stat('95th percentile (nearest rank)'), max: stat('Largest') })
    .describe(d);
const costStats = (d: string) =>
  z.object({ mean: stat('Mean'), median: stat('Median'), total: stat('Sum over the window') }).describe(d);
const reasonCounts = z
  .array(z.object({ reason: z.string(), cycles: z.number() }))
  .describe('Reasons and how many cycles each, most frequent first.');

/** The replay report: what a strategy would have done over a window of plant history. */
export const replayReportSchema = z
  .object({
    replay: z.object({
      id: z.string(),
      data_table: z.string(),
      from: z.string().describe('Window start (ISO 8601, included).'),
      to: z.string().describe('Window end (ISO 8601, included).'),
      every: z.number().describe('Every Nth row of the window was run.'),
      strategy_version: z.string().nullable(),
      strategy_source: z.string().nullable(),
      status: z.enum(['running', 'interrupted', 'done', 'failed']),
      reason: z.string().nullable(),
    }),
    rows: z
      .object({
        in_window: z.number().nullable().describe('Plant rows in the window when the replay started.'),
        selected: z.number().nullable().describe('Rows the replay runs (every Nth).'),
        not_selected: z.number().nullable().describe('Rows left out by --every.'),
        stored: z.number().describe('Cycles stored (run + skipped).'),
        pending: z.number().nullable().describe('Selected rows not stored yet (an interrupted replay).'),
      })
      .describe('Every row accounted for: in_window = stored + pending + not_selected.'),
    cycles: z
      .object({
        run: z.number().describe('Cycles where the strategy ran: solved + held + monitored + failed.'),
        solved: z.number().describe('Advisory cycles that recommended a move.'),
        held: z
          .number()
          .describe('Advisory cycles where the optimizer found nothing better and held the current values.'),
        monitored: z.number().describe('Monitor-mode cycles (predictions and scores, no recommendation).'),
        skipped: z.number().describe('Cycles not run: missing columns or bad inputs.'),
        failed: z.number().describe('Cycles where the strategy raised an error.'),
        bias_corrected: z
          .number()
          .describe(
            'Cycles that ran with a model output shifted by its filtered bias (models.bias_correction), as model_trust says.',
          ),
        forced_monitor: z
          .number()
          .describe(
            'Monitor-mode cycles that ran so because a critical model was bad (model-plant mismatch); counted in monitored.',
          ),
        skipped_reasons: reasonCounts,
        failed_reasons: reasonCounts,
      })
      .describe('What happened to each stored cycle.'),
    decision_variables: z
      .record(
        z.string(),
        z.object({
          cycles: z.number().describe('Cycles with a recommendation for it.'),
          move: distribution('Size of the recommended move, |recommended - current|, in its units.'),
          at_bound_pct: pct('Cycles whose recommendation sits on a bound of the cycle'),
          at_lower_pct: pct('... on the lower bound'),
          at_upper_pct: pct('... on the upper bound'),
        }),
      )
      .describe('Per decision variable, over solved and held cycles.'),
    constraints: z
      .record(
        z.string(),
        z.object({
          active_at_recommendation_pct: pct(
            'Cycles whose model-estimated score at the recommendation is below 1',
          ),
          active_at_actual_pct: pct(
            "Cycles whose model-estimated score at the plant's actual values is below 1",
          ),
          worst_at_recommendation: stat('Lowest model-estimated score at the recommendation'),
          worst_at_actual: stat("Lowest model-estimated score at the plant's actual values"),
          cycles: z.number().describe('Cycles with a score.'),
        }),
      )
      .describe('Per constraint score, over cycles that ran (model-estimated: scores of predicted values).'),
    cost: z
      .object({
        model_estimated: z.literal(true).describe('Costs are what the strategy computes, not measured.'),
        cycles: z.number().describe('Advisory cycles with both costs.'),
        at_actual: costStats("Model-estimated cost at the plant's actual values"),
        at_recommendation: costStats('Model-estimated cost at the recommendation'),
        improvement: costStats('Model-estimated improvement, at_actual - at_recommendation'),
      })
      .describe('The model-estimated cost over the window.'),
    models: z
      .record(
        z.string(),
        z.object({
          cycles: z.number().describe('Cycles that ran with a training-domain check of this model.'),
          domain: z
            .enum(['metadata', 'scalers', 'unknown'])
            .nullable()
            .describe('Where its training domain comes from (the newest cycle’s); unknown: not checked.'),
          extrapolating_at_actual_pct: pct(
            "Cycles whose inputs at the plant's actual values leave the model's training domain",
          ),
          extrapolating_at_recommendation_pct: pct(
            "Cycles whose inputs at the recommendation leave the model's training domain",
          ),
          worst_excursion_fraction: stat(
            'Farthest any input went outside its training range, as a fraction of that range',
          ),
        }),
      )
      .describe(
        'Per InferenceModel skill, from each cycle’s model_trust (training domain); prediction_error has the error of each model output against what the plant did next.',
      ),
    prediction_error: predictionErrorSchema,
  })
  .describe('A replay report; every figure computed from the stored cycles (replay_results).');

export type ReplayReport = z.infer<typeof replayReportSchema>;

const ascending = (values: number[]) => values.sort((a, b) => a - b);
const percentOf = (count: number, of: number) => (of === 0 ? null : (100 * count) / of);

function costFigures(values: number[]) {
  const sorted = ascending([...values]);
  const total = values.reduce((s, v) => s + v, 0);
  return {
    mean: values.length === 0 ? null : total / values.length,
    median: median(sorted),
    total: values.length === 0 ? null : total,
  };
}

/** The report of a replay, from its stored cycles. Pure. */
export function replayReport(replay: Replay, cycles: readonly StoredReplayCycle[]): ReplayReport {
  const selected = replay.rowsInWindow === null ? null : Math.ceil(replay.rowsInWindow / replay.every);
  return {
    replay: {
      id: replay.id,
      data_table: replay.dataTable,
      from: replay.from.toISOString(),
      to: replay.to.toISOString(),
      every: replay.every,
      strategy_version: replay.strategyVersion,
      strategy_source: replay.strategySource,
      status: replay.status,
      reason: replay.reason,
    },
    rows: {
      in_window: replay.rowsInWindow,
      selected,
      not_selected: replay.rowsInWindow === null || selected === null ? null : replay.rowsInWindow - selected,
      stored: cycles.length,
      pending: selected === null ? null : selected - cycles.length,
    },
    cycles: cycleCounts(cycles),
    decision_variables: decisionVariables(cycles),
    constraints: constraints(cycles),
    cost: cost(cycles),
    models: models(cycles),
    prediction_error: predictionErrors(replay.predictionChecks, cycles),
  };
}

/** Cycle counts and reasons; one place defines solved, held, monitored. */
export function cycleCounts(cycles: readonly ReplayCycleOutcome[]): ReplayReport['cycles'] {
  const counts = {
    run: 0,
    solved: 0,
    held: 0,
    monitored: 0,
    skipped: 0,
    failed: 0,
    bias_corrected: 0,
    forced_monitor: 0,
  };
  const skipped = new Map<string, number>();
  const failed = new Map<string, number>();
  for (const c of cycles) {
    if (c.status === 'skipped') {
      counts.skipped++;
      bump(skipped, skipReason(c));
      continue;
    }
    counts.run++;
    if (c.status === 'failed') {
      counts.failed++;
      bump(failed, c.reason ?? 'no reason given');
      continue;
    }
    if (biasCorrected(c.models)) counts.bias_corrected++;
    if (c.mode === 'monitor') {
      counts.monitored++;
      // An ok cycle has a reason only when a bad critical model forced monitor mode.
      if (c.reason !== null) counts.forced_monitor++;
    } else if (c.held) counts.held++;
    else counts.solved++;
  }
  return { ...counts, skipped_reasons: ranked(skipped), failed_reasons: ranked(failed) };
}

/** Whether a cycle's model_trust says some model's output was shifted by its bias. */
function biasCorrected(models: unknown): boolean {
  const byModel = (models as { models?: Record<string, { bias_correction?: unknown }> } | null)?.models;
  return Object.values(byModel ?? {}).some((m) => typeof m.bias_correction === 'number');
}

/** A skip's reason without the readings, so that equal causes group: `bad input: Feed (valid_max)`. */
function skipReason(c: ReplayCycleOutcome): string {
  const issues = Array.isArray(c.substitutions)
    ? (c.substitutions as { variable: string; rule: string; action: string }[])
    : [];
  const skipping = issues.filter((i) => i.action === 'skipped');
  if (skipping.length === 0) return c.reason ?? 'no reason given';
  return `bad input: ${skipping.map((i) => `${i.variable} (${i.rule})`).join(', ')}`;
}

function bump(map: Map<string, number>, key: string) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function ranked(map: Map<string, number>) {
  return [...map]
    .map(([reason, cycles]) => ({ reason, cycles }))
    .sort((a, b) => b.cycles - a.cycles || a.reason.localeCompare(b.reason));
}

function decisionVariables(cycles: readonly StoredReplayCycle[]): ReplayReport['decision_variables'] {
  const per = new Map<string, { moves: number[]; lower: number; upper: number }>();
  for (const c of cycles) {
    if (c.status !== 'ok' || !c.decisions) continue;
    for (const [name, d] of Object.entries(c.decisions)) {
      if (d.current === null || d.recommended === null) continue;
      const v = per.get(name) ?? { moves: [], lower: 0, upper: 0 };
      per.set(name, v);
      v.moves.push(Math.abs(d.recommended - d.current));
      if (d.at_bound === 'lower') v.lower++;
      if (d.at_bound === 'upper') v.upper++;
    }
  }
  const out: ReplayReport['decision_variables'] = {};
  for (const [name, v] of per) {
    const sorted = ascending(v.moves);
    const n = sorted.length;
    out[name] = {
      cycles: n,
      move: { median: median(sorted), p95: percentile(sorted, 95), max: n === 0 ? null : sorted[n - 1]! },
      at_bound_pct: percentOf(v.lower + v.upper, n),
      at_lower_pct: percentOf(v.lower, n),
      at_upper_pct: percentOf(v.upper, n),
    };
  }
  return out;
}

function constraints(cycles: readonly StoredReplayCycle[]): ReplayReport['constraints'] {
  type Tally = { rec: number[]; actual: number[]; cycles: number };
  const per = new Map<string, Tally>();
  for (const c of cycles) {
    if (c.status !== 'ok' || !c.constraintScores) continue;
    for (const [name, s] of Object.entries(c.constraintScores)) {
      const t = per.get(name) ?? { rec: [], actual: [], cycles: 0 };
      per.set(name, t);
      t.cycles++;
      if (typeof s.recommended === 'number') t.rec.push(s.recommended);
      if (typeof s.at_current === 'number') t.actual.push(s.at_current);
    }
  }
  const out: ReplayReport['constraints'] = {};
  const worst = (v: number[]) => (v.length === 0 ? null : Math.min(...v));
  for (const [name, t] of per) {
    out[name] = {
      active_at_recommendation_pct: percentOf(t.rec.filter((s) => s < 1).length, t.rec.length),
      active_at_actual_pct: percentOf(t.actual.filter((s) => s < 1).length, t.actual.length),
      worst_at_recommendation: worst(t.rec),
      worst_at_actual: worst(t.actual),
      cycles: t.cycles,
    };
  }
  return out;
}

function cost(cycles: readonly StoredReplayCycle[]): ReplayReport['cost'] {
  const actual: number[] = [];
  const recommended: number[] = [];
  const improvement: number[] = [];
  for (const c of cycles) {
    if (c.status !== 'ok' || c.costAtCurrent === null || c.costRecommended === null) continue;
    actual.push(c.costAtCurrent);
    recommended.push(c.costRecommended);
    improvement.push(c.costAtCurrent - c.costRecommended);
  }
  return {
    model_estimated: true,
    cycles: actual.length,
    at_actual: costFigures(actual),
    at_recommendation: costFigures(recommended),
    improvement: costFigures(improvement),
  };
}

/** The parts of a stored cycle's `model_trust` the report reads (the engine's `ModelTrustSection`). */
interface StoredTrust {
  models?: Record<
    string,
    {
      domain?: 'metadata' | 'scalers' | 'unknown';
      at_current?: StoredDomainCheck;
      at_recommendation?: StoredDomainCheck | null;
    }
  >;
}
type StoredDomainCheck = { inside: boolean; outside: { fraction: number | null }[] };

function models(cycles: readonly StoredReplayCycle[]): ReplayReport['models'] {
  type Tally = {
    cycles: number;
    domain: 'metadata' | 'scalers' | 'unknown' | null;
    actual: number;
    recommendations: number;
    atRecommendation: number;
    worst: number | null;
  };
  const per = new Map<string, Tally>();
  for (const c of cycles) {
    const trust = c.models as StoredTrust | null;
    if (c.status !== 'ok' || !trust?.models) continue;
    for (const [name, m] of Object.entries(trust.models)) {
      const t = per.get(name) ?? {
        cycles: 0,
        domain: null,
        actual: 0,
        recommendations: 0,
        atRecommendation: 0,
        worst: null,
      };
      per.set(name, t);
      t.cycles++;
      t.domain = m.domain ?? null;
      if (m.at_current && !m.at_current.inside) t.actual++;
      if (m.at_recommendation) {
        t.recommendations++;
        if (!m.at_recommendation.inside) t.atRecommendation++;
      }
      for (const o of [...(m.at_current?.outside ?? []), ...(m.at_recommendation?.outside ?? [])]) {
        if (o.fraction !== null && (t.worst === null || o.fraction > t.worst)) t.worst = o.fraction;
      }
    }
  }
  const out: ReplayReport['models'] = {};
  for (const [name, t] of per) {
    out[name] = {
      cycles: t.cycles,
      domain: t.domain,
      extrapolating_at_actual_pct: percentOf(t.actual, t.cycles),
      extrapolating_at_recommendation_pct: percentOf(t.atRecommendation, t.recommendations),
      worst_excursion_fraction: t.worst,
    };
  }
  return out;
}
