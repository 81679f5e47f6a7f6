/** Trends: per variable, the plant value, the recommendation as steps, limits as bands, prediction against the plant. */
import { Hono } from 'hono';
import { html } from 'hono/html';
import { httpError } from '../../errors.ts';
import { type DashboardOptions, deployedFacts, render, scopeOf, viewPath } from '../context.ts';
import { cycleView, type Limits, type VariableFacts } from '../plant-model.ts';

export const RANGES: Readonly<Record<string, number>> = {
  '1h': 3600e3,
  '8h': 8 * 3600e3,
  '24h': 24 * 3600e3,
  '7d': 7 * 86_400e3,
};
const DEFAULT_COUNT = 4;

/** One drawn variable: arrays aligned on `times`. */
export interface TrendSeries {
  name: string;
  units: string | null;
  plant: (number | null)[];
  recommended?: (number | null)[];
  predicted?: (number | null)[];
  limits?: Limits;
}

function defaultVariables(facts: Map<string, VariableFacts>): string[] {
  const operative = [...facts.values()].filter((f) => f.type === 'Operative' && f.threshold);
  const predicted = [...facts.values()].filter((f) => f.type === 'Predicted' && f.limits);
  return [...operative.slice(0, DEFAULT_COUNT - Math.min(2, predicted.length)), ...predicted.slice(0, 2)].map(
    (f) => f.name,
  );
}

function parse(q: Record<string, string>, facts: Map<string, VariableFacts>) {
  const range = q.range ?? '1h';
  const span = RANGES[range];
  if (span === undefined)
    throw httpError.badRequest(`range '${range}' is not one of ${Object.keys(RANGES).join(', ')}`);
  const vars = q.vars ? q.vars.split(',').filter(Boolean) : defaultVariables(facts);
  const unknown = vars.filter((v) => !facts.has(v));
  if (unknown.length > 0)
    throw httpError.badRequest(`unknown variable(s) ${unknown.join(', ')}: not in the deployed strategy`);
  return { range, span, vars };
}

/** `GET /trends` (the page) and `GET /trends/data` (the series, JSON). */
export function trendsRoutes(root: DashboardOptions) {
  return new Hono()
    .get('/data', async (c) => {
      const options = scopeOf(c, root);
      if (!options.data) throw httpError.notConfigured('this po has no database: trends need one');
      const { facts } = await deployedFacts(options);
      const { span, vars } = parse(c.req.query(), facts);
      const until = c.req.query('until') ? new Date(c.req.query('until')!) : new Date();
      const since = new Date(until.getTime() - span);
      const available = new Set(await options.data.columns());
      const plantOf = (v: string) =>
        available.has(v)
          ? v
          : available.has(v.replace(/^predicted_/, ''))
            ? v.replace(/^predicted_/, '')
            : undefined;
      const columns = [...new Set(vars.map(plantOf).filter((v): v is string => v !== undefined))];
      const [plant, results] = await Promise.all([
        options.data.plant(columns, { since, until, limit: 200_000 }),
        options.data.results({ since, until, limit: 20_000 }),
      ]);
      const index = new Map(plant.times.map((t, i) => [t, i]));
      const times = [...plant.times];
      // A cycle's data timestamp is a plant row's; one not among the rows (cut by the window) gets its own point.
      const cycles = results.map(cycleView).reverse();
      for (const r of cycles) {
        const t = r.dataTimestamp.getTime();
        if (!index.has(t)) {
          index.set(t, times.length);
          times.push(t);
        }
      }
      const order = times.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0]);
      const empty = () => new Array<number | null>(times.length).fill(null);
      const series: TrendSeries[] = vars.map((name) => {
        const f = facts.get(name)!;
        const column = plantOf(name);
        const s: TrendSeries = {
          name,
          units: f.units,
          plant: column
            ? [...(plant.values[column] ?? []), ...new Array(times.length - plant.times.length).fill(null)]
            : empty(),
        };
        const limits =
          f.limits ??
          (f.min !== undefined || f.max !== undefined
            ? {
                ...(f.min !== undefined ? { varMin: f.min } : {}),
                ...(f.max !== undefined ? { varMax: f.max } : {}),
              }
            : undefined);
        if (limits) s.limits = limits;
        if (f.type === 'Operative' || f.type === 'Calculated') {
          const rec = empty();
          for (const r of cycles)
            rec[index.get(r.dataTimestamp.getTime())!] =
              r.setpoints[name]?.recommended ?? r.decisions[name]?.recommended ?? null;
          s.recommended = rec;
        }
        if (f.type === 'Predicted') {
          const pred = empty();
          for (const r of cycles)
            pred[index.get(r.dataTimestamp.getTime())!] = r.predictions[name]?.at_current ?? null;
          s.predicted = pred;
        }
        return s;
      });
      const sorted = <T>(a: T[]) => order.map(([, i]) => a[i] as T);
      return c.json({
        times: order.map(([t]) => t / 1000),
        series: series.map((s) => ({
          ...s,
          plant: sorted(s.plant),
          ...(s.recommended ? { recommended: sorted(s.recommended) } : {}),
          ...(s.predicted ? { predicted: sorted(s.predicted) } : {}),
        })),
      });
    })
    .get('/', async (c) => {
      const options = scopeOf(c, root);
      const { facts } = await deployedFacts(options);
      const { range, vars } = parse(c.req.query(), facts);
      const chosen = new Set(vars);
      const src = `${viewPath(options, '/trends/data')}?${new URLSearchParams({ range, vars: vars.join(',') })}`;
      const candidates = [...facts.values()].filter((f) =>
        ['Operative', 'Predicted', 'Informative', 'Calculated'].includes(f.type),
      );
      const body = html`<h1>Trends <small>${range}, cursors synchronised; drag to zoom, double-click to reset</small></h1>
      <form method="get" action="${viewPath(options, '/trends')}" class="controls" aria-label="trend settings">
        <fieldset><legend>range</legend>${Object.keys(RANGES).map((r) => html`<label><input type="radio" name="range" value="${r}" ${r === range ? 'checked' : ''}> ${r}</label> `)}</fieldset>
        <label for="vars">variables</label>
        <select id="vars" multiple size="4" aria-describedby="vars-help" onchange="this.form.elements.varsText.value=[...this.selectedOptions].map(o=>o.value).join(',')">${candidates.map((f) => html`<option value="${f.name}" ${chosen.has(f.name) ? 'selected' : ''}>${f.name}${f.units ? ` [${f.units}]` : ''}</option>`)}</select>
        <input type="hidden" name="vars" id="varsText" value="${vars.join(',')}">
        <span id="vars-help" class="muted">plant (blue), recommendation (yellow steps), prediction (violet, dashed); orange bands: beyond the operating limits, red: beyond the physical limits</span>
        <button>Show</button>
      </form>
      <div id="trends" class="charts" data-src="${src}" aria-live="polite">Loading…</div>`;
      return render(c, options, {
        title: 'Trends',
        path: '/trends',
        body,
        scripts: ['uPlot.iife.min.js', 'trends.js'],
      });
    });
}
