/** What every dashboard request shares: who asks, the CSRF token, the status bar, the strategy's facts. */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from '@po/core';
import { describeError } from '@po/core';
import type { CycleResult, PlantState, StrategySpec } from '@po/rto-engine';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { httpError } from '../errors.ts';
import { type Access, hasRole, type Identity, identityOf, type Role } from '../middleware/auth.ts';
import type { ValidationReport } from '../schemas.ts';
import type { Deployed } from '../strategy-sources.ts';
import type { DashboardData, ResultsStore, StrategySource, StrategyVersions, UnitsView } from '../types.ts';
import { type Html, type NavView, page, problemPage, type StatusFacts, VIEWS } from './page.ts';
import { type CycleView, cycleView, type VariableFacts, variableFacts } from './plant-model.ts';

/** What the dashboard is built on (`createApp` passes these). */
export interface DashboardOptions {
  access: Access;
  strategies: StrategySource;
  deployed: () => Promise<Deployed>;
  data?: DashboardData | undefined;
  results?: ResultsStore | undefined;
  versions?: StrategyVersions | undefined;
  health?: (() => Promise<Record<string, unknown>>) | undefined;
  serviceMode: string;
  /** A newest cycle older than this is stale (red status bar). */
  staleAfterMs: number;
  simulate: (state: PlantState, decisions: Record<string, number>) => Promise<CycleResult>;
  /** Validates a strategy text with its models (the pool's validate). */
  validate: (text: string) => Promise<ValidationReport>;
  logger: Logger;
  /** The fleet's units (`/dashboard/units`); undefined on the single-unit service. */
  units?: UnitsView | undefined;
  /** Runs what-if simulations on another strategy than the deployed one (a unit's). */
  simulateOn?: ((deployed: () => Promise<Deployed>) => DashboardOptions['simulate']) | undefined;
  /** Where these views live: '' at the root, `/dashboard/units/<id>` for a unit. */
  base?: string | undefined;
  /** The unit these views show (its id, name and `/units/{id}` record), when scoped to one. */
  unit?: { id: string; name: string; record: Record<string, unknown> } | undefined;
}

/** The dashboard of one unit's views: the root's, or the unit's when the request is scoped to one. */
export function scopeOf(c: Context, root: DashboardOptions): DashboardOptions {
  return (c.get(UNIT_SCOPE as never) as DashboardOptions | undefined) ?? root;
}
/** The context key the unit middleware sets. */
export const UNIT_SCOPE = 'po.dashboard.unit';

/** A path of a view (`/trends`) where these views live (`/dashboard/units/k1/trends`); `/` is the base. */
export function viewPath(options: DashboardOptions, path: string): string {
  const base = options.base ?? '';
  if (path === '/') return base || '/';
  return `${base}${path}`;
}

/** The overview of the fleet's units. */
export const UNITS_PATH = '/dashboard/units';

/** The views the navigation links to: the single unit's, the fleet root's, or a unit's. */
function navigation(options: DashboardOptions): readonly NavView[] {
  const units: NavView = { path: UNITS_PATH, label: 'Units', key: 'u' };
  if (options.unit) {
    return [
      units,
      ...VIEWS.filter((v) => v.path !== '/deploy').map((v) => ({ ...v, path: viewPath(options, v.path) })),
    ];
  }
  if (options.units) return [units, ...VIEWS.filter((v) => v.path === '/strategy' || v.path === '/deploy')];
  return VIEWS;
}

const CSRF_COOKIE = 'po_csrf';
const HEALTH_BUDGET_MS = 250;

/** The CSRF token of this browser (double submit: a SameSite=Strict cookie and the same value in each form). */
export function csrfToken(c: Context): string {
  const have = getCookie(c, CSRF_COOKIE);
  if (have && /^[a-f0-9]{32}$/.test(have)) return have;
  const token = randomBytes(16).toString('hex');
  setCookie(c, CSRF_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
  return token;
}

/** Refuses (403) a form post whose CSRF field does not match the cookie. */
export function checkCsrf(c: Context, sent: unknown): void {
  const have = getCookie(c, CSRF_COOKIE) ?? '';
  const given = typeof sent === 'string' ? sent : '';
  if (have.length !== 32 || given.length !== 32 || !timingSafeEqual(Buffer.from(have), Buffer.from(given))) {
    throw httpError.forbidden(
      'the form is stale or came from another site (CSRF check failed); reload the page and try again',
    );
  }
}

/** Strategy facts of the deployed strategy, or an empty map when none serves. */
export async function deployedFacts(options: DashboardOptions): Promise<{
  version: string | null;
  spec: StrategySpec | undefined;
  facts: Map<string, VariableFacts>;
}> {
  try {
    const { version, strategy } = await options.deployed();
    return { version, spec: strategy.spec, facts: variableFacts(strategy.spec) };
  } catch {
    return { version: null, spec: undefined, facts: new Map() };
  }
}

async function sections(options: DashboardOptions): Promise<Record<string, unknown>> {
  if (!options.health) return {};
  const timeout = new Promise<Record<string, unknown>>((done) =>
    setTimeout(() => done({}), HEALTH_BUDGET_MS).unref(),
  );
  return Promise.race([options.health().catch(() => ({})), timeout]);
}

/** The newest cycle, or undefined (also when the database does not answer: the status bar says so). */
export async function newestCycle(options: DashboardOptions, status?: 'ok'): Promise<CycleView | undefined> {
  if (!options.data) return undefined;
  const rows = await options.data.results({ limit: 1, ...(status ? { status } : {}) });
  return rows[0] && cycleView(rows[0]);
}

/** Everything the status bar shows, and why it is red. */
export async function statusFacts(options: DashboardOptions): Promise<StatusFacts> {
  const now = new Date();
  const strategy = options.strategies.status();
  const [health, last] = await Promise.all([
    sections(options),
    newestCycle(options).catch((e: unknown) => {
      options.logger.warn({ err: describeError(e) }, '[po/dashboard] results not readable');
      return undefined;
    }),
  ]);
  const runner = health.runner as StatusFacts['runner'];
  const database = health.database as StatusFacts['database'];
  const store = health.store as StatusFacts['store'];
  const unitModels = options.unit && unitMismatch(options.unit.record);
  const models = unitModels ?? (health.models as StatusFacts['models']);
  const alarms: string[] = [];
  const fleet = options.units && !options.unit ? await fleetFacts(options.units, options.logger) : undefined;
  // The fleet's root has no cycles of its own, nor needs a fleet-wide version: its alarms are the units'.
  if (strategy.state !== 'loaded' && !fleet)
    alarms.push(`strategy ${strategy.state}${strategy.error ? `: ${strategy.error}` : ''}`);
  if (fleet) {
    if (fleet.count === undefined) alarms.push('units not readable');
    if (fleet.failing > 0) alarms.push(`${fleet.failing} unit(s) failing`);
    if (fleet.unloaded > 0) alarms.push(`${fleet.unloaded} unit(s) without a loaded strategy`);
  } else if (!last) alarms.push('no recommendation recorded');
  else {
    if (now.getTime() - last.createdAt.getTime() > options.staleAfterMs)
      alarms.push('recommendations are stale');
    if (last.status !== 'ok') alarms.push(`last cycle ${last.status}`);
    if (last.optimizer?.held) alarms.push('po holds the current setpoints');
  }
  if (runner && !runner.healthy) alarms.push(`runner degraded: ${runner.degraded.join(', ')}`);
  if (database && !database.ok) alarms.push('database unreachable');
  if (models && !models.ok) alarms.push(`monitor mode forced: ${models.reason ?? 'a critical model is bad'}`);
  return {
    serviceMode: options.serviceMode,
    ...(options.unit ? { unit: { id: options.unit.id, name: options.unit.name } } : {}),
    ...(fleet ? { fleet } : {}),
    strategyMode: last?.mode ?? null,
    version: strategy.version,
    strategyState: strategy.state,
    strategyError: strategy.error,
    runner,
    lastCycle: last,
    alarms,
    store,
    database,
    models,
    now,
  };
}

/** Renders a view inside the page shell, for the identity of this request. */
export async function render(
  c: Context,
  options: DashboardOptions,
  view: { title: string; path: string; body: Html; scripts?: string[]; live?: boolean; status?: number },
): Promise<Response> {
  const status = await statusFacts(options);
  const identity = identityOf(c);
  const body = await page({
    ...view,
    path: viewPath(options, view.path),
    views: navigation(options),
    ...(options.base ? { liveSource: `${options.base}/live` } : {}),
    // Only a page with an identity listens: `/live` needs one (the sign-in form has none yet).
    listen: identity !== undefined,
    status,
    identity,
    tokensRequired: options.access.required,
  });
  return c.html(body, (view.status ?? 200) as 200);
}

/** Answers 403 with a page (a browser) unless the identity has `role`; returns the identity when it has. */
export async function allowed(
  c: Context,
  options: DashboardOptions,
  role: Role,
  what: string,
): Promise<{ identity: Identity } | { refusal: Response }> {
  const identity = identityOf(c);
  if (identity && hasRole(identity, role)) return { identity };
  const message = `${what} needs the ${role} role; ${identity ? `'${identity.name}' is a ${identity.role}` : 'sign in first'}.`;
  const status = await statusFacts(options);
  const body = await problemPage({
    title: 'Not allowed',
    path: c.req.path,
    views: navigation(options),
    status,
    identity,
    tokensRequired: options.access.required,
    message,
  });
  return { refusal: c.html(body, 403) };
}

/** Renders a problem page (an unknown unit, a bad unit id) with its status. */
export async function problem(
  c: Context,
  options: DashboardOptions,
  view: { title: string; status: 400 | 404 | 501 | 503; message: string },
): Promise<Response> {
  const status = await statusFacts(options);
  const body = await problemPage({
    title: view.title,
    path: c.req.path,
    views: navigation(options),
    status,
    identity: identityOf(c),
    tokensRequired: options.access.required,
    message: view.message,
  });
  return c.html(body, view.status);
}

/** How many units there are and how many fail (undefined count: the units could not be read). */
async function fleetFacts(units: UnitsView, logger: Logger): Promise<NonNullable<StatusFacts['fleet']>> {
  try {
    const list = await units.list();
    const state = (u: Record<string, unknown>) => (u.strategy as { state?: unknown } | undefined)?.state;
    return {
      count: list.length,
      failing: list.filter((u) => Number(u.consecutiveFailures) > 0).length,
      unloaded: list.filter((u) => state(u) === 'error' || state(u) === 'none').length,
    };
  } catch (e) {
    logger.warn({ err: describeError(e) }, '[po/dashboard] units not readable');
    return { count: undefined, failing: 0, unloaded: 0 };
  }
}

/**
 * A unit's model-plant mismatch, when its `/units/{id}` record carries one (`mismatch` or
 * `models`: per model `{ status }`, possibly under `models`/`mismatch` with a `forcedMonitor`).
 * Undefined when the fleet reports none: then the dashboard says nothing about it.
 */
export function unitMismatch(record: Record<string, unknown>): StatusFacts['models'] {
  const section = record.mismatch ?? record.models;
  if (!section || typeof section !== 'object') return undefined;
  const s = section as Record<string, unknown>;
  const inner =
    (typeof s.models === 'object' && s.models) || (typeof s.mismatch === 'object' && s.mismatch) || s;
  const mismatch: Record<string, { status: string }> = {};
  for (const [name, m] of Object.entries(inner as Record<string, unknown>)) {
    const status = m && typeof m === 'object' ? (m as { status?: unknown }).status : undefined;
    if (typeof status === 'string') mismatch[name] = { status };
  }
  const forced = typeof s.forcedMonitor === 'string' ? s.forcedMonitor : undefined;
  return { ok: forced === undefined, ...(forced ? { reason: forced } : {}), mismatch };
}
