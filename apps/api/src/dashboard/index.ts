/**
 * The control-room dashboard: server-rendered pages at `/`, `/trends`, `/history`, `/strategy`,
 * `/what-if`, `/deploy`, live updates by server-sent events (`/live`), assets under `/assets/`.
 * Reads the same results tables as the API; every write (feedback, deploy) checks the role and
 * a CSRF token, and is audited.
 */
import { Hono } from 'hono';
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
} from './context.ts';
import { createLiveHub } from './live.ts';
import { deployRoutes } from './views/deploy.ts';
import { historyRoutes } from './views/history.ts';
import { loginView } from './views/login.ts';
import { nowView } from './views/now.ts';
import { strategyRoutes } from './views/strategy.ts';
import { trendsRoutes } from './views/trends.ts';
import { whatIfRoutes } from './views/what-if.ts';

export type { DashboardOptions } from './context.ts';
export { PAGE_PATHS } from './page.ts';

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
]);

/** A session lasts one long shift. */
const SESSION_S = 12 * 3600;

/** The dashboard's routes, mounted at `/` by `createApp`. */
export function dashboardRoutes(options: DashboardOptions) {
  const live = createLiveHub(async () => {
    const c = await newestCycle(options);
    return c && { id: c.id, status: c.status, dataTimestamp: c.dataTimestamp.toISOString() };
  }, options.logger);
  const app = new Hono();
  app.use(csrf());
  app.route('/assets', assetRoutes());
  app.get('/live', live.handler);

  app.get('/', async (c) => {
    const [newest, recommendation, { facts }] = await Promise.all([
      newestCycle(options),
      newestCycle(options, 'ok'),
      deployedFacts(options),
    ]);
    const who = identityOf(c);
    const body = nowView({
      newest,
      recommendation,
      facts,
      identity: who,
      canFeedback: Boolean(options.results) && hasRole(who, 'operator'),
      csrf: csrfToken(c),
      done: c.req.query('done'),
    });
    return render(c, options, { title: 'Now', path: '/', body, live: true });
  });

  app.post('/feedback', async (c) => {
    const form = await c.req.parseBody();
    checkCsrf(c, form._csrf);
    const check = await allowed(c, options, 'operator', 'accepting or rejecting a recommendation');
    if ('refusal' in check) return check.refusal;
    const decision = form.decision;
    const reason = typeof form.reason === 'string' ? form.reason.trim() : '';
    const id = typeof form.result === 'string' ? form.result : '';
    const problem =
      decision !== 'accepted' && decision !== 'rejected'
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
        body: html`<h1>Feedback not recorded</h1><p class="problem" role="alert">${problem}.</p><p><a href="/">Back to Now</a></p>`,
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
    return c.redirect(`/?done=${decision}`, 303);
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
