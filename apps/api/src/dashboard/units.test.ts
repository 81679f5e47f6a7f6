/**
 * The fleet's dashboard pages served by the real HTTP server on a loopback port (a fleet in
 * memory: its units change as a test says; the real fleet on PostgreSQL runs in apps/cli's
 * tests): which paths are pages, the units overview following its units live, no live stream
 * before sign-in, and the fleet root's status bar without a fleet-wide strategy.
 */
import { type ServerType, serve } from '@hono/node-server';
import type { SourceStatus } from '@po/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { type CyclePool, createCyclePool } from '../pool/index.ts';
import { noDashboardData } from '../testing/fleet.ts';
import type { AppOptions, StrategySource } from '../types.ts';
import { UNITS_PATH } from './context.ts';
import { isUnitPagePath, UNIT_VIEW_PATHS } from './units.ts';

let pool: CyclePool;
beforeAll(() => {
  pool = createCyclePool({ threads: 1 });
});
afterAll(async () => {
  await pool.close();
});

const TOKENS = { viewerToken: 'v-token-123', operatorToken: 'o-token-123', engineerToken: 'e-token-123' };
const viewer = { authorization: `Bearer ${TOKENS.viewerToken}` };

const strategiesIn = (status: SourceStatus): StrategySource => ({
  current: async () => undefined,
  status: () => status,
});

type UnitRecord = { id: string } & Record<string, unknown>;

/** A fleet in memory whose units the test changes. */
function fleetOf(records: UnitRecord[]): AppOptions['units'] & { records: UnitRecord[] } {
  const fleet = {
    records,
    list: async () => fleet.records.map((r) => ({ ...r })),
    get: async (id: string) => fleet.records.find((r) => r.id === id),
    counters: () => new Map(),
    scope: async (id: string) =>
      fleet.records.some((r) => r.id === id)
        ? {
            name: id,
            intervalS: 60,
            strategies: strategiesIn({ state: 'none', version: null }),
            data: noDashboardData(),
          }
        : undefined,
  };
  return fleet;
}

const kiln = (id: string, extra: Record<string, unknown> = {}): UnitRecord => ({
  id,
  name: `Kiln ${id}`,
  intervalS: 1,
  consecutiveFailures: 0,
  droppedLate: 0,
  lagS: 0,
  lastCycle: null,
  ...extra,
});

const servers: ServerType[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

/** The app on a loopback port. */
async function listen(options: Partial<AppOptions>): Promise<string> {
  const app = createApp({
    strategies: strategiesIn({ state: 'none', version: null }),
    executor: pool,
    settings: TOKENS,
    ...options,
  });
  const server = await new Promise<ServerType>((ready) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Reads server-sent events until `until` says enough; the events seen (name and data). */
async function events(
  res: Response,
  until: (seen: { event: string; data: string }[]) => boolean,
): Promise<{ event: string; data: string }[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const seen: { event: string; data: string }[] = [];
  while (!until(seen)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    seen.splice(
      0,
      seen.length,
      ...[...text.matchAll(/event: (\w+)\n(?:id: [^\n]*\n)?data: ([^\n]*)\n/g)].map((m) => ({
        event: m[1]!,
        data: m[2]!,
      })),
    );
  }
  await reader.cancel();
  return seen;
}

describe('the units pages: one list of a unit’s views', () => {
  it('each page of a unit (and the overview) sends a browser to sign in; its data and stream need a token', async () => {
    const url = await listen({ units: fleetOf([kiln('k1')]) });
    const pages = UNIT_VIEW_PATHS.filter((p) => isUnitPagePath(`${UNITS_PATH}/k1${p === '/' ? '' : p}`));
    expect(pages).toEqual(['/', '/trends', '/history', '/history.csv', '/strategy', '/what-if']);
    expect(isUnitPagePath(UNITS_PATH)).toBe(true);
    for (const p of UNIT_VIEW_PATHS) {
      const path = `${UNITS_PATH}/k1${p === '/' ? '' : p}`;
      const res = await fetch(`${url}${path}`, { redirect: 'manual' });
      if (pages.includes(p)) {
        expect(res.status, path).toBe(303);
        expect(res.headers.get('location')).toBe(`/login?next=${encodeURIComponent(path)}`);
      } else expect(res.status, path).toBe(401);
      await res.body?.cancel();
      // Each listed view is served for a unit (no view listed but not routed).
      const signed = await fetch(`${url}${path}`, { headers: viewer, signal: AbortSignal.timeout(5000) });
      expect(signed.status, path).toBe(200);
      await signed.body?.cancel();
    }
    for (const path of [
      `${UNITS_PATH}/`,
      `${UNITS_PATH}//trends`,
      `${UNITS_PATH}/k1/live`,
      `${UNITS_PATH}/k1/x`,
    ])
      expect(isUnitPagePath(path), path).toBe(false);
  });
});

describe('the units overview, live', () => {
  it('the fleet root’s /live announces each change of the units; the overview is a live view', async () => {
    const fleet = fleetOf([kiln('k1'), kiln('k2')]);
    const url = await listen({ units: fleet });
    const overview = await (await fetch(`${url}${UNITS_PATH}`, { headers: viewer })).text();
    expect(overview).toMatch(/<main id="main" data-live="1"/);
    expect(overview).toContain('<script src="/assets/live.js" defer></script>');

    const live = await fetch(`${url}/live`, { headers: viewer });
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toContain('text/event-stream');
    const changes = [
      () => {
        fleet.records[0] = kiln('k1', {
          lastCycle: {
            dataTimestamp: '2026-01-01T00:00:01Z',
            status: 'ok',
            recordedAt: new Date().toISOString(),
          },
        });
      },
      () => {
        fleet.records[1] = kiln('k2', { consecutiveFailures: 2, droppedLate: 3 });
      },
    ];
    // Each change is told once it is seen (the first reading only sets where the watch starts).
    const seen = await events(live, (s) => {
      const told = s.filter((e) => e.event === 'units').length;
      if (s.some((e) => e.event === 'hello') && changes.length > 0 && told === 2 - changes.length)
        setTimeout(changes.shift()!, 1500);
      return told >= 2;
    });
    const told = seen
      .filter((e) => e.event === 'units')
      .map((e) => JSON.parse(e.data) as { id: string; units: number });
    expect(told).toHaveLength(2);
    expect(told[0]!.id).not.toBe(told[1]!.id);
    expect(told.map((t) => t.units)).toEqual([2, 2]);
    // What the page then reads shows the change.
    const after = await (await fetch(`${url}${UNITS_PATH}`, { headers: viewer })).text();
    const k2 = /<tr data-unit="k2">([\s\S]*?)<\/tr>/.exec(after)![1]!;
    expect(k2).toContain('2 in a row');
    expect(k2).toContain('<td>3</td>');
    expect(k2).toContain('failing');
  }, 30_000);
});

describe('the units overview’s mismatch column', () => {
  it('counts each unit’s models by status, each model and a forced monitor mode in its title', async () => {
    const fleet = fleetOf([
      kiln('k1', {
        mismatch: {
          models: { a: { status: 'good' }, b: { status: 'bad' }, c: { status: 'good' } },
          forcedMonitor: 'b is bad',
        },
      }),
      kiln('k2'),
    ]);
    const url = await listen({ units: fleet });
    const text = await (await fetch(`${url}${UNITS_PATH}`, { headers: viewer })).text();
    expect(text).toContain('<th scope="col" title="model-plant mismatch">mismatch</th>');
    expect(text).toContain(
      '<td title="a good, b bad, c good; monitor mode: b is bad">2 good, 1 bad; monitor mode</td>',
    );
    expect(/<tr data-unit="k2">[\s\S]*?<\/tr>/.exec(text)![0]).toContain('<td>–</td></tr>');
  });
});

describe('no live stream before sign-in', () => {
  it('the sign-in form loads no live script; a signed-in page (or an open dashboard) does', async () => {
    const url = await listen({ units: fleetOf([kiln('k1')]) });
    const login = await (await fetch(`${url}/login`)).text();
    expect(login).not.toContain('live.js');
    expect((await fetch(`${url}/live`)).status).toBe(401);
    for (const path of [UNITS_PATH, `${UNITS_PATH}/k1`, '/strategy']) {
      const text = await (await fetch(`${url}${path}`, { headers: viewer })).text();
      expect(text, path).toContain('<script src="/assets/live.js" defer></script>');
    }
    const open = await listen({ settings: {} });
    expect(await (await fetch(`${open}/`)).text()).toContain('<script src="/assets/live.js" defer></script>');
  });
});

describe('the fleet root’s status bar and its fleet-wide strategy', () => {
  const statusOf = async (status: SourceStatus) => {
    const url = await listen({ units: fleetOf([kiln('k1'), kiln('k2')]), strategies: strategiesIn(status) });
    const text = await (await fetch(`${url}${UNITS_PATH}`, { headers: viewer })).text();
    return /<header id="status"[\s\S]*?<\/header>/
      .exec(text)![0]
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ');
  };

  it('without a fleet-wide pointer (each unit has its own): said as such, no error', async () => {
    const bar = await statusOf({ state: 'none', version: null });
    expect(bar).toContain('strategy per unit, no fleet-wide version (each unit has its own pointer)');
    expect(bar).not.toContain('(error)');
    expect(bar).not.toContain('fleet-wide strategy none');
  });

  it('a pointer that cannot be read is an error, named', async () => {
    const bar = await statusOf({ state: 'error', version: null, error: 'the store did not answer' });
    expect(bar).toContain('fleet-wide strategy none (error)');
    const url = await listen({
      units: fleetOf([kiln('k1')]),
      strategies: strategiesIn({ state: 'error', version: null, error: 'the store did not answer' }),
    });
    expect(await (await fetch(`${url}${UNITS_PATH}`, { headers: viewer })).text()).toContain(
      'title="the store did not answer"',
    );
  });

  it('a fleet-wide version is named', async () => {
    expect(await statusOf({ state: 'loaded', version: '1.2.0' })).toContain(
      'fleet-wide strategy 1.2.0 (loaded)',
    );
  });
});
