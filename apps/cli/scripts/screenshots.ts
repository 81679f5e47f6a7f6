/**
 * `pnpm screenshots`: the Now, Trends and Strategy views at 1600x900 from the real `po start` on
 * the embedded demo, in Debian's headless Chromium, into docs/screenshots/. With `--bench`, also
 * measures what BENCHMARKS.md reports: JavaScript per page (gzip), time to first render on
 * loopback, and drawing 7 days of minute data for 10 variables in the browser.
 * With `--fleet`, also the units overview and one unit's Now from the demo fleet on the
 * PostgreSQL of the tests (`PO_TEST_DATABASE_URL`). Build first (`pnpm build`).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startDemo, TOKENS } from '../test/dashboard.ts';
import { startFleetDemo } from '../test/fleet.ts';
import { root } from '../test/po.ts';

const out = join(root, 'docs/screenshots');
const bench = process.argv.includes('--bench');
const VIEWS = ['/', '/trends', '/history', '/strategy', '/what-if', '/deploy'];

const demo = await startDemo({ cycleIntervalS: 2 });
try {
  mkdirSync(out, { recursive: true });
  const { context, page } = await demo.signIn('operator');
  // A few cycles of history for the trends.
  await new Promise((r) => setTimeout(r, 8000));
  await page.goto(`${demo.url}/`);
  await page.screenshot({ path: join(out, 'now.png') });
  await page.goto(`${demo.url}/trends?range=1h`);
  await page.waitForSelector('#trends[data-rendered]');
  await page.screenshot({ path: join(out, 'trends.png') });
  await page.goto(`${demo.url}/strategy`);
  await page.screenshot({ path: join(out, 'strategy.png') });
  console.log(`screenshots in ${out}: now.png, trends.png, strategy.png`);

  if (bench) {
    console.log(
      '\nview | JS files | JS gzip (KB) | first contentful paint (ms, median of 5) | DOM ready (ms, median of 5)',
    );
    for (const path of VIEWS) {
      const scripts = new Map<string, number>();
      const onResponse = async (r: import('playwright-core').Response) => {
        if (r.request().resourceType() === 'script') scripts.set(r.url(), gzipSync(await r.body()).length);
      };
      page.on('response', onResponse);
      const paints: number[] = [];
      const ready: number[] = [];
      for (let i = 0; i < 5; i++) {
        await page.goto(`${demo.url}${path}`, { waitUntil: 'load' });
        const [paint, dom] = await page.evaluate(() => {
          const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
          // Headless Chromium reports no paint entry for some pages: then the column says '-'.
          const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null;
          return [fcp, navigation.domContentLoadedEventEnd] as const;
        });
        if (paint !== null) paints.push(paint);
        ready.push(dom);
      }
      page.off('response', onResponse);
      const median = (v: number[]) =>
        v.length === 0 ? '-' : v.sort((a, b) => a - b)[v.length >> 1]!.toFixed(0);
      const kb = [...scripts.values()].reduce((a, b) => a + b, 0) / 1024;
      console.log(`${path} | ${scripts.size} | ${kb.toFixed(1)} | ${median(paints)} | ${median(ready)}`);
    }
    await page.goto(`${demo.url}/trends?range=1h`);
    await page.waitForSelector('#trends[data-rendered]');
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      runs.push(
        await page.evaluate(async () => {
          const n = 7 * 24 * 60;
          const t0 = Math.floor(Date.now() / 1000) - n * 60;
          const times = Array.from({ length: n }, (_, i) => t0 + i * 60);
          const series = Array.from({ length: 10 }, (_, k) => ({
            name: `variable_${k}`,
            units: 't/h',
            plant: times.map((_, i) => 100 + 10 * Math.sin(i / (50 + k)) + Math.random()),
            recommended: times.map((_, i) => (i % 5 === 0 ? 100 + 10 * Math.sin(i / (50 + k)) : null)),
            limits: { opMin: 92, opMax: 108, varMin: 85, varMax: 115 },
          }));
          const draw = (window as unknown as { poDrawTrends: (d: unknown) => number }).poDrawTrends;
          const start = performance.now();
          draw({ times, series });
          await new Promise((r) => requestAnimationFrame(() => r(undefined)));
          return performance.now() - start;
        }),
      );
    }
    runs.sort((a, b) => a - b);
    console.log(
      `\n7 days of minute data (10,080 points) x 10 variables, drawn: median ${runs[2]!.toFixed(0)} ms (runs: ${runs.map((r) => r.toFixed(0)).join(', ')})`,
    );
  }
  await context.close();

  if (process.argv.includes('--fleet')) {
    const fleet = await startFleetDemo();
    try {
      const units = await demo.browser.newContext({ viewport: { width: 1600, height: 900 } });
      const unitPage = await units.newPage();
      await unitPage.goto(`${fleet.url}/login`);
      await unitPage.fill('#token', TOKENS.operator);
      await Promise.all([
        unitPage.waitForURL(/\/dashboard\/units$/),
        unitPage.click('form[action="/login"] button'),
      ]);
      // A few cycles per kiln.
      await new Promise((r) => setTimeout(r, 8000));
      await unitPage.reload();
      await unitPage.screenshot({ path: join(out, 'units.png') });
      await unitPage.goto(`${fleet.url}/dashboard/units/kiln-2`);
      await unitPage.screenshot({ path: join(out, 'unit-now.png') });
      console.log(`screenshots in ${out}: units.png, unit-now.png`);
      await units.close();
    } finally {
      await fleet.stop();
    }
  }
} finally {
  await demo.stop();
}
