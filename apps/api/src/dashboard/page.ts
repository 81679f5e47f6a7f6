/** The page shell every view shares: status bar, navigation, who is signed in, scripts. */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Identity } from '../middleware/auth.ts';
import { age, type CycleView } from './plant-model.ts';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** What the status bar shows. */
export interface StatusFacts {
  /** The service's mode (hybrid, api). */
  serviceMode: string;
  /** The fleet unit these views show. */
  unit?: { id: string; name: string } | undefined;
  /** The fleet's root: how many units (undefined: not readable) and how many fail. */
  fleet?: { count: number | undefined; failing: number; unloaded: number } | undefined;
  /** advisory or monitor (the strategy's, or the runner's override), or null before a cycle. */
  strategyMode: string | null;
  version: string | null;
  strategyState: string;
  strategyError?: string | undefined;
  runner?: { state: string; healthy: boolean; degraded: string[] } | undefined;
  lastCycle?: CycleView | undefined;
  /** Why recommendations must not be trusted now (stale, held, failed, runner degraded); empty when fine. */
  alarms: string[];
  store?: { ok: boolean; reason?: string } | undefined;
  database?: { ok: boolean; reason?: string } | undefined;
  /** Model-plant mismatch per model (the runner's `/health` section); undefined without a runner here. */
  models?: { ok: boolean; reason?: string; mismatch: Record<string, { status: string }> } | undefined;
  now: Date;
}

/** A view in the navigation: its path, label and access key. */
export interface NavView {
  path: string;
  label: string;
  key: string;
}

export const VIEWS: readonly NavView[] = [
  { path: '/', label: 'Now', key: 'n' },
  { path: '/trends', label: 'Trends', key: 't' },
  { path: '/history', label: 'History', key: 'h' },
  { path: '/strategy', label: 'Strategy', key: 's' },
  { path: '/what-if', label: 'What-if', key: 'w' },
  { path: '/deploy', label: 'Deploy', key: 'd' },
];

/** Paths the dashboard serves as pages (a browser without a session is sent to /login for these). */
export const PAGE_PATHS = new Set<string>([...VIEWS.map((v) => v.path), '/history.csv']);

const ok = (b: boolean | undefined) => (b === undefined ? 'unknown' : b ? 'ok' : 'fault');

/** Each compared model's mismatch status (good, suspect, bad, unknown), or why there is none. */
function modelsText(models: StatusFacts['models']): string {
  if (!models) return 'not compared in this process';
  const entries = Object.entries(models.mismatch);
  if (entries.length === 0) return 'no comparison with the plant yet';
  return entries.map(([name, m]) => `${name} ${m.status}`).join(', ');
}

/**
 * The deployed strategy. A fleet's root names its fleet-wide version, which units without a
 * pointer of their own run; without one (each unit has its own: the usual case) that is no fault.
 */
function strategyText(s: StatusFacts): Html {
  if (s.fleet && s.strategyState === 'none') {
    return html`<span><b>strategy</b> per unit, no fleet-wide version (each unit has its own pointer)</span>`;
  }
  const label = s.fleet ? 'fleet-wide strategy' : 'strategy';
  return html`<span${s.strategyError ? html` title="${s.strategyError}"` : ''}><b>${label}</b> ${s.version ?? 'none'} (${s.strategyState})</span>`;
}

function statusBar(s: StatusFacts): Html {
  const red = s.alarms.length > 0;
  const last = s.lastCycle;
  return html`<header id="status" class="status ${red ? 'status-red' : 'status-ok'}" role="status" aria-live="polite">
    ${s.unit ? html`<span data-unit="${s.unit.id}"><b>unit</b> ${s.unit.name}${s.unit.name === s.unit.id ? '' : ` (${s.unit.id})`}</span>` : ''}
    ${s.fleet ? html`<span><b>units</b> ${s.fleet.count ?? '?'}${s.fleet.failing ? ` (${s.fleet.failing} failing)` : ''}</span>` : ''}
    <span><b>mode</b> ${s.strategyMode ?? '–'} · ${s.serviceMode}</span>
    ${strategyText(s)}
    <span><b>runner</b> ${s.runner ? `${s.runner.state}${s.runner.healthy ? '' : ' (degraded)'}` : 'not in this process'}</span>
    ${s.fleet ? '' : html`<span><b>last cycle</b> ${last ? html`<span data-last-cycle="${last.id}">#${last.id} ${last.status}, ${age(last.createdAt, s.now)} ago</span>` : 'none yet'}</span>`}
    <span><b>store</b> ${ok(s.store?.ok)}</span>
    <span><b>database</b> ${ok(s.database?.ok)}</span>
    <span><b>models</b> ${modelsText(s.models)}</span>
    ${red ? html`<strong class="alarm">${s.alarms.join('; ')}</strong>` : ''}
  </header>`;
}

/** One page: status bar, navigation, a notice when the page runs without tokens, then the view. */
export function page(options: {
  title: string;
  path: string;
  status: StatusFacts;
  identity: Identity | undefined;
  tokensRequired: boolean;
  body: Html;
  /** Scripts served under /assets/ (file names). */
  scripts?: readonly string[];
  /** Whether a new cycle replaces the view (the Now view). */
  live?: boolean | undefined;
  /** The navigation's views. Default: the single unit's (`VIEWS`). */
  views?: readonly NavView[];
  /** Where the page listens for new cycles. Default `/live`. */
  liveSource?: string;
  /** Whether the page listens at all (not without a session: the sign-in form). */
  listen?: boolean;
}): Html {
  const who = options.identity;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · po</title>
<link rel="stylesheet" href="/assets/po.css">
${(options.scripts ?? []).includes('uPlot.iife.min.js') ? html`<link rel="stylesheet" href="/assets/uPlot.min.css">` : ''}
<link rel="icon" href="data:,">
</head>
<body${options.liveSource ? html` data-live-src="${options.liveSource}"` : ''}>
<a class="skip" href="#main">Skip to content</a>
${statusBar(options.status)}
<nav aria-label="views">
  <span class="brand">po</span>
  ${(options.views ?? VIEWS).map(
    (v) =>
      html`<a href="${v.path}" accesskey="${v.key}" ${v.path === options.path ? html`aria-current="page"` : ''}>${v.label}</a>`,
  )}
  <span class="who">${
    who
      ? html`${who.name} (${who.role})${who.via === 'session' ? html` · <form method="post" action="/logout" class="inline"><button>Sign out</button></form>` : ''}`
      : html`<a href="/login">Sign in</a>`
  }</span>
</nav>
${
  options.tokensRequired
    ? ''
    : html`<p class="notice" role="note">No token is configured: this dashboard is open to anyone who can reach it, read-only plus accept/reject as <b>${who?.role ?? 'viewer'}</b>; deploying needs an engineer token (PO_ENGINEER_TOKEN).</p>`
}
<main id="main" ${options.live ? html`data-live="1"` : ''} tabindex="-1">
${options.body}
</main>
${options.listen ? html`<script src="/assets/live.js" defer></script>` : ''}
${(options.scripts ?? []).map((s) => html`<script src="/assets/${s}" defer></script>`)}
</body>
</html>`;
}

/** An error page with its status (a 403 in the browser is this page). */
export function problemPage(options: Omit<Parameters<typeof page>[0], 'body'> & { message: string }): Html {
  return page({
    ...options,
    body: html`<h1>${options.title}</h1><p class="problem" role="alert">${options.message}</p>`,
  });
}
