/// <reference lib="dom" />
/**
 * The control-room dashboard end to end: the real `po start` (child process) on the embedded demo,
 * with viewer/operator/engineer tokens, driven in Debian's headless Chromium by playwright-core.
 * Beside it, started at the same time, a fleet `po start` on PostgreSQL (the demo fleet's two
 * kilns) for the units views, in the same browser.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo, TOKENS } from '../test/dashboard.ts';
import { type FleetDemo, startFleetDemo } from '../test/fleet.ts';

let demo: Demo;
let fleet: FleetDemo;

beforeAll(async () => {
  // The fleet is seeded and started while the embedded demo starts; once each unit has a cycle
  // its feeder stops, so it idles beside the single-unit tests.
  const started = await Promise.allSettled([startDemo(), startFleetDemo({ keepFeeding: false })]);
  if (started[0].status === 'fulfilled') demo = started[0].value;
  if (started[1].status === 'fulfilled') fleet = started[1].value;
  for (const s of started) if (s.status === 'rejected') throw s.reason;
}, 420_000);

afterAll(async () => {
  await Promise.all([demo?.stop(), fleet?.stop()]);
});

/** Console errors, failed page loads and requests to any host but 127.0.0.1, seen on a page. */
function watch(page: Page) {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const host = new URL(r.url()).hostname;
    if (!r.url().startsWith('data:') && host !== '127.0.0.1') problems.push(`request to ${r.url()}`);
  });
  return problems;
}

/** Pixels of a canvas drawn in a colour close to `rgb`. */
const pixelsOf = (page: Page, selector: string, rgb: [number, number, number]) =>
  page.$$eval(
    selector,
    (canvases, [r, g, b]) =>
      canvases.map((el) => {
        const c = el as HTMLCanvasElement;
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) {
          if (
            Math.abs(data[i]! - r!) < 40 &&
            Math.abs(data[i + 1]! - g!) < 40 &&
            Math.abs(data[i + 2]! - b!) < 40 &&
            data[i + 3]! > 100
          )
            n++;
        }
        return n;
      }),
    rgb,
  );

describe('the dashboard in Chromium, from po start', () => {
  it('serves every view with no console error and no request off 127.0.0.1', async () => {
    const { context, page } = await demo.signIn('engineer');
    const problems = watch(page);
    for (const path of [
      '/',
      '/trends',
      '/history',
      '/strategy',
      '/what-if',
      '/deploy',
      '/history?status=ok',
      '/strategy?a=1.0.0&b=1.1.0',
      '/deploy?version=1.1.0',
    ]) {
      const res = await page.goto(`${demo.url}${path}`);
      expect(res?.status(), path).toBe(200);
      await expect(page.locator('#status')).toBeTruthy();
      expect(await page.locator('nav a[aria-current=page]').count(), path).toBe(1);
    }
    await page.goto(`${demo.url}/trends`);
    await page.waitForSelector('#trends[data-rendered]');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('shows a status bar and a Now view with units, bounds and constraint states', async () => {
    const { context, page } = await demo.signIn('viewer');
    await page.goto(`${demo.url}/`);
    const status = await page.textContent('#status');
    expect(status).toMatch(/strategy 1\.0\.0 \(loaded\)/);
    expect(status).toMatch(/runner running/);
    // The runner's model-plant comparison (the demo's delta models compare over 30 minutes).
    expect(status).toMatch(/models (no comparison with the plant yet|\S+ (good|suspect|bad|unknown))/);
    const now = await page.textContent('main');
    expect(now).toMatch(/Setpoints to move/);
    expect(now).toMatch(/\d t\/h/);
    expect(now).toMatch(/Decision variables/);
    expect(await page.locator('.state').count()).toBeGreaterThan(0);
    expect(await page.locator('form[action="/feedback"]').count()).toBe(0);
    await context.close();
  });

  it('draws the trend series on the canvases (plant, recommendation)', async () => {
    const { context, page } = await demo.signIn('viewer');
    await page.goto(`${demo.url}/trends?range=1h`);
    await page.waitForSelector('#trends[data-rendered]');
    const charts = await page.locator('#trends figure.chart').count();
    expect(charts).toBeGreaterThan(0);
    const plant = await pixelsOf(page, '#trends canvas', [78, 161, 255]);
    expect(plant.filter((n) => n > 20).length).toBeGreaterThan(0);
    const recommended = await pixelsOf(page, '#trends canvas', [255, 213, 79]);
    expect(recommended.some((n) => n > 20)).toBe(true);
    await context.close();
  });

  it('shows a newly recorded cycle on Now within 2 s (server-sent events)', async () => {
    const { context, page } = await demo.signIn('operator');
    await page.goto(`${demo.url}/`);
    const shown = Number(await page.getAttribute('[data-result-id]', 'data-result-id'));
    const newer = await (async () => {
      for (;;) {
        const body = (await (await demo.api('viewer', '/results?limit=5')).json()) as {
          results: { id: string; status: string }[];
        };
        const r = body.results.find((x) => x.status === 'ok' && Number(x.id) > shown);
        if (r) return r.id;
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    // The page shows this cycle, or one recorded after it (cycles come every second here).
    await page.waitForFunction(
      (id) => Number(document.querySelector('[data-result-id]')?.getAttribute('data-result-id')) >= id,
      Number(newer),
      { timeout: 2000 },
    );
    await context.close();
  });

  it('accepting a recommendation writes a feedback row and an audit row', async () => {
    const { context, page } = await demo.signIn('operator');
    await page.goto(`${demo.url}/`);
    // Hold live updates while the form is in use (the page keeps the operator's view).
    await page.fill('#reason', 'looks right');
    const id = await page.getAttribute('form[action="/feedback"] input[name=result]', 'value');
    await Promise.all([page.waitForURL(/\?done=accepted/), page.click('button.accept')]);
    const body = (await (await demo.api('viewer', `/results/${id}`)).json()) as {
      result: { feedback: { decision: string; operator: string; reason: string }[] };
    };
    expect(body.result.feedback).toContainEqual(
      expect.objectContaining({ decision: 'accepted', operator: 'operator', reason: 'looks right' }),
    );
    await context.close();
    const engineer = await demo.signIn('engineer');
    await engineer.page.goto(`${demo.url}/deploy`);
    const audit = await engineer.page.textContent('#audit');
    expect(audit).toContain(`result ${id}`);
    expect(audit).toMatch(/operator\s*operator\s*feedback/);
    await engineer.context.close();
  });

  it('fits a 1280x800 and a 4K screen on every view (no sideways scrolling)', async () => {
    const { context, page } = await demo.signIn('engineer');
    for (const [width, height] of [
      [1280, 800],
      [3840, 2160],
    ] as const) {
      await page.setViewportSize({ width, height });
      for (const path of ['/', '/trends', '/history', '/strategy', '/what-if', '/deploy']) {
        await page.goto(`${demo.url}${path}`);
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        expect(overflow, `${path} at ${width}x${height}`).toBeLessThanOrEqual(0);
      }
    }
    await context.close();
  });

  it('works by keyboard: Tab to the reason, type it, Tab to Accept, Enter', async () => {
    const { context, page } = await demo.signIn('operator');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${demo.url}/`);
    const focused = () =>
      page.evaluate(() => document.activeElement?.id || document.activeElement?.className);
    let tabs = 0;
    while ((await focused()) !== 'reason' && tabs++ < 60) await page.keyboard.press('Tab');
    expect(await focused()).toBe('reason');
    await page.keyboard.type('by keyboard');
    while (!String(await focused()).includes('accept') && tabs++ < 80) await page.keyboard.press('Tab');
    expect(String(await focused())).toContain('accept');
    await Promise.all([page.waitForURL(/\?done=accepted/), page.keyboard.press('Enter')]);
    await context.close();
  });

  it('refuses feedback and deploy to a viewer: 403 in the browser and at the API', async () => {
    const { context, page } = await demo.signIn('viewer');
    await page.goto(`${demo.url}/login`);
    const csrf = await page.getAttribute('input[name=_csrf]', 'value');
    const post = async (action: string, fields: Record<string, string>) => {
      await page.goto(`${demo.url}/`);
      const [response] = await Promise.all([
        page.waitForNavigation(),
        page.evaluate(
          ([action, fields]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action as string;
            for (const [k, v] of Object.entries(fields as Record<string, string>)) {
              const input = document.createElement('input');
              input.name = k;
              input.value = v;
              form.append(input);
            }
            document.body.append(form);
            form.submit();
          },
          [action, fields] as const,
        ),
      ]);
      return response;
    };
    const feedback = await post('/feedback', { _csrf: csrf!, result: '1', decision: 'accepted' });
    expect(feedback?.status()).toBe(403);
    expect(await page.textContent('main')).toMatch(/needs the operator role; 'viewer' is a viewer/);
    const deploy = await post('/deploy', { _csrf: csrf!, version: '1.1.0' });
    expect(deploy?.status()).toBe(403);
    expect(await page.textContent('main')).toMatch(/needs the engineer role/);
    await context.close();

    const apiFeedback = await demo.api('viewer', '/results/1/feedback', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'accepted' }),
    });
    expect(apiFeedback.status).toBe(403);
    const apiDeploy = await demo.api('viewer', '/strategies/deploy', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: '1.1.0' }),
    });
    expect(apiDeploy.status).toBe(403);
    expect(((await apiDeploy.json()) as { code: string }).code).toBe('FORBIDDEN');
    const status = (await (await demo.api('viewer', '/strategies/deployed')).json()) as { version: string };
    expect(status.version).toBe('1.0.0');
  });

  it('an engineer deploys a version after its confirmation, and rolls back; both are audited', async () => {
    const { context, page } = await demo.signIn('engineer');
    const deployedVersion = async () =>
      ((await (await demo.api('viewer', '/strategies/deployed')).json()) as { version: string }).version;
    for (const version of ['1.1.0', '1.0.0']) {
      await page.goto(`${demo.url}/deploy?version=${version}`);
      await page.click('form[action="/deploy"] button.danger');
      const until = Date.now() + 30_000;
      while ((await deployedVersion()) !== version && Date.now() < until) await page.waitForTimeout(250);
      expect(await deployedVersion()).toBe(version);
    }
    await page.goto(`${demo.url}/deploy`);
    const audit = await page.textContent('#audit');
    expect(audit).toMatch(/engineer\s*engineer\s*(deploy|rollback)[\s\S]*strategy 1\.1\.0/);
    await context.close();
  });

  it('signs in with no console error: no request needing a session before it, none failing after', async () => {
    const context = await demo.browser.newContext();
    const page = await context.newPage();
    const problems = watch(page);
    const refused: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) refused.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(`${demo.url}/login`);
    // Time for a live stream to be opened, were the sign-in form to open one.
    await page.waitForTimeout(1000);
    expect(problems).toEqual([]);
    await page.fill('#token', TOKENS.operator);
    await Promise.all([page.waitForURL(`${demo.url}/`), page.click('form[action="/login"] button')]);
    // Signed in, the Now view listens: the next cycle (every second here) replaces it, error-free.
    const shown = await page.getAttribute('[data-result-id]', 'data-result-id');
    await page.waitForFunction(
      (id) => document.querySelector('[data-result-id]')?.getAttribute('data-result-id') !== id,
      shown,
      { timeout: 15_000 },
    );
    expect(problems).toEqual([]);
    expect(refused).toEqual([]);
    await context.close();
  });

  it('sends a browser without a session to the login form, and a wrong token gets 401', async () => {
    const context = await demo.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${demo.url}/trends`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('#token', 'not-a-token');
    const [res] = await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button')]);
    expect(res?.status()).toBe(401);
    expect(await page.textContent('main')).toMatch(/not known/);
    await context.close();
  });
});

describe('the units views in Chromium, from a fleet po start', () => {
  it('lists the units, opens one unit’s Now and Trends, with no console error and no request off 127.0.0.1', async () => {
    const context = await demo.browser.newContext({ viewport: { width: 1600, height: 900 } });
    const page = await context.newPage();
    // Watched from the sign-in form on: it opens no live stream before the session exists.
    const problems = watch(page);
    await page.goto(`${fleet.url}/login`);
    await page.fill('#token', TOKENS.operator);
    // Signed in, the fleet's root opens on its units.
    await Promise.all([
      page.waitForURL(`${fleet.url}/dashboard/units`),
      page.click('form[action="/login"] button'),
    ]);
    expect(await page.locator('#units tbody tr').count()).toBe(2);
    expect(await page.textContent('#units')).toMatch(/Demo kiln K2 \(seed 2\)[\s\S]*1\.1\.0/);
    await Promise.all([
      page.waitForURL(`${fleet.url}/dashboard/units/kiln-2`),
      page.click('#units a[href="/dashboard/units/kiln-2"]'),
    ]);
    expect(await page.textContent('#status')).toMatch(/unit Demo kiln K2 \(seed 2\) \(kiln-2\)/);
    const now = await page.textContent('main');
    expect(now).toMatch(/strategy 1\.1\.0/);
    expect(now).toMatch(/Setpoints to move/);
    expect(await page.locator('form[action="/feedback"] input[name=back]').getAttribute('value')).toBe(
      '/dashboard/units/kiln-2',
    );
    await Promise.all([
      page.waitForURL(`${fleet.url}/dashboard/units/kiln-2/trends`),
      page.click('nav a[accesskey=t]'),
    ]);
    await page.waitForSelector('#trends[data-rendered]');
    expect(await page.locator('#trends figure.chart').count()).toBeGreaterThan(0);
    expect(await page.locator('nav a[aria-current=page]').textContent()).toBe('Trends');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('the units overview follows its units live, without reloading the page', async () => {
    const context = await demo.browser.newContext({ viewport: { width: 1600, height: 900 } });
    const page = await context.newPage();
    const problems = watch(page);
    await page.goto(`${fleet.url}/login?next=/dashboard/units`);
    await page.fill('#token', TOKENS.viewer);
    await Promise.all([
      page.waitForURL(`${fleet.url}/dashboard/units`),
      page.click('form[action="/login"] button'),
    ]);
    const lastData = () => page.textContent('#units tr[data-unit="kiln-1"] td:nth-of-type(2)');
    const before = await lastData();
    // A mark the page keeps only as long as it is not loaded again.
    await page.evaluate(() => {
      (window as unknown as { poMark: number }).poMark = 1;
    });
    let loads = 0;
    page.on('load', () => loads++);
    // New plant rows: the fleet runs kiln-1's next cycles, and its row follows.
    const feeder = fleet.spawn('feeder-again', ['fleet-demo', 'feed', '--interval', '1']);
    try {
      await page.waitForFunction(
        (was) =>
          document.querySelector('#units tr[data-unit="kiln-1"] td:nth-of-type(2)')?.textContent !== was,
        before,
        { timeout: 60_000 },
      );
    } finally {
      feeder.child.kill('SIGTERM');
    }
    expect(await lastData()).not.toBe(before);
    expect(await page.evaluate(() => (window as unknown as { poMark?: number }).poMark)).toBe(1);
    expect(loads).toBe(0);
    expect(new URL(page.url()).pathname).toBe('/dashboard/units');
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
