import type { ReplayReport } from '@po/runner';
import Table from 'cli-table3';

const num = (x: number | null | undefined, digits = 4): string => {
  if (x === null || x === undefined) return '-';
  const abs = Math.abs(x);
  if (abs !== 0 && (abs >= 1e7 || abs < 1e-3)) return x.toExponential(3);
  return Number(x.toFixed(digits)).toString();
};
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${x.toFixed(1)} %`);

type Row = [string, ...string[]];

/** The rows of one report, as label -> figure; several reports print side by side. */
function rows(r: ReplayReport): Row[] {
  const out: Row[] = [
    ['strategy', r.replay.strategy_version ?? r.replay.strategy_source ?? '-'],
    [
      'rows in window / selected / stored',
      `${r.rows.in_window ?? '-'} / ${r.rows.selected ?? '-'} / ${r.rows.stored}`,
    ],
    ['cycles run', String(r.cycles.run)],
    ['  solved', String(r.cycles.solved)],
    ['  held (no better point)', String(r.cycles.held)],
    ['  monitored', String(r.cycles.monitored)],
    ['    forced by a bad critical model (mismatch)', String(r.cycles.forced_monitor)],
    ['  bias-corrected (models.bias_correction)', String(r.cycles.bias_corrected)],
    ['  failed', String(r.cycles.failed)],
    ['skipped', String(r.cycles.skipped)],
  ];
  for (const s of r.cycles.skipped_reasons) out.push([`  skipped: ${s.reason}`, String(s.cycles)]);
  for (const s of r.cycles.failed_reasons) out.push([`  failed: ${s.reason}`, String(s.cycles)]);
  for (const [name, d] of Object.entries(r.decision_variables)) {
    out.push([
      `${name} move median / p95 / max`,
      `${num(d.move.median)} / ${num(d.move.p95)} / ${num(d.move.max)}`,
    ]);
    out.push([`${name} at a bound`, pct(d.at_bound_pct)]);
  }
  for (const [name, c] of Object.entries(r.constraints)) {
    out.push([
      `${name} active at recommendation / actual (model-estimated)`,
      `${pct(c.active_at_recommendation_pct)} / ${pct(c.active_at_actual_pct)}`,
    ]);
    out.push([
      `${name} worst score at recommendation / actual (model-estimated)`,
      `${num(c.worst_at_recommendation)} / ${num(c.worst_at_actual)}`,
    ]);
  }
  const cost = (label: string, f: ReplayReport['cost']['at_actual']) =>
    out.push([
      `${label} mean / median / total (model-estimated)`,
      `${num(f.mean)} / ${num(f.median)} / ${num(f.total)}`,
    ]);
  cost('cost at actual', r.cost.at_actual);
  cost('cost at recommendation', r.cost.at_recommendation);
  cost('improvement', r.cost.improvement);
  for (const [name, m] of Object.entries(r.models)) {
    out.push([
      `${name} outside its training domain at actual / recommendation`,
      `${pct(m.extrapolating_at_actual_pct)} / ${pct(m.extrapolating_at_recommendation_pct)}`,
    ]);
  }
  out.push(...predictionErrorRows(r.prediction_error));
  return out;
}

/** Per model output: its holding prediction against what the plant measured next. */
function predictionErrorRows(e: ReplayReport['prediction_error']): Row[] {
  if (!e.recorded) return [['prediction error', e.description]];
  const out: Row[] = [
    [
      'prediction error compared with',
      e.comparison === 'next_row' ? 'the next replayed row' : `the first row >= ${e.horizon_s} s later`,
    ],
  ];
  for (const [name, o] of Object.entries(e.outputs)) {
    const label = `${name}${o.model ? ` (${o.model})` : ''}`;
    if (o.measured_by === null) {
      out.push([`${label} prediction error`, 'not measured: no plant-data column']);
      continue;
    }
    out.push([`${label} vs ${o.measured_by}: pairs`, `${o.pairs} of ${o.predictions}`]);
    out.push([
      `${name} error bias / MAE / RMSE / p95 (measured - model-estimated)`,
      `${num(o.bias)} / ${num(o.mean_abs_error)} / ${num(o.rmse)} / ${num(o.p95_abs_error)}`,
    ]);
  }
  return out;
}

/** One report, or several over the same window side by side (`--compare`). */
export function formatReplayReports(reports: readonly ReplayReport[]): string {
  const first = reports[0]!;
  const header = `Replay ${reports.map((r) => r.replay.id).join(' vs ')}: ${first.replay.data_table} ${first.replay.from} .. ${first.replay.to}, every ${first.replay.every} row${first.replay.every === 1 ? '' : 's'} (${reports.map((r) => r.replay.status).join(' / ')})`;
  const byLabel = new Map<string, string[]>();
  reports.forEach((report, i) => {
    for (const [label, value] of rows(report)) {
      const cells = byLabel.get(label) ?? Array.from({ length: reports.length }, () => '-');
      cells[i] = value ?? '-';
      byLabel.set(label, cells);
    }
  });
  const table = new Table({ head: ['', ...reports.map((r) => r.replay.strategy_version ?? 'strategy')] });
  for (const [label, cells] of byLabel) table.push([label, ...cells]);
  return `${header}\n${table.toString()}`;
}
