/**
 * The control-room dashboard: server-rendered pages at `/`, `/trends`, `/history`, `/strategy`,
 * `/what-if`, `/deploy`, live updates by server-sent events (`/live`), assets under `/assets/`.
 * With a fleet, `/dashboard/units` lists the units and `/dashboard/units/<id>/…` serves the same
 * views for one unit (its results, its plant data, the strategy its pointer deploys).
 * Reads the same results tables as the API; every write (feedback, deploy) checks the role and
 * a CSRF token, and is audited.
 */
import { type Context, Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { html } from 'hono/html';
import { hasRole, identityOf, SESSION_COOKIE } from '../middleware/auth.ts';
import { assetRoutes } from './assets.ts';
import {
  allowed,
  checkCsrf,
  csrfToken,
  type DashboardOptions,
  deployedFacts,
  newestCycle,
  render,
  scopeOf,
  UNITS_PATH,
} from './context.ts';
import { createLiveHub } from './live.ts';
import { PAGE_PATHS } from './page.ts';
import { isUnitPagePath, UNIT_VIEW_PATHS, unitIdProblem, unitRoutes, unitScope, unitsLive } from './units.ts';
import { deployRoutes } from './views/deploy.ts';
import { historyRoutes } from './views/history.ts';
import { loginView } from './views/login.ts';
import { nowView } from './views/now.ts';
import { strategyRoutes } from './views/strategy.ts';
import { trendsRoutes } from './views/trends.ts';
import { whatIfRoutes } from './views/what-if.ts';

export type { DashboardOptions } from './context.ts';
export { PAGE_PATHS } from './page.ts';

/** Whether a GET of `path` is a dashboard page (a browser without a session is sent to /login). */
export function isPagePath(path: string): boolean {
  return PAGE_PATHS.has(path) || isUnitPagePath(path);
}

/** The dashboard's own routes (HTML pages, their data, assets, SSE), which the OpenAPI document does not list. */
export const DASHBOARD_ROUTES: ReadonlySet<string> = new Set([
  '/',
  '/assets/:name',
  '/live',
  '/feedback',
  '/login',
  '/logout',
  '/trends',
  '/trends/data',
  '/history',
  '/history.csv',
  '/strategy',
  '/what-if',
  '/deploy',
  UNITS_PATH,
  ...UNIT_VIEW_PATHS.map((p) => `${UNITS_PATH}/:id${p === '/' ? '' : p}`),
]);

/** A session lasts one long shift. */
const SESSION_S = 12 * 3600;

/** The dashboard's routes, mounted at `/` by `createApp`. */
export function dashboardRoutes(options: DashboardOptions) {
  // The fleet's root has no cycles of its own: its pages follow the units.
  const live = options.units
    ? unitsLive(options)
    : createLiveHub(async () => {
        const c = await newestCycle(options);
        return c && { id: c.id, status: c.status, dataTimestamp: c.dataTimestamp.toISOString() };
      }, options.logger);
  const app = new Hono();
  app.use(csrf());
  app.route('/assets', assetRoutes());
  app.get('/live', live.handler);

  /** The Now view (the root's, or a unit's). */
  const now = async (c: Context) => {
    const view = scopeOf(c, options);
    // The fleet's root has no cycles of its own: it opens on the units.
    if (view.units && !view.unit) return c.redirect(UNITS_PATH, 302);
    const [newest, recommendation, { facts }] = await Promise.all([
      newestCycle(view),
      newestCycle(view, 'ok'),
      deployedFacts(view),
    ]);
    const who = identityOf(c);
    const body = nowView({
      newest,
      recommendation,
      facts,
      identity: who,
      canFeedback: Boolean(view.results) && hasRole(who, 'operator'),
      csrf: csrfToken(c),
      done: c.req.query('done'),
      back: view.base,
    });
    return render(c, view, { title: 'Now', path: '/', body, live: true });
  };
  if (options.units) {
    // The fleet: the units overview, then each unit's views under its own path.
    app.route(UNITS_PATH, unitRoutes(options));
    const scope = unitScope(options);
    app.use(`${UNITS_PATH}/:id`, scope.resolve);
    app.use(`${UNITS_PATH}/:id/*`, scope.resolve);
    app.get(`${UNITS_PATH}/:id/live`, scope.live);
    app.get(`${UNITS_PATH}/:id`, (c) => now(c));
    app.route(`${UNITS_PATH}/:id/trends`, trendsRoutes(options));
    app.route(`${UNITS_PATH}/:id`, historyRoutes(options));
    app.route(`${UNITS_PATH}/:id/strategy`, strategyRoutes(options));
    app.route(`${UNITS_PATH}/:id/what-if`, whatIfRoutes(options));
  }

  app.get('/', (c) => now(c));

  app.post('/feedback', async (c) => {
    const form = await c.req.parseBody();
    checkCsrf(c, form._csrf);
    const check = await allowed(c, options, 'operator', 'accepting or rejecting a recommendation');
    if ('refusal' in check) return check.refusal;
    const decision = form.decision;
    const reason = typeof form.reason === 'string' ? form.reason.trim() : '';
    const id = typeof form.result === 'string' ? form.result : '';
    // Back to the Now view the form was on: the root's or a unit's (only a valid unit path).
    const back = typeof form.back === 'string' && form.back !== '' ? form.back : '';
    const backId = back.startsWith(`${UNITS_PATH}/`) ? back.slice(UNITS_PATH.length + 1) : undefined;
    const backValid = back === '' || (backId !== undefined && unitIdProblem(backId) === undefined);
    const returnTo = backValid && back !== '' ? back : '/';
    const problem = !backValid
      ? 'the form names no Now view to return to'
      : decision !== 'accepted' && decision !== 'rejected'
        ? 'the decision must be accepted or rejected'
        : decision === 'rejected' && reason === ''
          ? 'a rejection needs a reason'
          : !/^\d+$/.test(id)
            ? 'the form names no result'
            : !options.results
              ? 'this po has no results store'
              : undefined;
    if (problem) {
      return render(c, options, {
        title: 'Feedback not recorded',
        path: '/',
        status: 400,
        body: html`<h1>Feedback not recorded</h1><p class="problem" role="alert">${problem}.</p><p><a href="${returnTo}">Back to Now</a></p>`,
      });
    }
    const { identity } = check;
    const stored = await options.results!.addFeedback(
      id,
      {
        decision: decision as 'accepted' | 'rejected',
        operator: identity.name,
        ...(reason ? { reason } : {}),
      },
      { actor: identity.name, role: identity.role },
    );
    if (stored === undefined) {
      return render(c, options, {
        title: 'No such result',
        path: '/',
        status: 404,
        body: html`<h1>No such result</h1><p class="problem" role="alert">There is no result #${id}.</p>`,
      });
    }
    return c.redirect(`${returnTo}?done=${decision}`, 303);
  });

  app.get('/login', (c) => {
    const next = safeNext(c.req.query('next'));
    return render(c, options, {
      title: 'Sign in',
      path: '/login',
      body: loginView({ next, csrf: csrfToken(c), required: options.access.required }),
    });
  });
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    checkCsrf(c, form._csrf);
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const identity = typeof form.token === 'string' ? options.access.byToken(form.token.trim()) : undefined;
    if (!identity) {
      return render(c, options, {
        title: 'Sign in',
        path: '/login',
        status: 401,
        body: loginView({ next, csrf: csrfToken(c), required: options.access.required, failed: true }),
      });
    }
    setCookie(c, SESSION_COOKIE, options.access.session.issue(identity, SESSION_S), {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
      maxAge: SESSION_S,
      secure: new URL(c.req.url).protocol === 'https:',
    });
    return c.redirect(next, 303);
  });
  app.post('/logout', async (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });

  app.route('/trends', trendsRoutes(options));
  app.route('/', historyRoutes(options));
  app.route('/strategy', strategyRoutes(options));
  app.route('/what-if', whatIfRoutes(options));
  app.route('/deploy', deployRoutes(options));
  return app;
}

/** Only a path on this site (never `//host` or a URL). */
function safeNext(next: string | undefined): string {
  return next && /^\/(?!\/)[\w\-./?=&%]*$/.test(next) ? next : '/';
}
