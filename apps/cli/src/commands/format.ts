import type { CycleResult } from '@po/rto-engine';
import Table from 'cli-table3';
import pc from 'picocolors';

const num = (x: number | null | undefined, digits = 4): string => {
  if (x === null || x === undefined) return '-';
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return x.toExponential(3);
  return Number(x.toFixed(digits)).toString();
};
const signed = (x: number | null | undefined): string =>
  x !== null && x !== undefined && x > 0 ? `+${num(x)}` : num(x);

type Colors = ReturnType<typeof pc.createColors>;

/** The readable form of a result: setpoints first, then predictions, constraints and the optimizer. */
export function formatResult(r: CycleResult, color: boolean): string {
  const c = color ? pc : pc.createColors(false);
  const title = r.mode === 'simulate' ? 'Simulation' : 'Recommendation';
  const lines = [
    c.bold(`${title}${r.config_version ? ` (strategy ${r.config_version})` : ''}`) +
      `  cost ${num(r.cost_at_current)} -> ${c.bold(num(r.cost_function_value))}  in ${num(r.duration_ms, 2)} ms`,
    decisionTable(r, c).toString(),
  ];
  for (const extra of [setpointTable(r, c), predictionTable(r, c), constraintTable(r, c)])
    if (extra.length > 0) lines.push(extra.toString());
  lines.push(optimizerLine(r, c));
  for (const w of r.warnings) lines.push(c.yellow(`warning: ${w}`));
  return lines.join('\n');
}

function table(head: string[], c: Colors): Table.Table {
  return new Table({
    head: head.map((h) => c.cyan(h)),
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
}

function decisionTable(r: CycleResult, c: Colors): Table.Table {
  const rows = table(['decision variable', 'current', 'recommended', 'delta', 'units', 'bounds', 'note'], c);
  const decisions = Object.entries(r.variables).filter(([, v]) => v.role === 'optimized');
  for (const [name, v] of decisions) {
    rows.push([
      name,
      num(v.user_input_value),
      c.bold(num(v.optimizer_suggested_value)),
      signed(v.delta),
      v.units ?? '',
      `[${num(v.lower_bound)}, ${num(v.upper_bound)}]`,
      v.at_bound ? `at ${v.at_bound} bound` : '',
    ]);
  }
  return rows;
}

function setpointTable(r: CycleResult, c: Colors): Table.Table {
  const rows = table(['setpoint (operative tag)', 'current', 'recommended', 'delta', 'units', 'from'], c);
  for (const [name, s] of Object.entries(r.setpoints)) {
    rows.push([
      name,
      num(s.current),
      c.bold(num(s.recommended)),
      signed(s.delta),
      s.units ?? '',
      s.from === name ? '' : s.from,
    ]);
  }
  return rows;
}

function predictionTable(r: CycleResult, c: Colors): Table.Table {
  const rows = table(['prediction', 'holding', 'at recommendation', 'units'], c);
  for (const [name, v] of Object.entries(r.predicted_variables)) {
    if (name.startsWith('delta_')) continue;
    rows.push([name, num(v.value_at_current), num(v.optimizer_suggested_value), v.units ?? '']);
  }
  return rows;
}

function constraintTable(r: CycleResult, c: Colors): Table.Table {
  const rows = table(['constraint score', 'holding', 'at recommendation', 'pushed by'], c);
  for (const [name, v] of Object.entries(r.constraint_variables)) {
    const ex = r.explanation.constraints[name];
    const score = v.optimizer_suggested_value ?? Number.NaN;
    const shown = score >= 1 ? c.green(num(score)) : score > 0 ? c.yellow(num(score)) : c.red(num(score));
    const by = ex
      ? ex.pushed_by
          .slice(0, 3)
          .map((p) => `${p.variable} (${signed(p.effect_over_threshold)})`)
          .join(', ')
      : '';
    rows.push([name, num(v.value_at_current), shown, by]);
  }
  return rows;
}

function optimizerLine(r: CycleResult, c: Colors): string {
  const o = r.optimizer;
  // Say what the strategy asked for when another name ran (`SLSQP` is an alias, `auto` a choice).
  const asked = o.requested && o.requested !== o.algorithm ? ` (requested ${o.requested})` : '';
  return (
    `optimizer ${o.algorithm}${asked}: ${o.message.replace(/\.$/, '')}; ${o.iterations} iterations, ${o.evaluations} evaluations in ${o.batches} batches` +
    (o.timed_out ? c.yellow(' (time limit reached)') : '') +
    (o.held ? c.yellow(' (held current values)') : '')
  );
}
