/**
 * Roles, sessions and CSRF of the dashboard and the API, through `app.request` (no database: the
 * results store here records what it is given; the real one runs in apps/cli's e2e test).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { type CyclePool, createCyclePool } from '../pool/index.ts';
import { noDashboardData } from '../testing/fleet.ts';
import type { AppOptions, ResultsStore, StrategySource } from '../types.ts';

let pool: CyclePool;
beforeAll(() => {
  pool = createCyclePool({ threads: 1 });
});
afterAll(async () => {
  await pool.close();
});

const nothingDeployed: StrategySource = {
  current: async () => undefined,
  status: () => ({ state: 'none', version: null }),
};

function recordingResults() {
  const calls: unknown[][] = [];
  const results: ResultsStore = {
    recent: async () => [],
    get: async () => undefined,
    addFeedback: async (...args) => {
      calls.push(args);
      return args[0] === '1' ? { id: 1 } : undefined;
    },
  };
  return { results, calls };
}

const app = (extra: Partial<AppOptions> = {}) =>
  createApp({ strategies: nothingDeployed, executor: pool, ...extra });
const TOKENS = { viewerToken: 'v-token-123', operatorToken: 'o-token-123', engineerToken: 'e-token-123' };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** The CSRF cookie and field of a page, as a browser would hold them. */
async function csrfOf(a: ReturnType<typeof app>, headers: Record<string, string> = {}) {
  const res = await a.request('/login', { headers });
  const cookie = /po_csrf=([a-f0-9]{32})/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const field = /name="_csrf" value="([a-f0-9]{32})"/.exec(await res.text())?.[1];
  expect(cookie).toBeDefined();
  expect(field).toBe(cookie);
  return cookie!;
}

const form = (fields: Record<string, string>, cookie: string, extra: Record<string, string> = {}) => ({
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    origin: 'http://localhost',
    cookie: `po_csrf=${cookie}${extra.cookie ? `; ${extra.cookie}` : ''}`,
  },
  body: new URLSearchParams(fields).toString(),
});

describe('without any token (a loopback bind)', () => {
  it('pages are open and say so; feedback is allowed (operator), deploy is not', async () => {
    const { results, calls } = recordingResults();
    const a = app({ results });
    const page = await a.request('/');
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/No token is configured: this dashboard is open to anyone/);
    const fb = await a.request('/results/1/feedback', json({ decision: 'accepted', operator: 'ana' }));
    expect(fb.status).toBe(201);
    expect(calls[0]?.[2]).toEqual({ actor: 'anonymous', role: 'operator' });
    const deploy = await a.request('/strategies/deploy', json({ version: '1.0.0' }));
    expect(deploy.status).toBe(403);
    expect(((await deploy.json()) as { error: string }).error).toMatch(
      /needs the engineer role; 'anonymous' is a operator/,
    );
  });

  it('a non-loopback bind without tokens is read-only', async () => {
    const a = app({ results: recordingResults().results, settings: { anonymousRole: 'viewer' } });
    expect(
      (await a.request('/results/1/feedback', json({ decision: 'accepted', operator: 'ana' }))).status,
    ).toBe(403);
  });
});

describe('with role tokens', () => {
  it('the API: viewer reads, operator gives feedback (audited as operator), engineer deploys', async () => {
    const { results, calls } = recordingResults();
    const a = app({ results, settings: TOKENS });
    expect((await a.request('/results')).status).toBe(401);
    expect((await a.request('/results', { headers: bearer('wrong') })).status).toBe(401);
    expect((await a.request('/results', { headers: bearer(TOKENS.viewerToken) })).status).toBe(200);
    expect(
      (
        await a.request(
          '/results/1/feedback',
          json({ decision: 'accepted', operator: 'ana' }, bearer(TOKENS.viewerToken)),
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await a.request(
          '/results/1/feedback',
          json({ decision: 'accepted', operator: 'ana' }, bearer(TOKENS.operatorToken)),
        )
      ).status,
    ).toBe(201);
    expect(calls[0]?.[2]).toEqual({ actor: 'operator', role: 'operator' });
    expect(
      (await a.request('/strategies/deploy', json({ version: '1.0.0' }, bearer(TOKENS.operatorToken))))
        .status,
    ).toBe(403);
    // The engineer passes the role check; this app has no store of versions (501).
    expect(
      (await a.request('/strategies/deploy', json({ version: '1.0.0' }, bearer(TOKENS.engineerToken))))
        .status,
    ).toBe(501);
  });

  it('a browser is sent to the login form; a token becomes an HttpOnly SameSite=Strict session', async () => {
    const a = app({
      settings: { ...TOKENS, users: [{ name: 'ana', role: 'operator', token: 'ana-token-0123456789' }] },
    });
    const page = await a.request('/trends');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Ftrends');
    const csrf = await csrfOf(a);
    const bad = await a.request('/login', form({ _csrf: csrf, token: 'nope', next: '/trends' }, csrf));
    expect(bad.status).toBe(401);
    const ok = await a.request(
      '/login',
      form({ _csrf: csrf, token: 'ana-token-0123456789', next: '/trends' }, csrf),
    );
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/trends');
    const cookie = ok.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/po_session=[^;]+;.*HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const session = /po_session=([^;]+)/.exec(cookie)![1]!;
    const signedIn = await a.request('/', { headers: { cookie: `po_session=${session}` } });
    expect(signedIn.status).toBe(200);
    expect(await signedIn.text()).toMatch(/ana \(operator\)/);
    // A forged session (changed payload) is no session.
    const forged = `${Buffer.from(JSON.stringify({ n: 'x', r: 'engineer', e: Date.now() + 1e6 })).toString('base64url')}.${session.split('.')[1]}`;
    expect((await a.request('/', { headers: { cookie: `po_session=${forged}` } })).status).toBe(303);
    // A redirect target off this site is ignored.
    const off = await a.request(
      '/login',
      form({ _csrf: csrf, token: 'ana-token-0123456789', next: '//evil.example/' }, csrf),
    );
    expect(off.headers.get('location')).toBe('/');
  });

  it('form posts need the CSRF field matching the cookie, and the operator role', async () => {
    const { results, calls } = recordingResults();
    const a = app({ results, settings: TOKENS });
    const csrf = await csrfOf(a);
    const signIn = async (token: string) => {
      const r = await a.request('/login', form({ _csrf: csrf, token, next: '/' }, csrf));
      return /po_session=([^;]+)/.exec(r.headers.get('set-cookie') ?? '')![1]!;
    };
    const operator = await signIn(TOKENS.operatorToken);
    const viewer = await signIn(TOKENS.viewerToken);
    const fields = { result: '1', decision: 'accepted', reason: 'fine' };
    const noCsrf = await a.request('/feedback', form(fields, csrf, { cookie: `po_session=${operator}` }));
    expect(noCsrf.status).toBe(403);
    const asViewer = await a.request(
      '/feedback',
      form({ ...fields, _csrf: csrf }, csrf, { cookie: `po_session=${viewer}` }),
    );
    expect(asViewer.status).toBe(403);
    expect(await asViewer.text()).toMatch(/needs the operator role/);
    expect(calls).toHaveLength(0);
    const reject = await a.request(
      '/feedback',
      form({ ...fields, decision: 'rejected', reason: '', _csrf: csrf }, csrf, {
        cookie: `po_session=${operator}`,
      }),
    );
    expect(reject.status).toBe(400);
    expect(await reject.text()).toMatch(/a rejection needs a reason/);
    const accepted = await a.request(
      '/feedback',
      form({ ...fields, _csrf: csrf }, csrf, { cookie: `po_session=${operator}` }),
    );
    expect(accepted.status).toBe(303);
    expect(calls[0]).toEqual([
      '1',
      { decision: 'accepted', operator: 'operator', reason: 'fine' },
      { actor: 'operator', role: 'operator' },
    ]);
  });

  it('a token a bearer header cannot carry is refused at start, naming the setting', () => {
    expect(() => app({ settings: { operatorToken: 'has space' } })).toThrow(
      /operator token \(PO_OPERATOR_TOKEN\)/,
    );
  });
});

describe('the units pages (a fleet)', () => {
  // A fleet of one unit in memory (the real one, on PostgreSQL, runs in apps/cli's tests).
  const units = (): AppOptions['units'] => ({
    list: async () => [{ id: 'k1', name: 'Kiln 1', lastCycle: null, consecutiveFailures: 0, intervalS: 60 }],
    get: async (id) => (id === 'k1' ? { id, name: 'Kiln 1' } : undefined),
    counters: () => new Map(),
    scope: async (id) =>
      id === 'k1'
        ? {
            name: 'Kiln 1',
            intervalS: 60,
            strategies: nothingDeployed,
            data: noDashboardData(),
          }
        : undefined,
  });

  it('a browser without a session signs in first; the data of a unit needs a token; roles read them', async () => {
    const a = app({ units: units(), settings: TOKENS });
    for (const path of ['/dashboard/units', '/dashboard/units/k1', '/dashboard/units/k1/history']) {
      const res = await a.request(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    expect((await a.request('/dashboard/units/k1/trends/data')).status).toBe(401);
    expect((await a.request('/dashboard/units/k1/live')).status).toBe(401);
    const overview = await a.request('/dashboard/units', { headers: bearer(TOKENS.viewerToken) });
    expect(overview.status).toBe(200);
    expect(await overview.text()).toContain('<a href="/dashboard/units/k1">Kiln 1</a>');
    const unit = await a.request('/dashboard/units/k1', { headers: bearer(TOKENS.viewerToken) });
    expect(unit.status).toBe(200);
    expect(await unit.text()).toContain('No cycle recorded yet');
    const unknown = await a.request('/dashboard/units/k9/strategy', { headers: bearer(TOKENS.viewerToken) });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('There is no unit &#39;k9&#39; in this fleet');
  });

  it('the feedback form returns to the unit it was on, never off the units pages', async () => {
    const { results, calls } = recordingResults();
    const a = app({ units: units(), results });
    const csrf = await csrfOf(a);
    const fields = { result: '1', decision: 'accepted', _csrf: csrf };
    const back = await a.request('/feedback', form({ ...fields, back: '/dashboard/units/k1' }, csrf));
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe('/dashboard/units/k1?done=accepted');
    for (const elsewhere of ['//evil.example/', '/dashboard/units/../../x', 'https://evil.example/']) {
      const r = await a.request('/feedback', form({ ...fields, back: elsewhere }, csrf));
      expect(r.status, elsewhere).toBe(400);
    }
    expect(calls).toHaveLength(1);
  });

  it('the single-unit dashboard has no units pages and no Units link', async () => {
    const a = app();
    const now = await (await a.request('/')).text();
    expect(now).not.toContain('/dashboard/units');
    expect(now).not.toContain('data-live-src');
    expect((await a.request('/dashboard/units')).status).toBe(404);
    expect((await a.request('/dashboard/units/k1')).status).toBe(404);
  });
});
