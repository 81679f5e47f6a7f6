/**
 * Load benchmark: autocannon on POST /optimize (demo strategy, loopback only, bounded) while a
 * second client measures GET /health latency. The server runs in a child process (the CLI's
 * `po-api` serving the demo strategy file: its built dist/po-api.js, or src/po-api.ts through
 * tsx), so the clients do not share its event loop.
 *
 *   pnpm --filter @po/api bench [--duration 10 --connections 8 --threads 2] [--route validate]
 *
 * `--route validate` loads POST /strategies/validate with issue 9's ~600 KB nested-YAML body
 * instead (refused 400 by its nesting, checked on the HTTP thread before any parsing).
 * `/health` is probed from a worker thread of this process (its own event loop). `--rate N` offers
 * N requests/s in all (default: as many as the server answers, which grows as it gets faster).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';

const { values } = parseArgs({
  allowPositionals: true, // pnpm may pass a literal '--'
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    threads: { type: 'string', default: String(Math.max(1, availableParallelism() - 1)) },
    route: { type: 'string', default: 'optimize' },
    rate: { type: 'string', default: '0' },
  },
});
const validateRoute = values.route === 'validate';
const duration = Number(values.duration);
const connections = Number(values.connections);
const threads = Number(values.threads);
/** Requests per second offered by all connections together; 0: as fast as the server answers. */
const rate = Number(values.rate);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs in a worker thread: GET /health every 20 ms until told to stop, then posts the latencies (ms). */
const HEALTH_PROBE = `
const { parentPort, workerData } = require('node:worker_threads');
let running = true;
parentPort.once('message', () => { running = false; });
(async () => {
  const times = [];
  while (running) {
    const t = performance.now();
    await (await fetch(workerData.url)).arrayBuffer();
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 20));
  }
  parentPort.postMessage(times);
})();
`;

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const health = (await (await fetch(`${url}/health`)).json()) as { strategy: { state: string } };
      if (health.strategy.state === 'loaded') return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not load the strategy within 30 s');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const CLI = `${ROOT}apps/cli/`;
const dist = `${CLI}dist/po-api.js`;
const [cmd, args] = existsSync(dist) ? ['node', [dist]] : ['pnpm', ['exec', 'tsx', `${CLI}src/po-api.ts`]];
const child = spawn(cmd, args, {
  cwd: ROOT,
  env: {
    ...process.env,
    PO_HOST: '127.0.0.1',
    PO_PORT: String(port),
    PO_THREADS: String(threads),
    PO_API_TOKEN: '',
    PO_STRATEGY_FILE: `${ROOT}config/demo/strategy.yaml`,
    DATABASE_URL: '',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  await waitReady(url, child);
  const state = JSON.parse(await readFile(`${ROOT}config/demo/example-state.json`, 'utf8'));
  const body = validateRoute
    ? `${'['.repeat(300_000)}${']'.repeat(300_000)}`
    : JSON.stringify({ input_data: state });
  const target = validateRoute ? '/strategies/validate' : '/optimize';

  // Health idle, for comparison.
  const idle: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await (await fetch(`${url}/health`)).arrayBuffer();
    idle.push(performance.now() - t);
  }

  // /health is probed from a worker thread: autocannon sending 600 KB bodies keeps this thread's
  // event loop busy, and a probe here would time the load generator as well as the server.
  const prober = new Worker(HEALTH_PROBE, { eval: true, workerData: { url: `${url}/health` } });
  const healthLoop = new Promise<number[]>((resolve, reject) => {
    prober.once('message', resolve);
    prober.once('error', reject);
  });
  const result = await autocannon({
    url: `${url}${target}`,
    method: 'POST',
    headers: { 'content-type': validateRoute ? 'application/yaml' : 'application/json' },
    body,
    connections,
    duration,
    timeout: 30,
    ...(rate > 0 ? { overallRate: rate } : {}),
  });
  prober.postMessage('stop');
  const healthUnderLoad = await healthLoop;
  await prober.terminate();
  idle.sort((a, b) => a - b);
  healthUnderLoad.sort((a, b) => a - b);
  const ms = (n: number) => n.toFixed(1);
  const non2xx = result.non2xx + result.errors + result.timeouts;
  console.log(
    `\n### @po/api load (\`pnpm --filter @po/api bench --duration ${duration} --connections ${connections} --threads ${threads} --route ${values.route}${rate > 0 ? ` --rate ${rate}` : ''}\`, Node ${process.versions.node}, ${availableParallelism()} CPUs)\n`,
  );
  console.log('| measure | value |');
  console.log('| --- | --- |');
  console.log(`| POST ${target} requests/s (mean) | ${result.requests.average.toFixed(1)} |`);
  console.log(`| POST ${target} requests (total, non-2xx/errors) | ${result.requests.total} (${non2xx}) |`);
  console.log(
    `| POST ${target} latency p50 / p99 / max (ms) | ${result.latency.p50} / ${result.latency.p99} / ${result.latency.max} |`,
  );
  console.log(
    `| GET /health p50 / p99 / max during load (ms, n=${healthUnderLoad.length}) | ${ms(percentile(healthUnderLoad, 50))} / ${ms(percentile(healthUnderLoad, 99))} / ${ms(healthUnderLoad.at(-1)!)} |`,
  );
  console.log(
    `| GET /health p50 / p99 idle (ms, n=${idle.length}) | ${ms(percentile(idle, 50))} / ${ms(percentile(idle, 99))} |`,
  );
  console.log('| predecessor (Flask, one request at a time) | ~1.3-3 requests/s, 0.3-0.8 s each |');
} finally {
  child.kill('SIGTERM');
}
