/**
 * Issue 9: no request can take po down, and client mistakes are 4xx. Every test runs the real
 * server on a loopback port with a real worker pool (ONNX Runtime in each worker).
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { localModelFiles } from '@po/models';
import { aliasBomb, aliasedStrategy, nestedBrackets } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from './app.ts';
import {
  bundleFromFiles,
  type CyclePool,
  createCyclePool,
  type PooledStrategy,
  pooledStrategy,
  strategyFilePaths,
} from './pool/index.ts';
import { wideModelFiles } from './testing/wide-models.ts';
import type { AppOptions, ResultsStore, StrategySource } from './types.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const readModelFile = localModelFiles(`${DEMO}models`);
const slowToCompile = wideModelFiles(`${DEMO}models`, 1024, 3);

let pool: CyclePool;
let deployed: PooledStrategy;
let strategyText: string;
let state: Record<string, number>;
let base: string;
const servers: ServerType[] = [];
/** Store calls made: the refusals below must answer before the store is asked. */
const storeCalls: string[] = [];

/**
 * A results store that records calls and holds no result. It stands in for @po/db (which
 * @po/api does not depend on): the tests check that bad ids and bodies never reach a store.
 */
const results: ResultsStore = {
  recent: async () => {
    storeCalls.push('recent');
    return [];
  },
  get: async (id) => {
    storeCalls.push(`get ${id}`);
    return undefined;
  },
  addFeedback: async (id) => {
    storeCalls.push(`feedback ${id}`);
    return undefined;
  },
};

async function start(overrides: Partial<AppOptions> = {}): Promise<string> {
  const strategies: StrategySource = {
    current: async () => ({ version: deployed.version, strategy: deployed }),
    status: () => ({ state: 'loaded', version: deployed.version, source: 'test' }),
  };
  const app = createApp({ strategies, executor: pool, readModelFile, results, ...overrides });
  const server = await new Promise<ServerType>((ready) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const send = (url: string, body: string, type = 'application/json') =>
  fetch(url, { method: 'POST', headers: { 'content-type': type }, body });

/** ~600 KB of `[` then `]`: the body that ended the process on main. */
const nestedYaml = nestedBrackets(300_000);

beforeAll(async () => {
  strategyText = await readFile(`${DEMO}strategy.yaml`, 'utf8');
  state = JSON.parse(await readFile(`${DEMO}example-state.json`, 'utf8'));
  pool = createCyclePool({ threads: 2, workerMemoryMb: 512 });
  const bundle = await bundleFromFiles(strategyText, readModelFile, { version: '1.1.0' });
  deployed = await pooledStrategy(pool, bundle);
  await slowToCompile.prepare(strategyFilePaths(strategyText));
  base = await start();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  await pool.close();
});

describe('client mistakes are 4xx naming the problem', () => {
  it('a strategy with 150 aliases validates; an alias bomb is a 400 naming the limit', async () => {
    const ok = await send(`${base}/strategies/validate`, aliasedStrategy(150), 'application/yaml');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ valid: true, errors: [] });

    const bomb = await send(`${base}/strategies/validate`, aliasBomb(), 'application/yaml');
    expect(bomb.status).toBe(400);
    expect(await bomb.json()).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      error: expect.stringContaining('PO_LIMIT_YAML_ALIASES'),
    });
    const inConfig = await send(
      `${base}/optimize`,
      JSON.stringify({ input_data: state, config: aliasBomb() }),
    );
    expect(inConfig.status).toBe(400);
    expect(await inConfig.text()).toContain('PO_LIMIT_YAML_ALIASES');
  });

  it('JSON nested 100k deep is a 400 naming the nesting limit (every JSON route)', async () => {
    const deep = `{"input_data": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    for (const path of [
      '/optimize',
      '/simulate',
      '/strategies/validate',
      '/results/1/feedback',
      '/cache/clear',
    ]) {
      const res = await send(`${base}${path}`, deep);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(
        /nests deeper than the limit of 64 levels/,
      );
    }
  });

  it('a result id that is not one is a 400 naming it, before the store', async () => {
    storeCalls.length = 0;
    const get = await fetch(`${base}/results/abc`);
    expect(get.status).toBe(400);
    expect(((await get.json()) as { error: string }).error).toContain("result id 'abc' is not a result id");
    const feedback = await send(`${base}/results/abc/feedback`, JSON.stringify({ decision: 'accepted' }));
    expect(feedback.status).toBe(400);
    expect(((await feedback.json()) as { error: string }).error).toContain("'abc'");
    for (const bad of ['0', '-1', '1.5', '99999999999999999999']) {
      expect((await fetch(`${base}/results/${bad}`)).status, bad).toBe(400);
    }
    expect(storeCalls).toEqual([]);
    expect((await fetch(`${base}/results/7`)).status).toBe(404);
    expect(storeCalls).toEqual(['get 7']);
  });

  it('a NUL character in feedback is a 400 naming the field', async () => {
    storeCalls.length = 0;
    const res = await send(
      `${base}/results/1/feedback`,
      JSON.stringify({ decision: 'rejected', operator: 'ann\u0000', reason: 'x' }),
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: expect.stringContaining('NUL character'),
      details: [{ path: 'operator', message: 'contains a NUL character' }],
    });
    expect(storeCalls).toEqual([]);
  });

  it('nested YAML, a huge population and a 30k-term formula are 400s naming the limit', async () => {
    const nested = await send(`${base}/strategies/validate`, nestedYaml, 'application/yaml');
    expect(nested.status).toBe(400);
    expect(((await nested.json()) as { error: string }).error).toContain('PO_LIMIT_NESTING');

    const population = strategyText.replace(/options: \{/, 'options: { population_size: 10000000,');
    expect(population).not.toBe(strategyText);
    const optimize = await send(
      `${base}/optimize`,
      JSON.stringify({ input_data: state, config: population }),
    );
    expect(optimize.status).toBe(400);
    expect(((await optimize.json()) as { error: string }).error).toContain('PO_LIMIT_POPULATION');

    const terms = Array.from({ length: 30_000 }, () => 'feed').join(' + ');
    const formula = aliasedStrategy(0).replace('feed * 2', terms);
    const validate = await send(`${base}/strategies/validate`, formula, 'application/yaml');
    expect(validate.status).toBe(400);
    expect(((await validate.json()) as { error: string }).error).toContain('PO_LIMIT_FORMULA_CHARS');
  });
});

describe('the crash sequence from issue 9', () => {
  it('timeouts and then nested-YAML bodies: the server answers, the pool is whole, memory is given back', async () => {
    // Wide networks: compiling takes far longer than the limit on any machine.
    const hurried = await start({ settings: { requestTimeoutMs: 150 }, readModelFile: slowToCompile });
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 3; i++) {
      // A strategy no worker has compiled (its models load for longer than the limit): 504.
      const fresh = `${strategyText}\n# fresh ${i} ${Date.now()}\n`;
      const res = await send(`${hurried}/simulate`, JSON.stringify({ input_data: state, config: fresh }));
      expect(res.status).toBe(504);
      expect(((await res.json()) as { error: string }).error).toContain('time limit of 150 ms');
    }
    for (let i = 0; i < 2; i++) {
      // Same process and pool, the default time limit (a loaded machine reads 600 KB slowly).
      const res = await send(`${base}/strategies/validate`, nestedYaml, 'application/yaml');
      expect(res.status).toBe(400);
    }
    const health = await fetch(`${hurried}/health`);
    expect(health.status).toBe(200);
    // The aborted workers were ended and replaced: the pool still runs cycles.
    // (New workers compile the deployed strategy again: a generous limit for a loaded machine.)
    const patient = await start({ settings: { requestTimeoutMs: 120_000 } });
    const after = await send(`${patient}/optimize`, JSON.stringify({ input_data: state }));
    expect(after.status).toBe(200);
    expect(pool.stats().threads).toBe(2);
    // On main, three 504s held 2.7 GB; ended workers give theirs back.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(400 * 1024 * 1024);
  });

  it('the time limit holds on validate too', async () => {
    const hurried = await start({ settings: { requestTimeoutMs: 100 }, readModelFile: slowToCompile });
    const fresh = `${strategyText}\n# validate ${Date.now()}\n`;
    const res = await send(`${hurried}/strategies/validate`, fresh, 'application/yaml');
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({
      code: 'TIMEOUT',
      error: expect.stringContaining('/strategies/validate'),
    });
  });
});

describe('/health never waits behind request work', () => {
  it('answers while a heavy validate is in flight', async () => {
    // A generous limit: compiling on a loaded machine may take seconds.
    const patient = await start({ settings: { requestTimeoutMs: 120_000 } });
    const fresh = `${strategyText}\n# heavy ${Date.now()}\n`;
    let validated = false;
    const validating = send(`${patient}/strategies/validate`, fresh, 'application/yaml').then((r) => {
      validated = true;
      return r;
    });
    let seenRunning = false;
    while (!validated && !seenRunning) {
      const health = (await (await fetch(`${patient}/health`)).json()) as { pool: { running: number } };
      seenRunning = health.pool.running > 0 && !validated;
    }
    expect((await validating).status).toBe(200);
    expect(seenRunning).toBe(true);
  });
});

/** POST on a keep-alive agent (node:http): the status, the body, and whether the socket was reused. */
function postOn(
  agent: Agent,
  url: string,
  body: string,
  type: string,
): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': type } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('validate floods', () => {
  it('a hostile body is refused from its first kilobytes and the connection carries the next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers = [];
      // One socket, one request after the other: each 400 is sent before the body is read to its
      // end; the rest is drained, so the same connection serves the next request (it used to
      // stall until the server dropped it, and the next request failed with a hang-up).
      for (let i = 0; i < 3; i++)
        answers.push(await postOn(agent, `${base}/strategies/validate`, nestedYaml, 'application/yaml'));
      answers.push(await postOn(agent, `${base}/strategies/validate`, strategyText, 'application/yaml'));
      expect(answers.map((a) => a.status)).toEqual([400, 400, 400, 200]);
      expect(answers.map((a) => a.reused)).toEqual([false, true, true, true]);
      expect(JSON.parse(answers[0]!.body)).toMatchObject({
        code: 'LIMIT_EXCEEDED',
        error: expect.stringContaining('nesting depth 65 is over the limit of 64'),
      });
    } finally {
      agent.destroy();
    }
  });

  it('a body refused by its length (413) is drained and the connection carries the next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const tooLarge = 'x'.repeat(1024 * 1024 + 1); // the default body limit is 1 MiB
      const answers = [];
      for (let i = 0; i < 2; i++)
        answers.push(await postOn(agent, `${base}/strategies/validate`, tooLarge, 'application/yaml'));
      answers.push(await postOn(agent, `${base}/strategies/validate`, strategyText, 'application/yaml'));
      expect(answers.map((a) => a.status)).toEqual([413, 413, 200]);
      expect(answers.map((a) => a.reused)).toEqual([false, true, true]);
    } finally {
      agent.destroy();
    }
  });

  it('checks each growing prefix: deep nesting after 40 KB is refused, a long valid strategy is not', async () => {
    const padding = `${'# a comment line, as long strategies have\n'.repeat(2500)}`; // ~105 KB
    const late = await send(
      `${base}/strategies/validate`,
      `${padding}x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
      'application/yaml',
    );
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      details: [{ path: 'line 2501', message: expect.stringContaining('nesting depth') }],
    });
    const long = await send(`${base}/strategies/validate`, `${padding}${strategyText}`, 'application/yaml');
    expect(long.status).toBe(200);
    expect(await long.json()).toMatchObject({ valid: true, errors: [] });
    const deepJson = await send(
      `${base}/strategies/validate`,
      `{"config": ${'['.repeat(200_000)}${']'.repeat(200_000)}}`,
      'application/json',
    );
    expect(deepJson.status).toBe(400);
    expect(((await deepJson.json()) as { error: string }).error).toContain(
      'nests deeper than the limit of 64',
    );
  });

  it('/health answers while floods of 600 KB bodies are in flight', async () => {
    const flood = Array.from({ length: 24 }, () =>
      send(`${base}/strategies/validate`, nestedYaml, 'application/yaml').then((r) => r.status),
    );
    const healths: number[] = [];
    let settled = false;
    const all = Promise.all(flood).finally(() => {
      settled = true;
    });
    // At least one probe, and probes for as long as the flood lasts.
    do {
      const health = await fetch(`${base}/health`);
      healths.push(health.status);
      expect(await health.json()).toMatchObject({ status: 'healthy' });
    } while (!settled);
    expect(new Set(await all)).toEqual(new Set([400]));
    expect(new Set(healths)).toEqual(new Set([200]));
  });
});
