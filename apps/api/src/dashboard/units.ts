/**
 * The fleet on the dashboard: `/dashboard/units` lists the units (what `/units` reads), and
 * `/dashboard/units/<id>/…` serves the single unit's views scoped to one unit: its results, its
 * plant data (table and filter), the strategy its deploy pointer names, its own live updates.
 */
import { createHash } from 'node:crypto';
import { describeError } from '@po/core';
import { Hono, type MiddlewareHandler } from 'hono';
import { html } from 'hono/html';
import { deployedStrategy } from '../strategy-sources.ts';
import type { UnitScope } from '../types.ts';
import {
  type DashboardOptions,
  newestCycle,
  problem,
  render,
  scopeOf,
  UNIT_SCOPE,
  UNITS_PATH,
  unitMismatch,
} from './context.ts';
import { createLiveHub, UNITS_POLL_MS } from './live.ts';
import type { Html } from './page.ts';
import { age, formatNumber } from './plant-model.ts';

/** A unit id as @po/fleet accepts it (its `unitSchema`): URL-safe, so a unit's paths need no escaping. */
const UNIT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Why `id` is not a unit id, or undefined when it is one. */
export function unitIdProblem(id: string): string | undefined {
  if (UNIT_ID.test(id)) return undefined;
  const shown = id.length > 64 ? `${id.slice(0, 64)}…` : id;
  return `'${shown}' is not a unit id: a unit id is 1-63 letters, digits, _ . - starting with a letter or digit.`;
}

/**
 * A unit's views, by their path under `/dashboard/units/<id>` ('/' is its Now view), and whether
 * each is a page (a browser without a session signs in first) or data a page reads.
 */
const UNIT_VIEWS = [
  { path: '/', page: true },
  { path: '/live', page: false },
  { path: '/trends', page: true },
  { path: '/trends/data', page: false },
  { path: '/history', page: true },
  { path: '/history.csv', page: true },
  { path: '/strategy', page: true },
  { path: '/what-if', page: true },
] as const;

/** A unit's views, by their path under `/dashboard/units/<id>`. */
export const UNIT_VIEW_PATHS = UNIT_VIEWS.map((v) => v.path);

const UNIT_PAGES: ReadonlySet<string> = new Set(UNIT_VIEWS.filter((v) => v.page).map((v) => v.path));

/** Whether a path is a units page (the overview or a unit's view): a browser without a session signs in first. */
export function isUnitPagePath(path: string): boolean {
  if (path === UNITS_PATH) return true;
  if (!path.startsWith(`${UNITS_PATH}/`)) return false;
  const rest = path.slice(UNITS_PATH.length + 1);
  const slash = rest.indexOf('/');
  if (slash === 0 || rest === '') return false;
  return UNIT_PAGES.has(slash < 0 ? '/' : rest.slice(slash));
}

/** Each unit's views as the dashboard's options for it. */
function scopedOptions(
  options: DashboardOptions,
  id: string,
  record: Record<string, unknown>,
  scope: UnitScope,
): DashboardOptions {
  const deployed = deployedStrategy(scope.strategies);
  return {
    ...options,
    strategies: scope.strategies,
    deployed,
    data: scope.data,
    simulate: options.simulateOn
      ? options.simulateOn(deployed)
      : async (state, decisions) => (await deployed()).strategy.simulate(state, decisions),
    staleAfterMs: 3 * 1000 * scope.intervalS,
    base: `${UNITS_PATH}/${id}`,
    unit: { id, name: scope.name, record },
  };
}

/**
 * Resolves the unit of a `/dashboard/units/<id>/…` request (a 400 page for a bad id, a 404 page
 * naming an unknown one), and serves each unit's live updates from one watcher per unit.
 */
export function unitScope(options: DashboardOptions): {
  resolve: MiddlewareHandler;
  live: (c: Parameters<MiddlewareHandler>[0]) => Response | Promise<Response>;
} {
  const units = options.units!;
  // One watcher per unit that a page listens to; it reads the unit's scope of the latest request.
  const hubs = new Map<string, { hub: ReturnType<typeof createLiveHub>; scoped: DashboardOptions }>();
  const resolve: MiddlewareHandler = async (c, next) => {
    if (c.get(UNIT_SCOPE as never)) return next();
    const id = c.req.param('id') ?? '';
    const bad = unitIdProblem(id);
    if (bad) return problem(c, options, { title: 'Not a unit', status: 400, message: bad });
    if (!units.scope) {
      return problem(c, options, {
        title: 'Unit views not available',
        status: 501,
        message: `This po lists the fleet's units but cannot open unit '${id}' here.`,
      });
    }
    let record: Record<string, unknown> | undefined;
    let scope: UnitScope | undefined;
    try {
      [record, scope] = await Promise.all([units.get(id), units.scope(id)]);
    } catch (e) {
      options.logger.warn({ err: describeError(e), unit: id }, '[po/dashboard] unit not readable');
      return problem(c, options, {
        title: 'Unit not readable',
        status: 503,
        message: `Unit '${id}' could not be read: the database did not answer. Try again shortly.`,
      });
    }
    if (!record || !scope) {
      // A removed unit's watcher goes with it (pages still listening keep theirs until they close).
      hubs.delete(id);
      return problem(c, options, {
        title: 'No such unit',
        status: 404,
        message: `There is no unit '${id}' in this fleet (po units list shows them).`,
      });
    }
    const scoped = scopedOptions(options, id, record, scope);
    const entry = hubs.get(id);
    if (entry) entry.scoped = scoped;
    else {
      const created = {
        scoped,
        hub: createLiveHub(async () => {
          const r = await newestCycle(created.scoped);
          return r && { id: r.id, status: r.status, dataTimestamp: r.dataTimestamp.toISOString() };
        }, options.logger),
      };
      hubs.set(id, created);
    }
    c.set(UNIT_SCOPE as never, scoped as never);
    await next();
  };
  const live = (c: Parameters<MiddlewareHandler>[0]) => {
    const id = scopeOf(c, options).unit!.id;
    return hubs.get(id)!.hub.handler(c);
  };
  return { resolve, live };
}

const when = (v: unknown): Date | undefined => {
  if (v instanceof Date) return v;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
};
const utc = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 19);
const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

type UnitRecord = { id: string } & Record<string, unknown>;
interface LastCycle {
  dataTimestamp?: unknown;
  status?: unknown;
  reason?: unknown;
  strategyVersion?: unknown;
  recordedAt?: unknown;
}

/** One word for a unit's health, with the state class that colours it, and why. */
export function unitCondition(u: UnitRecord, now: Date): { label: string; tone: string; why?: string } {
  const last = u.lastCycle as LastCycle | null | undefined;
  const failing = count(u.consecutiveFailures);
  const intervalS = count(u.intervalS) || 60;
  if (failing > 0)
    return {
      label: 'failing',
      tone: 'beyond-physical',
      why: `${failing} failed cycle(s) since the last ok one${typeof last?.reason === 'string' ? `: ${last.reason}` : ''}`,
    };
  if (!last) return { label: 'no cycle yet', tone: 'unknown', why: 'no plant row has been run yet' };
  if (typeof u.lagS === 'number' && u.lagS > 3 * intervalS)
    return { label: 'lagging', tone: 'beyond-operating', why: `the newest queued data is ${u.lagS} s ahead` };
  const at = when(last.recordedAt);
  if (at && now.getTime() - at.getTime() > 3 * 1000 * intervalS)
    return { label: 'idle', tone: 'near', why: `no cycle for ${age(at, now)}: no new plant data?` };
  if (last.status === 'skipped')
    return { label: 'skipped', tone: 'near', why: typeof last.reason === 'string' ? last.reason : undefined };
  return { label: 'ok', tone: 'inside' };
}

/** The deployed strategy of a unit, when its record says (`strategy: { version, state }`). */
function deployedOf(u: UnitRecord): string {
  const s = u.strategy as { version?: unknown; state?: unknown } | undefined;
  if (!s || typeof s !== 'object') return '–';
  const version = typeof s.version === 'string' ? s.version : 'none';
  return s.state && s.state !== 'loaded' ? `${version} (${String(s.state)})` : version;
}

/** A unit's model-plant mismatch in a few words (models counted by status), and each model's in full. */
function mismatchText(u: UnitRecord): { short: string; full?: string } {
  const m = unitMismatch(u);
  if (!m) return { short: '–' };
  const entries = Object.entries(m.mismatch);
  if (entries.length === 0 && !m.reason) return { short: 'not compared yet' };
  const counts = new Map<string, number>();
  for (const [, s] of entries) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  const short = [...counts].map(([status, n]) => `${n} ${status}`).join(', ') || 'not compared yet';
  const full = entries.map(([n, s]) => `${n} ${s.status}`).join(', ');
  return m.reason
    ? { short: `${short}; monitor mode`, full: `${full}; monitor mode: ${m.reason}` }
    : { short, full };
}

const mismatchCell = (m: { short: string; full?: string }) =>
  html`<td${m.full ? html` title="${m.full}"` : ''}>${m.short}</td>`;

function unitsTable(list: readonly UnitRecord[], now: Date): Html {
  const mismatch = list.some((u) => unitMismatch(u) !== undefined);
  return html`<table class="grid" id="units"><caption>${list.length} unit(s)</caption>
    <thead><tr><th scope="col">unit</th><th scope="col">state</th><th scope="col">last cycle: plant data (UTC)</th><th scope="col">recorded</th><th scope="col">lag</th><th scope="col">failures</th><th scope="col">dropped late</th><th scope="col">strategy deployed</th><th scope="col">last cycle ran</th>${mismatch ? html`<th scope="col" title="model-plant mismatch">mismatch</th>` : ''}</tr></thead>
    <tbody>${list.map((u) => {
      const last = u.lastCycle as LastCycle | null | undefined;
      const data = when(last?.dataTimestamp);
      const recorded = when(last?.recordedAt);
      const cycles = (u.cycles ?? {}) as { failed?: unknown };
      const state = unitCondition(u, now);
      const name = typeof u.name === 'string' ? u.name : u.id;
      return html`<tr data-unit="${u.id}"><th scope="row"><a href="${UNITS_PATH}/${encodeURIComponent(u.id)}">${name}</a>${name === u.id ? '' : html` <small class="muted">${u.id}</small>`}</th>
        <td><span class="state state-${state.tone}" ${state.why ? html`title="${state.why}"` : ''}>${state.label}</span></td>
        <td>${data ? utc(data) : '–'}</td><td>${recorded ? `${age(recorded, now)} ago` : '–'}</td>
        <td>${typeof u.lagS === 'number' ? `${formatNumber(u.lagS)} s` : '–'}</td>
        <td>${count(u.consecutiveFailures)} in a row, ${count(cycles.failed)} in all</td>
        <td>${count(u.droppedLate)}</td>
        <td>${deployedOf(u)}</td><td>${typeof last?.strategyVersion === 'string' ? last.strategyVersion : '–'}</td>
        ${mismatch ? mismatchCell(mismatchText(u)) : ''}</tr>`;
    })}</tbody></table>`;
}

/**
 * The fleet root's live updates (`/live`: the root has no cycles of its own): an event `units`
 * with `{ id, units }` each time what `/units` reads changes (a unit's state, last cycle, lag,
 * failures, dropped-late count, strategy, mismatch), so the overview and the status bar follow.
 */
export function unitsLive(options: DashboardOptions) {
  return createLiveHub(
    async () => {
      const list = await options.units!.list();
      const id = createHash('sha256').update(JSON.stringify(list)).digest('base64url').slice(0, 16);
      return { id, units: list.length };
    },
    options.logger,
    { event: 'units', pollMs: UNITS_POLL_MS, what: 'units' },
  );
}

/** `GET /dashboard/units`: every unit of the fleet, each opening its own views; it follows them live. */
export function unitRoutes(options: DashboardOptions) {
  return new Hono().get('/', async (c) => {
    let list: UnitRecord[];
    try {
      list = await options.units!.list();
    } catch (e) {
      options.logger.warn({ err: describeError(e) }, '[po/dashboard] units not readable');
      return problem(c, options, {
        title: 'Units not readable',
        status: 503,
        message: 'The units could not be read: the database did not answer. Try again shortly.',
      });
    }
    const body =
      list.length === 0
        ? html`<h1>Units</h1><p role="status">This fleet has no units yet: add them with <code>po units add</code> or a units file (<code>config/units.yaml</code>).</p>`
        : html`<h1>Units <small>each opens its own Now, Trends, History, Strategy and What-if</small></h1>${unitsTable(list, new Date())}`;
    return render(c, options, { title: 'Units', path: UNITS_PATH, body, live: true });
  });
}
