/**
 * The full fuzz run: random and malformed requests (fast-check, seeded) against every route of a
 * real server on a loopback port. Prints the answers by status and every 5xx; exits 1 on any.
 *
 *   pnpm --filter @po/api fuzz [--count 10000 --seed 1 --concurrency 8]
 */
import { parseArgs } from 'node:util';
import { fuzz, startTarget } from '../test/fuzz.ts';

const { values } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '8' },
  },
});
const target = await startTarget();
const rssBefore = process.memoryUsage().rss;
const report = await fuzz(target.url, target.state, {
  seed: Number(values.seed),
  count: Number(values.count),
  concurrency: Number(values.concurrency),
});
const health = await fetch(`${target.url}/health`);
const mb = (n: number) => Math.round(n / 1024 / 1024);
console.log(
  JSON.stringify(
    {
      seed: Number(values.seed),
      requests: report.requests,
      seconds: Math.round(report.seconds * 10) / 10,
      by_status: report.byStatus,
      server_errors: report.failures.length,
      health_after: health.status,
      rss_mb: { before: mb(rssBefore), after: mb(process.memoryUsage().rss) },
    },
    null,
    2,
  ),
);
for (const f of report.failures.slice(0, 20)) console.log(JSON.stringify(f));
await target.close();
process.exit(report.failures.length > 0 || health.status !== 200 ? 1 : 0);
