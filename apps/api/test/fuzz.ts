/**
 * Random and malformed requests against every route (fast-check, seeded), for the fuzz test in
 * CI (a few thousand) and `pnpm --filter @po/api fuzz` (10k and more). A request passes when the
 * server answers below 500; the run ends with `/health` still answering.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { localModelFiles } from '@po/models';
import fc from 'fast-check';
import { createApp } from '../src/app.ts';
import { bundleFromFiles, type CyclePool, createCyclePool, pooledStrategy } from '../src/pool/index.ts';
import type { ResultsStore, StrategySource } from '../src/types.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));

/** One request. */
export interface FuzzRequest {
  method: 'GET' | 'POST';
  path: string;
  contentType: string | undefined;
  body: string | undefined;
}

/** A small valid strategy without models (mutations of it compile in milliseconds). */
const SMALL = `variables:
  feed: { type: Operative, threshold: 2, units: t/h }
  temp: { type: Informative }
  out: { type: Calculated }
  cost: { type: CalculatedKPI }
skills:
  mf: { class: MathFunction, inputs: [feed, temp], outputs: [out], config: { formula: "feed * 2 + temp" } }
  kpi: { class: MathFunction, inputs: [out], outputs: [cost], config: { formula: "(out - 50)^2" } }
  opt: { class: OptimizationSkill, inputs: [feed], outputs: [feed], config: { cost_skill_name: kpi, cost_feature_name: cost, algorithm: auto } }
tasks:
  - { name: run, skill_sequence: [mf, kpi, opt] }
`;

const POST_ROUTES = [
  '/optimize',
  '/simulate',
  '/strategies/validate',
  '/results/1/feedback',
  '/cache/clear',
  '/cache/cleanup',
];
const GET_ROUTES = [
  '/health',
  '/metrics',
  '/results',
  '/results/1',
  '/strategies/deployed',
  '/cache/stats',
  '/openapi.json',
  '/docs',
];

/** A text with random edits: characters replaced, inserted or cut. */
const mutated = (base: string) =>
  fc
    .array(fc.tuple(fc.nat(base.length), fc.nat(8), fc.string({ unit: 'binary', maxLength: 6 })), {
      minLength: 1,
      maxLength: 6,
    })
    .map((edits) =>
      edits.reduce((text, [at, cut, insert]) => text.slice(0, at) + insert + text.slice(at + cut), base),
    );

/** Whole-body shapes, from well-formed to hostile. */
function bodies(state: Record<string, number>): fc.Arbitrary<string> {
  const number = fc.oneof(fc.double(), fc.integer(), fc.constantFrom('NaN', '1e309', '0x10', '', null));
  const inputData = fc.oneof(
    fc.constant(state),
    fc.dictionary(fc.constantFrom(...Object.keys(state), 'x', ''), number),
    fc.jsonValue(),
  );
  const optimizeBody = fc.record(
    {
      input_data: inputData,
      config: fc.oneof(fc.constant(SMALL), mutated(SMALL), fc.jsonValue(), fc.constant({ variables: {} })),
      decisions: fc.dictionary(fc.constantFrom('feed', 'Kiln_Coal_PV', 'x'), number),
    },
    { requiredKeys: [] },
  );
  const feedback = fc.record(
    {
      decision: fc.oneof(fc.constantFrom('accepted', 'rejected', 'modified'), fc.string()),
      operator: fc.string({ unit: 'binary', maxLength: 20 }),
      reason: fc.string({ unit: 'binary', maxLength: 20 }),
      values: fc.dictionary(fc.string(), number),
    },
    { requiredKeys: [] },
  );
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 5_000 }), fc.constantFrom('[', '{"a":', '- '))
    .map(([n, open]) => open.repeat(n));
  return fc.oneof(
    optimizeBody.map((b) => JSON.stringify(b)),
    feedback.map((b) => JSON.stringify(b)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    mutated(SMALL),
    mutated(JSON.stringify({ input_data: state })),
    fc.string({ unit: 'binary', maxLength: 200 }),
    deep,
    fc.constant(''),
  );
}

/** Every request the fuzzer sends. */
export function fuzzRequests(state: Record<string, number>): fc.Arbitrary<FuzzRequest> {
  const id = fc.oneof(
    fc.nat().map(String),
    fc.string({ maxLength: 12 }).map(encodeURIComponent),
    fc.constantFrom('abc', '-1', '0', '1.5', '99999999999999999999', '%00'),
  );
  const path = fc.oneof(
    { arbitrary: fc.constantFrom(...POST_ROUTES), weight: 8 },
    { arbitrary: fc.constantFrom(...GET_ROUTES), weight: 2 },
    id.map((i) => `/results/${i}`),
    id.map((i) => `/results/${i}/feedback`),
    fc.string({ maxLength: 20 }).map((s) => `/${encodeURIComponent(s)}`),
    fc.constantFrom(
      '/results?limit=-5',
      '/results?since=yesterday',
      '/results?limit=1e9',
      '/cache/clear?kind=%00',
    ),
  );
  return fc.record({
    method: fc.constantFrom('GET' as const, 'POST' as const, 'POST' as const, 'POST' as const),
    path,
    contentType: fc.constantFrom('application/json', 'application/yaml', 'text/plain', undefined),
    body: fc.option(bodies(state), { nil: undefined }),
  });
}

/** What a run found. */
export interface FuzzReport {
  requests: number;
  byStatus: Record<string, number>;
  /** Requests answered 5xx (or not at all), with what was sent (truncated). */
  failures: { request: FuzzRequest; status: number | string; answer: string }[];
  seconds: number;
}

/** A server with the demo strategy deployed, a real pool, and a results store holding nothing. */
export async function startTarget(options: { requestTimeoutMs?: number } = {}): Promise<{
  url: string;
  state: Record<string, number>;
  close(): Promise<void>;
}> {
  const text = await readFile(`${DEMO}strategy.yaml`, 'utf8');
  const state = JSON.parse(await readFile(`${DEMO}example-state.json`, 'utf8')) as Record<string, number>;
  const readModelFile = localModelFiles(`${DEMO}models`);
  const pool: CyclePool = createCyclePool({ threads: 2, workerMemoryMb: 512 });
  const bundle = await bundleFromFiles(text, readModelFile, { version: 'fuzz' });
  const deployed = await pooledStrategy(pool, bundle);
  const strategies: StrategySource = {
    current: async () => ({ version: 'fuzz', strategy: deployed }),
    status: () => ({ state: 'loaded', version: 'fuzz' }),
  };
  // @po/api does not depend on @po/db: a store that holds no result (every id is a 404).
  const results: ResultsStore = {
    recent: async () => [],
    get: async () => undefined,
    addFeedback: async () => undefined,
  };
  const app = createApp({
    strategies,
    executor: pool,
    readModelFile,
    results,
    ...(options.requestTimeoutMs ? { settings: { requestTimeoutMs: options.requestTimeoutMs } } : {}),
  });
  const server = await new Promise<ServerType>((ready) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: async () => {
      await new Promise((done) => server.close(done));
      await pool.close();
    },
  };
}

/** Sends `count` requests drawn with `seed`, `concurrency` at a time. */
export async function fuzz(
  url: string,
  state: Record<string, number>,
  options: { seed: number; count: number; concurrency?: number },
): Promise<FuzzReport> {
  const requests = fc.sample(fuzzRequests(state), { seed: options.seed, numRuns: options.count });
  const report: FuzzReport = { requests: 0, byStatus: {}, failures: [], seconds: 0 };
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      const { status, answer } = await send(url, request);
      report.requests++;
      report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
      if (typeof status !== 'number' || status >= 500) {
        report.failures.push({
          request: { ...request, body: request.body?.slice(0, 200) },
          status,
          answer: answer.slice(0, 300),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

async function send(url: string, request: FuzzRequest): Promise<{ status: number | string; answer: string }> {
  const post = request.method === 'POST';
  try {
    const res = await fetch(`${url}${request.path}`, {
      method: request.method,
      ...(request.contentType && post ? { headers: { 'content-type': request.contentType } } : {}),
      ...(post && request.body !== undefined ? { body: request.body } : {}),
    });
    return { status: res.status, answer: await res.text() };
  } catch (e) {
    return { status: `no answer: ${(e as Error).message}`, answer: '' };
  }
}
