/** History: cycles with status, reason, version, cost and the operator's decision; filters; CSV export. */
import { Hono } from 'hono';
import { html } from 'hono/html';
import { httpError } from '../../errors.ts';
import { type DashboardOptions, render, scopeOf, viewPath } from '../context.ts';
import { type CycleView, cycleView, formatNumber } from '../plant-model.ts';

const STATUSES = ['ok', 'skipped', 'failed'] as const;
type Status = (typeof STATUSES)[number];

function query(q: Record<string, string>): { status?: Status; since?: Date; until?: Date; limit: number } {
  const status = q.status && q.status !== 'all' ? q.status : undefined;
  if (status !== undefined && !STATUSES.includes(status as Status)) {
    throw httpError.badRequest(`status '${status}' is not one of all, ${STATUSES.join(', ')}`);
  }
  const at = (name: string) => {
    const v = q[name];
    if (!v) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime()))
      throw httpError.badRequest(`${name} '${v}' is not a date (use ISO 8601, e.g. 2026-12-01T06:00)`);
    return d;
  };
  const limit = q.limit ? Number(q.limit) : 200;
  if (!Number.isInteger(limit) || limit < 1 || limit > 20_000)
    throw httpError.badRequest(`limit '${q.limit}' must be an integer from 1 to 20000`);
  const since = at('since');
  const until = at('until');
  return {
    limit,
    ...(status ? { status: status as Status } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
}

const CSV_HEAD = [
  'id',
  'data_timestamp',
  'status',
  'reason',
  'strategy_version',
  'cost_at_current',
  'cost_recommended',
  'feedback',
  'operator',
  'feedback_reason',
  'setpoints',
];
const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};
const setpointText = (c: CycleView) =>
  Object.entries(c.setpoints)
    .map(([tag, s]) => `${tag}=${s.recommended}${s.units ? ` ${s.units}` : ''}`)
    .join('; ');

/** `GET /history` and `GET /history.csv`. */
export function historyRoutes(root: DashboardOptions) {
  const rows = async (options: DashboardOptions, q: Record<string, string>) => {
    if (!options.data) throw httpError.notConfigured('this po has no database: history needs one');
    return (await options.data.results(query(q))).map(cycleView);
  };
  return new Hono()
    .get('/history.csv', async (c) => {
      const options = scopeOf(c, root);
      const list = await rows(options, c.req.query());
      const lines = [CSV_HEAD.join(',')];
      for (const r of list) {
        lines.push(
          [
            r.id,
            r.dataTimestamp.toISOString(),
            r.status,
            r.reason,
            r.strategyVersion,
            r.costAtCurrent,
            r.costRecommended,
            r.lastFeedback?.decision,
            r.lastFeedback?.operator,
            r.lastFeedback?.reason,
            setpointText(r),
          ]
            .map(csvCell)
            .join(','),
        );
      }
      c.header('content-type', 'text/csv; charset=utf-8');
      c.header(
        'content-disposition',
        `attachment; filename="po-history${options.unit ? `-${options.unit.id}` : ''}.csv"`,
      );
      return c.body(`${lines.join('\n')}\n`);
    })
    .get('/history', async (c) => {
      const options = scopeOf(c, root);
      const q = c.req.query();
      const list = await rows(options, q);
      const selected = q.status ?? 'all';
      const search = new URLSearchParams(q).toString();
      const body = html`<h1>History</h1>
      <form method="get" action="${viewPath(options, '/history')}" class="controls" aria-label="filter">
        <label for="status">status</label>
        <select id="status" name="status">${['all', ...STATUSES].map((s) => html`<option ${s === selected ? 'selected' : ''}>${s}</option>`)}</select>
        <label for="since">since (UTC)</label><input id="since" name="since" type="datetime-local" value="${q.since ?? ''}">
        <label for="until">until (UTC)</label><input id="until" name="until" type="datetime-local" value="${q.until ?? ''}">
        <label for="limit">rows</label><input id="limit" name="limit" type="number" min="1" max="20000" value="${q.limit ?? '200'}">
        <button>Filter</button> <a href="${viewPath(options, '/history.csv')}?${search}" download>Export CSV</a>
      </form>
      <table class="grid" id="history"><caption>${list.length} cycles, newest first</caption>
      <thead><tr><th scope="col">cycle</th><th scope="col">plant data (UTC)</th><th scope="col">status</th><th scope="col">reason</th><th scope="col">strategy</th><th scope="col">cost holding</th><th scope="col">cost recommended</th><th scope="col">operator decision</th></tr></thead>
      <tbody>${list.map((r) => html`<tr data-status="${r.status}"><th scope="row">#${r.id}</th><td>${r.dataTimestamp.toISOString().replace('T', ' ').slice(0, 19)}</td><td>${r.status}</td><td>${r.reason ?? ''}</td><td>${r.strategyVersion ?? '–'}</td><td>${formatNumber(r.costAtCurrent)} (cost units)</td><td>${formatNumber(r.costRecommended)} (cost units)</td><td>${r.lastFeedback ? `${r.lastFeedback.decision}${r.lastFeedback.operator ? ` by ${r.lastFeedback.operator}` : ''}${r.lastFeedback.reason ? `: ${r.lastFeedback.reason}` : ''}` : '–'}</td></tr>`)}</tbody></table>`;
      return render(c, options, { title: 'History', path: '/history', body });
    });
}
