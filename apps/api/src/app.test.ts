import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { PoError } from '@po/core';
import { localModelFiles } from '@po/models';
import type { CycleResult } from '@po/rto-engine';
import { cycleResultSchema } from '@po/rto-engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from './app.ts';
import { DASHBOARD_ROUTES } from './dashboard/index.ts';
import {
  bundleFromFiles,
  type CyclePool,
  createCyclePool,
  type PooledStrategy,
  pooledStrategy,
} from './pool/index.ts';
import {
  cacheStatsResponseSchema,
  deployedResponseSchema,
  errorResponseSchema,
  feedbackResponseSchema,
  healthResponseSchema,
  messageResponseSchema,
  resultResponseSchema,
  resultsResponseSchema,
  validationResponseSchema,
} from './schemas.ts';
import type { AppOptions, RunnableStrategy, StrategySource } from './types.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const TOKEN = 'test-token-with-some-length';
const readModelFile = localModelFiles(`${DEMO}models`);

let pool: CyclePool;
let deployed: PooledStrategy;
let strategyText: string;
let state: Record<string, number>;
const servers: ServerType[] = [];

/** Starts an app on a loopback port; returns its base URL. */
async function start(overrides: Partial<AppOptions> = {}): Promise<string> {
  const strategies: StrategySource = {
    current: async () => ({ version: deployed.version, strategy: deployed }),
    status: () => ({ state: 'loaded', version: deployed.version, source: 'test' }),
  };
  const app = createApp({ strategies, executor: pool, readModelFile, ...overrides });
  const server = await new Promise<ServerType>((ready) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

let base: string;

const nothingDeployed: StrategySource = {
  current: async () => undefined,
  status: () => ({ state: 'none', version: null }),
};

/** The demo strategy as deployed, with `optimize` replaced (a failing or stuck optimizer). */
const deployedWith = (optimize: RunnableStrategy['optimize']): StrategySource => ({
  current: async () => ({ version: 'x', strategy: { ...deployed, optimize } }),
  status: () => ({ state: 'loaded', version: 'x' }),
});

beforeAll(async () => {
  strategyText = await readFile(`${DEMO}strategy.yaml`, 'utf8');
  state = JSON.parse(await readFile(`${DEMO}example-state.json`, 'utf8'));
  pool = createCyclePool({ threads: 2 });
  const bundle = await bundleFromFiles(strategyText, readModelFile, { version: '1.1.0' });
  deployed = await pooledStrategy(pool, bundle);
  await pool.warm(bundle);
  base = await start();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  await pool.close();
});

describe('POST /optimize', () => {
  it('optimizes the deployed strategy (the predecessor’s result shape)', async () => {
    const res = await post(`${base}/optimize`, { input_data: state });
    expect(res.status).toBe(200);
    const result = (await res.json()) as CycleResult;
    expect(result.status).toBe('success');
    expect(result.config_version).toBe('1.1.0');
    for (const key of [
      'timestamp',
      'variables',
      'optimized_variables',
      'predicted_variables',
      'constraint_variables',
      'cost_function_value',
      'summary',
    ]) {
      expect(result).toHaveProperty(key);
    }
    expect(Object.keys(result.setpoints).length).toBeGreaterThan(0);
    expect(result.optimizer.evaluations).toBeGreaterThan(0);
  });

  it('runs the strategy given in config (YAML text or JSON), compiled once per content', async () => {
    const first = await post(`${base}/optimize`, { input_data: state, config: strategyText });
    expect(first.status).toBe(200);
    expect(((await first.json()) as CycleResult).config_version).toBeNull();
    const { parse } = await import('yaml');
    const asJson = await post(`${base}/optimize`, { input_data: state, config: parse(strategyText) });
    expect(asJson.status).toBe(200);
    expect(((await asJson.json()) as CycleResult).status).toBe('success');
  });

  it('400 for an empty body', async () => {
    const res = await post(`${base}/optimize`, '');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: 'error', error: expect.stringContaining('empty') });
  });

  it('400 for malformed JSON', async () => {
    const res = await post(`${base}/optimize`, '{"input_data": {');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('not valid JSON');
  });

  it('400 when input_data is missing', async () => {
    const res = await post(`${base}/optimize`, { config: strategyText });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; details: { path: string }[] };
    expect(body.error).toContain('input_data');
    expect(body.details).toContainEqual(expect.objectContaining({ path: 'input_data' }));
  });

  it('400 naming the missing input variables', async () => {
    const { Kiln_Coal_PV: _, PH_Fan_Speed_PV: __, ...partial } = state;
    const res = await post(`${base}/optimize`, { input_data: partial });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('INPUT_INVALID');
    expect(body.error).toContain('Kiln_Coal_PV');
    expect(body.error).toContain('PH_Fan_Speed_PV');
  });

  it('400 with every problem for an invalid config structure', async () => {
    const config = {
      variables: { x: { type: 'Bogus' } },
      skills: { s: { class: 'MathFunction', inputs: ['x'], outputs: ['y'], config: {} } },
    };
    const res = await post(`${base}/optimize`, { input_data: state, config });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; details: { path: string; message: string }[] };
    expect(body.code).toBe('STRATEGY_INVALID');
    expect(body.details.length).toBeGreaterThanOrEqual(2);
    expect(body.details.map((d) => d.path)).toEqual(expect.arrayContaining(['variables.x.type', 'tasks']));
  });

  it('400 naming a model file the config needs and the API does not have', async () => {
    const res = await post(`${base}/optimize`, {
      input_data: state,
      config: strategyText.replace('demo_delta_Calciner_outlet_CO_ann.onnx', 'nope.onnx'),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { details: { path: string; message: string }[] };
    expect(JSON.stringify(body.details)).toContain('nope.onnx');
  });

  it('413 over the body limit', async () => {
    const small = await start({ settings: { bodyLimitBytes: 1024 } });
    const res = await post(`${small}/optimize`, { input_data: state, pad: 'x'.repeat(4096) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ status: 'error', code: 'BODY_TOO_LARGE' });
  });

  it('400 when no strategy is deployed and the body has no config (as the predecessor answered)', async () => {
    const empty = await start({
      strategies: nothingDeployed,
    });
    const res = await post(`${empty}/optimize`, { input_data: state });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('no strategy is deployed');
    const health = (await (await fetch(`${empty}/health`)).json()) as {
      status: string;
      degraded_reasons: string[];
    };
    expect(health.status).toBe('degraded');
    expect(health.degraded_reasons).toContain('no strategy is deployed');
  });

  it('422 when the optimizer fails (CycleError)', async () => {
    const failing = await start({
      strategies: deployedWith(async () => {
        throw Object.assign(
          new Error('[po/rto-engine] the cost is not finite (NaN) at the current plant values'),
          {
            code: 'CYCLE_FAILED',
          },
        );
      }),
    });
    const res = await post(`${failing}/optimize`, { input_data: state });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({
      code: 'CYCLE_FAILED',
      error: expect.stringContaining('not finite'),
    });
  });

  it('a 500 carries no stack trace', async () => {
    const broken = await start({
      strategies: deployedWith(async () => {
        throw new TypeError('secret internals at /srv/app/x.js:1:1');
      }),
    });
    const res = await post(`${broken}/optimize`, { input_data: state });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret');
    expect(text).not.toMatch(/\bat \S+:\d+/);
    expect(JSON.parse(text)).toMatchObject({ status: 'error', code: 'INTERNAL' });
  });

  it('504 when a task overruns its time limit by the margin', async () => {
    const slow = await start({
      settings: { requestTimeoutMs: 50 },
      // Ignores maxTimeMs (as a stuck task would) but honours the abort signal.
      strategies: deployedWith(
        (_s, options) =>
          new Promise((_, reject) =>
            options?.signal?.addEventListener('abort', () => reject(options.signal?.reason)),
          ),
      ),
    });
    const res = await post(`${slow}/optimize`, { input_data: state });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({
      code: 'TIMEOUT',
      error: expect.stringContaining('time limit of 50 ms'),
    });
  });

  it('passes the time limit to the optimizer, which answers its best point so far, flagged', async () => {
    // A search that cannot end within 1 ms on any machine (the default method may), compiled
    // in every worker beforehand so that the time goes to the optimizer.
    const searching = strategyText.replace(
      /algorithm: "SLSQP"\n(\s+)options: .*/,
      'algorithm: "DE"\n$1options: { population_size: 200, maxiter: 1000, max_time_ms: 2000 }',
    );
    expect(searching).not.toBe(strategyText);
    const bundle = await bundleFromFiles(searching, readModelFile, { version: 'de' });
    await pool.warm(bundle);
    const strategy = await pooledStrategy(pool, bundle);
    const hurried = await start({
      settings: { requestTimeoutMs: 1 },
      strategies: {
        current: async () => ({ version: 'de', strategy }),
        status: () => ({ state: 'loaded', version: 'de' }),
      },
    });
    const res = await post(`${hurried}/optimize`, { input_data: state });
    expect(res.status).toBe(200);
    expect(((await res.json()) as CycleResult).optimizer.timed_out).toBe(true);
  });
});

describe('other routes', () => {
  it('POST /simulate evaluates given decisions', async () => {
    const res = await post(`${base}/simulate`, {
      input_data: state,
      decisions: { Kiln_Coal_PV: state.Kiln_Coal_PV! + 0.05 },
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as CycleResult;
    expect(result.mode).toBe('simulate');
  });

  it('POST /strategies/validate reports a valid strategy (YAML) and every error (JSON)', async () => {
    const ok = await fetch(`${base}/strategies/validate`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: strategyText,
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ valid: true, errors: [] });
    const bad = await post(`${base}/strategies/validate`, { variables: {}, skills: {} });
    expect(bad.status).toBe(200);
    const report = (await bad.json()) as { valid: boolean; errors: unknown[] };
    expect(report.valid).toBe(false);
    expect(report.errors.length).toBeGreaterThan(0);
  });

  it('GET /strategies/deployed lists decision variables and model files with checksums', async () => {
    const res = await fetch(`${base}/strategies/deployed`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      version: string;
      decision_variables: string[];
      model_files: { path: string; sha256: string }[];
    };
    expect(body.version).toBe('1.1.0');
    expect(body.decision_variables).toEqual(deployed.decisionVariables);
    expect(body.model_files.length).toBeGreaterThan(0);
    expect(body.model_files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('results routes answer 501 without a store, and use the store when given', async () => {
    const res = await fetch(`${base}/results`);
    expect(res.status).toBe(501);
    expect(((await res.json()) as { error: string }).error).toContain('no results store');
    expect((await post(`${base}/results/1/feedback`, { decision: 'accepted', operator: 'ana' })).status).toBe(
      501,
    );

    const feedback: unknown[] = [];
    const withStore = await start({
      results: {
        recent: async ({ limit }) => [{ id: '1', limit }],
        get: async (id) => (id === '1' ? { id } : undefined),
        addFeedback: async (id, f) => {
          if (id !== '1') return undefined;
          feedback.push(f);
          return { id: 'f1', ...f };
        },
      },
    });
    expect(await (await fetch(`${withStore}/results?limit=5`)).json()).toMatchObject({
      results: [{ id: '1', limit: 5 }],
    });
    expect((await fetch(`${withStore}/results?limit=0`)).status).toBe(400);
    expect((await fetch(`${withStore}/results/2`)).status).toBe(404);
    const created = await post(`${withStore}/results/1/feedback`, { decision: 'rejected', operator: 'ana' });
    expect(created.status).toBe(201);
    expect(feedback).toEqual([{ decision: 'rejected', operator: 'ana' }]);
    expect(
      (await post(`${withStore}/results/1/feedback`, { decision: 'maybe', operator: 'ana' })).status,
    ).toBe(400);
  });

  it("replays routes answer 501 without a service, 400 for a bad window, and map the service's codes", async () => {
    expect(
      (await post(`${base}/replays`, { from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' })).status,
    ).toBe(501);
    // A stand-in service: the real one (database, pool, strategy) is tested through `po start` in apps/cli.
    const started: unknown[] = [];
    const withService = await start({
      replays: {
        start: async (request) => {
          started.push(request);
          if (request.every === 2) throw new PoError('replay', 'REPLAY_BUSY', 'replay r1 is running');
          if (request.strategy === '9.9.9') throw new PoError('replay', 'REPLAY_INVALID', 'no version 9.9.9');
          return { id: 'r1', rows: 10 };
        },
        report: async (id) => (id === 'r1' ? ({ replay: { id } } as never) : undefined),
      },
    });
    const window = { from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' };
    const ok = await post(`${withService}/replays`, window);
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ status: 'accepted', id: 'r1', rows: 10 });
    expect(started[0]).toEqual({
      from: new Date(window.from),
      to: new Date(window.to),
      every: 1,
      strategy: undefined,
    });
    const backwards = await post(`${withService}/replays`, { from: window.to, to: window.from });
    expect(backwards.status).toBe(400);
    expect(JSON.stringify(await backwards.json())).toContain('`to` is before `from`');
    expect((await post(`${withService}/replays`, { ...window, every: 0 })).status).toBe(400);
    expect((await post(`${withService}/replays`, { ...window, every: 2 })).status).toBe(409);
    expect((await post(`${withService}/replays`, { ...window, strategy: '9.9.9' })).status).toBe(400);
    expect((await fetch(`${withService}/replays/r1`)).status).toBe(200);
    expect((await fetch(`${withService}/replays/r2`)).status).toBe(404);
  });

  it('units routes answer 501 without a fleet; with one, list, 404 and per-unit metrics', async () => {
    const res = await fetch(`${base}/units`);
    expect(res.status).toBe(501);
    expect(((await res.json()) as { error: string }).error).toContain('runs no fleet');

    // The fleet's view is injected (the CLI adapts @po/fleet to it); here, two units in memory.
    const state = (id: string) => ({
      id,
      name: id,
      lastCycle: null,
      lagS: 0,
      consecutiveFailures: 0,
      droppedLate: 1,
    });
    const counters = {
      cycles: { ok: 3, skipped: 1, failed: 0 },
      droppedLate: 1,
      retried: 0,
      durationMs: { sum: 1500, count: 4 },
      lastDelayS: 0.25,
    };
    const withUnits = await start({
      units: {
        list: async () => [state('k1'), state('k2')],
        get: async (id) => (id === 'k1' ? state('k1') : undefined),
        counters: () => new Map([['k1', counters]]),
        modelMismatch: async () =>
          new Map([
            [
              'k1',
              {
                models: {
                  m1: {
                    variable: 'Kiln_Drive_Current_delta',
                    status: 'bad' as const,
                    reason: 'mean absolute error 20 above 16',
                    measured_by: 'Kiln_Drive_Current',
                    inferred: true,
                    samples: 9,
                    last_error: 21,
                    bias: 12.5,
                    mean_abs_error: 20,
                    corrected_mean_abs_error: 6,
                    cusum_high: 70,
                    cusum_low: 0,
                    thresholds: { suspect: 8, bad: 16, cusum: 60, slack: 8 },
                  },
                },
                forcedMonitor: "critical model 'm1' is bad",
              },
            ],
          ]),
      },
    });
    expect(await (await fetch(`${withUnits}/units`)).json()).toMatchObject({
      count: 2,
      units: [{ id: 'k1' }, { id: 'k2' }],
    });
    expect(await (await fetch(`${withUnits}/units/k1`)).json()).toMatchObject({
      unit: { id: 'k1', droppedLate: 1 },
    });
    const missing = await fetch(`${withUnits}/units/k9`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toContain("no unit 'k9'");
    const metrics = await (await fetch(`${withUnits}/metrics`)).text();
    expect(metrics).toContain('po_unit_cycles_ok{unit="k1"} 3');
    expect(metrics).toContain('po_unit_cycle_seconds_sum{unit="k1"} 1.5');
    expect(metrics).toContain('po_unit_model_mismatch_status{unit="k1",model="m1"} 2');
    expect(metrics).toContain('po_unit_model_mismatch_bias{unit="k1",model="m1"} 12.5');
    expect(metrics).toContain('po_unit_forced_monitor{unit="k1"} 1');
    expect(metrics).toContain('po_unit_mismatch_readable 1');
  });

  it('cache routes keep the predecessor’s shapes', async () => {
    const cleared: (string | undefined)[] = [];
    const withCache = await start({
      cache: {
        stats: () => ({ kinds: { model: { hits: 3, misses: 1 } } }),
        clear: (kind) => cleared.push(kind),
      },
    });
    expect(await (await fetch(`${withCache}/cache/stats`)).json()).toMatchObject({
      status: 'success',
      kinds: { model: { hits: 3, misses: 1 } },
    });
    expect(await (await post(`${withCache}/cache/clear`, '')).json()).toMatchObject({
      status: 'success',
      message: 'Cache cleared',
    });
    await post(`${withCache}/cache/clear`, { kind: 'model' });
    expect(cleared).toEqual([undefined, 'model']);
    expect(await (await fetch(`${withCache}/metrics`)).text()).toContain('po_cache_hits{kind="model"} 3');
  });

  it('GET /metrics exposes cycles, durations, evaluations and HTTP counters', async () => {
    await post(`${base}/optimize`, { input_data: state });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/po_cycles_total\{mode="optimize",status="success"\} \d+/);
    expect(text).toContain('po_cycle_duration_seconds_bucket');
    expect(text).toContain('po_solve_duration_seconds_bucket');
    expect(text).toMatch(/po_optimizer_evaluations_total \d+/);
    expect(text).toMatch(/po_http_requests_total\{method="POST",route="\/optimize",status="200"\} \d+/);
    expect(text).toContain('po_http_request_duration_seconds_bucket');
  });

  it('GET /metrics: model trust gauges per model (extrapolation of the last cycle; the runner’s mismatch)', async () => {
    await post(`${base}/optimize`, { input_data: state });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
      /po_model_extrapolating\{model="im_predict_delta_Kiln_Drive_Current"\} [01]/,
    );
    const status = {
      variable: 'predicted_Kiln_Drive_Current',
      measured_by: 'Kiln_Drive_Current',
      inferred: true,
      status: 'suspect' as const,
      reason: 'filtered absolute error 4 ≥ suspect 3.6',
      samples: 9,
      last_error: 5,
      bias: 2.5,
      mean_abs_error: 4,
      corrected_mean_abs_error: 2,
      cusum_high: 7,
      cusum_low: 0,
      thresholds: { suspect: 3.6, bad: 7.2, cusum: 9, slack: 1.8 },
    };
    const withRunner = await start({
      modelMismatch: () => ({ models: { im_predict_delta_Kiln_Drive_Current: status }, forcedMonitor: null }),
    });
    const text = await (await fetch(`${withRunner}/metrics`)).text();
    const model = '{model="im_predict_delta_Kiln_Drive_Current"}';
    expect(text).toContain(`po_model_mismatch_status${model} 1`);
    expect(text).toContain(`po_model_mismatch_bias${model} 2.5`);
    expect(text).toContain(`po_model_mismatch_abs_error${model} 4`);
    expect(text).toContain(`po_model_mismatch_cusum_high${model} 7`);
    expect(text).toContain('po_strategy_forced_monitor 0');
  });

  it('GET /openapi.json parses and lists the routes; /docs embeds it', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: object };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/optimize',
        '/simulate',
        '/strategies/validate',
        '/strategies/deployed',
        '/results',
        '/results/{id}/feedback',
        '/health',
        '/cache/stats',
        '/cache/clear',
        '/metrics',
      ]),
    );
    const html = await (await fetch(`${base}/docs`)).text();
    expect(html).toContain('/strategies/validate');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
  });
});

describe('auth', () => {
  it('needs the bearer token everywhere but /health and /metrics', async () => {
    const secured = await start({ settings: { apiToken: TOKEN } });
    const missing = await post(`${secured}/optimize`, { input_data: state });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await post(`${secured}/optimize`, { input_data: state }, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${secured}/cache/stats`)).status).toBe(401);
    expect(
      (await post(`${secured}/replays`, { from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' })).status,
    ).toBe(401);
    const ok = await post(`${secured}/optimize`, { input_data: state }, { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect((await fetch(`${secured}/health`)).status).toBe(200);
    expect((await fetch(`${secured}/metrics`)).status).toBe(200);
  });
});

describe('health under load', () => {
  it('answers /health while 8 /optimize requests saturate the pool', async () => {
    const inFlight = Array.from({ length: 8 }, () => post(`${base}/optimize`, { input_data: state }));
    const latencies: number[] = [];
    let sawBusyPool = false;
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const res = await fetch(`${base}/health`);
      latencies.push(performance.now() - started);
      const health = (await res.json()) as { status: string; pool: { queued: number; running: number } };
      expect(health.status).toBe('healthy');
      if (health.pool.running + health.pool.queued > 0) sawBusyPool = true;
    }
    const responses = await Promise.all(inFlight);
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(sawBusyPool).toBe(true);
    // Loose bound (timing tests must not be flaky); bench/load.ts records the real numbers.
    latencies.sort((a, b) => a - b);
    expect(latencies[latencies.length - 1]).toBeLessThan(1000);
  });
});

describe('the contract in code', () => {
  it('every JSON answer fits the zod schema the OpenAPI document shows for it', async () => {
    const check = async (schema: z.ZodType, res: Response | Promise<Response>) => {
      const body = await (await res).json();
      const parsed = schema.safeParse(body);
      expect(parsed.success ? [] : z.prettifyError(parsed.error)).toEqual([]);
    };
    const withAll = await start({
      results: {
        recent: async () => [{ id: '1', status: 'ok' }],
        get: async (id) => ({ id }),
        addFeedback: async (id, f) => ({ id: 'f1', result: id, ...f }),
      },
      cache: { stats: () => ({ kinds: {} }), clear: () => undefined, cleanup: () => 0 },
    });
    await check(cycleResultSchema, post(`${withAll}/optimize`, { input_data: state }));
    await check(cycleResultSchema, post(`${withAll}/simulate`, { input_data: state }));
    await check(validationResponseSchema, post(`${withAll}/strategies/validate`, { config: strategyText }));
    await check(deployedResponseSchema, fetch(`${withAll}/strategies/deployed`));
    await check(healthResponseSchema, fetch(`${withAll}/health`));
    await check(resultsResponseSchema, fetch(`${withAll}/results`));
    await check(resultResponseSchema, fetch(`${withAll}/results/1`));
    await check(
      feedbackResponseSchema,
      post(`${withAll}/results/1/feedback`, { decision: 'accepted', operator: 'ana' }),
    );
    await check(cacheStatsResponseSchema, fetch(`${withAll}/cache/stats`));
    await check(messageResponseSchema, post(`${withAll}/cache/clear`, { kind: 'model' }));
    await check(messageResponseSchema, post(`${withAll}/cache/cleanup`, ''));
    await check(errorResponseSchema, post(`${withAll}/optimize`, '{'));
    await check(errorResponseSchema, fetch(`${withAll}/nope`));
  });

  it('the OpenAPI document lists exactly the routes the app serves', async () => {
    const app = createApp({ strategies: nothingDeployed, executor: pool });
    const served = app.routes
      .filter((r) => r.method !== 'ALL' && !DASHBOARD_ROUTES.has(r.path))
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, object> };
    const documented = Object.entries(doc.paths)
      .flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      )
      .sort();
    expect(documented).toEqual(served);
  });

  it('echoes X-Request-Id (or makes one) and sends Server-Timing', async () => {
    const given = await fetch(`${base}/health`, { headers: { 'x-request-id': 'plant-7-abc' } });
    expect(given.headers.get('x-request-id')).toBe('plant-7-abc');
    const made = await fetch(`${base}/nope`);
    expect(made.status).toBe(404);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(made.headers.get('server-timing')).toMatch(/^total;dur=[\d.]+/);
  });

  it('a header that is not a bearer token is a 401 that says what to send; a token bearer-auth cannot match is refused at start', async () => {
    const secured = await start({ settings: { apiToken: TOKEN } });
    const basic = await fetch(`${secured}/cache/stats`, { headers: { authorization: 'Basic YTpi' } });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe('Bearer realm="po"');
    expect(await basic.json()).toEqual({
      status: 'error',
      timestamp: expect.any(String),
      error: 'missing bearer token: send Authorization: Bearer <PO_API_TOKEN>',
      error_type: 'UNAUTHORIZED',
      code: 'UNAUTHORIZED',
    });
    expect(
      (await fetch(`${secured}/cache/stats`, { headers: { authorization: `bearer ${TOKEN}` } })).status,
    ).toBe(200);
    expect(() =>
      createApp({ strategies: nothingDeployed, executor: pool, settings: { apiToken: 'pass word!' } }),
    ).toThrow(/PO_API_TOKEN.*letters, digits/);
  });

  it('a thrown value that is not an Error is a plain 500', async () => {
    const broken = await start({
      strategies: deployedWith(async () => {
        throw 'not an error';
      }),
    });
    const res = await post(`${broken}/optimize`, { input_data: state });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: 'INTERNAL' });
  });
});
