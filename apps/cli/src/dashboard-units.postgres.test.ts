/**
 * The dashboard's units views, server side: the real `po start` (hybrid, `PO_FLEET=true`) on the
 * real PostgreSQL with the demo fleet (two kilns on one shared plant table, two strategies) fed
 * a row per second, asked over HTTP on its loopback port. Every page is checked against SQL:
 * a unit's pages show that unit's results and plant rows only, and the strategy its pointer
 * deploys; unknown and hostile unit ids are refused; the roles and sessions still apply.
 */

import { waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKENS } from '../test/dashboard.ts';
import { type FleetDemo, startFleetDemo } from '../test/fleet.ts';

let fleet: FleetDemo;

beforeAll(async () => {
  fleet = await startFleetDemo();
}, 420_000);

afterAll(async () => {
  await fleet?.stop();
});

const page = async (path: string, role: 'viewer' | 'operator' | 'engineer' = 'viewer') => {
  const res = await fleet.api(role, path);
  return { status: res.status, text: await res.text(), res };
};

/** A page's text as shown (HTML entities decoded). */
const shown = (html: string) =>
  html
    .replaceAll('&#39;', "'")
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');

/** Which unit each result id belongs to. */
async function unitsOf(ids: readonly string[]): Promise<Set<string>> {
  const r = await fleet.db.query<{ unit: string }>(
    'SELECT DISTINCT unit FROM optimization_results WHERE id = ANY($1::bigint[])',
    [ids],
  );
  return new Set(r.rows.map((x) => x.unit));
}

describe('the units overview and each unit’s views, on a fleet', () => {
  it('the root opens on the units; the overview lists each unit with its state, lag, failures and strategy', async () => {
    const root = await fleet.api('viewer', '/');
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/dashboard/units');

    const { status, text } = await page('/dashboard/units');
    expect(status).toBe(200);
    const rows = [...text.matchAll(/<tr data-unit="([^"]+)">([\s\S]*?)<\/tr>/g)].map((m) => ({
      id: m[1]!,
      text: m[2]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' '),
      html: m[2]!,
    }));
    expect(rows.map((r) => r.id)).toEqual(['kiln-1', 'kiln-2']);
    for (const r of rows) {
      expect(r.html).toContain(`href="/dashboard/units/${r.id}"`);
      expect(r.text).toMatch(/Demo kiln K[12] \(seed [12]\)/);
      expect(r.text).toMatch(/\d in a row, \d+ in all/);
    }
    // The deployed strategy per unit (each unit's store pointer), as /units reports it.
    const api = (await (await fleet.api('viewer', '/units')).json()) as {
      units: { id: string; strategy: { version: string; state: string }; lastCycle: { status: string } }[];
    };
    expect(api.units.map((u) => [u.id, u.strategy.version])).toEqual([
      ['kiln-1', '1.0.0'],
      ['kiln-2', '1.1.0'],
    ]);
    expect(rows[0]!.text).toContain('1.0.0');
    expect(rows[1]!.text).toContain('1.1.0');
    // Units and Deploy in the navigation; the status bar counts units, not a cycle of its own.
    expect(text).toMatch(/<a href="\/dashboard\/units" accesskey="u" aria-current="page">Units<\/a>/);
    expect(text).toMatch(/<b>units<\/b> 2/);
    expect(text).not.toContain('no recommendation recorded');
    // No fleet-wide pointer (each kiln has its own): said as such, not as an error.
    const bar = /<header id="status"[\s\S]*?<\/header>/.exec(text)![0];
    expect(bar).toContain('<b>strategy</b> per unit, no fleet-wide version (each unit has its own pointer)');
    expect(bar).not.toContain('(error)');
    const health = (await (await fleet.api('viewer', '/health')).json()) as { strategy: { state: string } };
    expect(health.strategy.state).toBe('none');
  });

  it("a unit's Now shows its own newest recommendation, run by its own strategy", async () => {
    for (const [unit, version] of [
      ['kiln-1', '1.0.0'],
      ['kiln-2', '1.1.0'],
    ] as const) {
      const { status, text } = await page(`/dashboard/units/${unit}`);
      expect(status).toBe(200);
      const id = /data-result-id="(\d+)"/.exec(text)?.[1];
      expect(id, text.slice(0, 2000)).toBeDefined();
      expect([...(await unitsOf([id!]))]).toEqual([unit]);
      expect(text).toContain(`strategy ${version}`);
      expect(text).toMatch(new RegExp(`<span data-unit="${unit}"><b>unit</b> Demo kiln`));
      // The unit's navigation: its own views, no Deploy (a unit's pointer moves with po units deploy).
      for (const view of ['trends', 'history', 'strategy', 'what-if'])
        expect(text).toContain(`href="/dashboard/units/${unit}/${view}"`);
      expect(text).not.toContain('href="/deploy"');
      expect(text).toContain(`data-live-src="/dashboard/units/${unit}/live"`);
    }
  });

  it("a unit's History and its CSV list that unit's results only", async () => {
    const { status, text } = await page('/dashboard/units/kiln-2/history?limit=20000');
    expect(status).toBe(200);
    const ids = [...text.matchAll(/<th scope="row">#(\d+)<\/th>/g)].map((m) => m[1]!);
    const n = await fleet.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM optimization_results WHERE unit = 'kiln-2'`,
    );
    // Cycles keep coming: the page holds no more than SQL counts after it, and no other unit's.
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThanOrEqual(Number(n.rows[0]!.n));
    expect([...(await unitsOf(ids))]).toEqual(['kiln-2']);
    expect(text).toContain('action="/dashboard/units/kiln-2/history"');

    const csv = await fleet.api('viewer', '/dashboard/units/kiln-1/history.csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toContain('po-history-kiln-1.csv');
    const csvIds = (await csv.text())
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]!);
    expect(csvIds.length).toBeGreaterThan(0);
    expect([...(await unitsOf(csvIds))]).toEqual(['kiln-1']);
  });

  it("a unit's Trends draw its own plant rows (a table shared by kilns) and its recommendations", async () => {
    const res = await fleet.api(
      'viewer',
      '/dashboard/units/kiln-2/trends/data?range=1h&vars=Clinker_temperature,Kiln_Coal_PV',
    );
    expect(res.status).toBe(200);
    const data = (await res.json()) as {
      times: number[];
      series: { name: string; plant: (number | null)[]; recommended?: (number | null)[] }[];
    };
    const plant = await fleet.db.query<{ t: Date; v: number }>(
      `SELECT "timestamp" AS t, "Clinker_temperature" AS v FROM demo_kilns WHERE kiln = 'K2'
       AND "timestamp" <= $1 ORDER BY 1`,
      [new Date(data.times.at(-1)! * 1000 + 1)],
    );
    const byTime = new Map(plant.rows.map((r) => [r.t.getTime(), r.v]));
    const clinker = data.series.find((s) => s.name === 'Clinker_temperature')!;
    // Every drawn plant value is K2's at that time (K1's readings differ: another seed).
    let drawn = 0;
    data.times.forEach((t, i) => {
      const v = clinker.plant[i];
      if (v === null || v === undefined) return;
      drawn++;
      expect(v).toBeCloseTo(byTime.get(Math.round(t * 1000))!, 6);
    });
    expect(drawn).toBeGreaterThan(0);
    expect(data.series.find((s) => s.name === 'Kiln_Coal_PV')!.recommended!.some((v) => v !== null)).toBe(
      true,
    );
    const pageRes = await page('/dashboard/units/kiln-2/trends');
    expect(pageRes.status).toBe(200);
    expect(pageRes.text).toContain('data-src="/dashboard/units/kiln-2/trends/data?');
  });

  it("a unit's Strategy is the version its pointer deploys; its What-if simulates on it", async () => {
    const strategy = await page('/dashboard/units/kiln-2/strategy');
    expect(strategy.status).toBe(200);
    expect(strategy.text).toMatch(/<h1>Strategy <small>1\.1\.0:/);
    expect(strategy.text).toContain('YAML (1.1.0)');
    const kiln1 = await page('/dashboard/units/kiln-1/strategy');
    expect(kiln1.text).toMatch(/<h1>Strategy <small>1\.0\.0:/);

    const whatIf = await page('/dashboard/units/kiln-1/what-if');
    expect(whatIf.status).toBe(200);
    const name = /name="set\.([A-Za-z0-9_]+)"/.exec(whatIf.text)?.[1];
    expect(name).toBeDefined();
    const placeholder = new RegExp(`name="set\\.${name}"[^>]*placeholder="([^"]+)"`).exec(whatIf.text)?.[1];
    const run = await page(`/dashboard/units/kiln-1/what-if?set.${name}=${encodeURIComponent(placeholder!)}`);
    expect(run.status).toBe(200);
    expect(run.text).toContain('id="what-if-result"');
    expect(run.text).toContain('action="/dashboard/units/kiln-1/what-if"');
  });

  it("a unit's live stream announces that unit's new cycles", async () => {
    const controller = new AbortController();
    const res = await fleet.api('viewer', '/dashboard/units/kiln-1/live', { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const ids: string[] = [];
    while (ids.length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      ids.splice(
        0,
        ids.length,
        ...[...text.matchAll(/event: cycle\ndata: \{"id":"(\d+)"/g)].map((m) => m[1]!),
      );
    }
    controller.abort();
    expect([...(await unitsOf(ids))]).toEqual(['kiln-1']);
  }, 60_000);

  it('an unknown unit is a 404 page naming it; a hostile id is a 400 page, escaped and cut short', async () => {
    const unknown = await page('/dashboard/units/kiln-9/trends');
    expect(unknown.status).toBe(404);
    expect(unknown.res.headers.get('content-type')).toContain('text/html');
    expect(shown(unknown.text)).toContain("There is no unit 'kiln-9' in this fleet");

    for (const [path, named] of [
      ['/dashboard/units/%3Cscript%3Ealert(1)%3C%2Fscript%3E', '<script>alert(1)</script>'],
      ['/dashboard/units/..%2F..%2Fetc%2Fpasswd/history', '../../etc/passwd'],
      ['/dashboard/units/%00', '\u0000'],
      ['/dashboard/units/.hidden', '.hidden'],
      [`/dashboard/units/${'k'.repeat(500)}`, `${'k'.repeat(64)}…`],
    ] as const) {
      const r = await page(path);
      expect(r.status, path).toBe(400);
      expect(r.text, path).toContain('is not a unit id');
      if (named !== '\u0000') expect(shown(r.text), path).toContain(`'${named}'`);
      expect(r.text).not.toContain('<script>alert');
      expect(r.text).not.toContain('k'.repeat(65));
    }
  });

  it('the roles hold on the units pages: a browser signs in first, an API call needs its token', async () => {
    const browser = await fetch(`${fleet.url}/dashboard/units/kiln-1/history`, { redirect: 'manual' });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe(
      `/login?next=${encodeURIComponent('/dashboard/units/kiln-1/history')}`,
    );
    const overview = await fetch(`${fleet.url}/dashboard/units`, { redirect: 'manual' });
    expect(overview.status).toBe(303);
    const data = await fetch(`${fleet.url}/dashboard/units/kiln-1/trends/data`);
    expect(data.status).toBe(401);
    const wrong = await fetch(`${fleet.url}/dashboard/units`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    // A viewer sees a unit's Now without the feedback form; an operator gets it, returning to the unit.
    const viewer = await page('/dashboard/units/kiln-1', 'viewer');
    expect(viewer.text).not.toContain('action="/feedback"');
    const operator = await page('/dashboard/units/kiln-1', 'operator');
    expect(operator.text).toContain('<input type="hidden" name="back" value="/dashboard/units/kiln-1">');
  });

  it('po start --mode api on the fleet’s database: no units pages, and no dashboard link leads to one or to nothing', async () => {
    const api = fleet.spawn('api', ['start', '--mode', 'api'], { PO_FLEET: 'true' });
    const url = await waitFor(
      () => /"url":"(http:\/\/[^"]+)"/.exec(api.log)?.[1],
      120_000,
      'po start --mode api to listen',
    ).catch((e: Error) => {
      throw new Error(`${e.message}; log:\n${api.log.slice(-3000)}`);
    });
    const get = (path: string) =>
      fetch(`${url}${path}`, { redirect: 'manual', headers: { authorization: `Bearer ${TOKENS.engineer}` } });
    // What this mode does not serve: the units (no fleet runs here).
    expect((await get('/units')).status).toBe(501);
    expect((await get('/dashboard/units')).status).toBe(404);
    // Every link of every page reachable from the root, followed once.
    const seen = new Map<string, number>();
    const queue = ['/'];
    while (queue.length > 0 && seen.size < 80) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      const res = await get(path);
      seen.set(path, res.status);
      const type = res.headers.get('content-type') ?? '';
      if (!type.includes('text/html')) {
        await res.body?.cancel();
        continue;
      }
      for (const m of (await res.text()).matchAll(/<a [^>]*href="([^"#]+)"/g)) {
        const href = shown(m[1]!);
        const target = new URL(href, `${url}${path}`);
        if (target.origin !== url) continue;
        const next = `${target.pathname}${target.search}`;
        if (!seen.has(next) && !queue.includes(next)) queue.push(next);
      }
    }
    const paths = [...seen.keys()];
    expect(paths).toEqual(
      expect.arrayContaining(['/', '/trends', '/history', '/strategy', '/what-if', '/deploy']),
    );
    expect(paths.filter((p) => p.startsWith('/dashboard/units') || p.startsWith('/units'))).toEqual([]);
    const broken = [...seen].filter(([, status]) => status === 404 || status === 501 || status >= 500);
    expect(broken).toEqual([]);
    api.child.kill('SIGTERM');
  }, 180_000);
});
