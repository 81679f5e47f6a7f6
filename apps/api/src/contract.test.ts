/**
 * The predecessor's HTTP contract (test/fixtures/predecessor-contract.json, from its api_service.py):
 * every field its clients read, with its meaning, against the real server on a loopback port. The
 * predecessor's own request: its strategy (ONNX exports of its models) in `config`, its input.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { localModelFiles } from '@po/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createApp } from './app.ts';
import { type CyclePool, createCyclePool } from './pool/index.ts';
import type { AppOptions, StrategySource } from './types.ts';

const fixture = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const COMPAT = fixture('../../../packages/rto-engine/test/fixtures/compat/');
const contract = JSON.parse(await readFile(fixture('../test/fixtures/predecessor-contract.json'), 'utf8'));
const strategyText = await readFile(`${COMPAT}predecessor-strategy.onnx.yaml`, 'utf8');
const cases = JSON.parse(await readFile(`${COMPAT}expected/optimize-cases.json`, 'utf8'));
const inputData = cases.cases[0].input_data as Record<string, number>;

const nothingDeployed: StrategySource = {
  current: async () => undefined,
  status: () => ({ state: 'none', version: null }),
};

/** The shape @po/cache's `cacheReport` gives (the service's cache); @po/api does not depend on @po/cache. */
const cacheReport = {
  current_config_version: '3.1.0',
  cached_last_run_timestamp: '2026-01-05T10:00:00.123456Z',
  cache_stats: {
    model: { active_items: 3, expired_items: 1, total_items: 4, hits: 9, misses: 4 },
    scaler: { active_items: 2, expired_items: 0, total_items: 2, hits: 2, misses: 2 },
  },
};

let pool: CyclePool;
let base: string;
let server: ServerType;

beforeAll(async () => {
  pool = createCyclePool({ threads: 1 });
  const options: AppOptions = {
    strategies: nothingDeployed,
    executor: pool,
    readModelFile: localModelFiles(`${COMPAT}models`),
    cache: { stats: () => cacheReport, clear: () => undefined },
  };
  const app = createApp(options);
  server = await new Promise<ServerType>((ready) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((done) => server.close(done));
  await pool.close();
});

const post = (path: string, body: string) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

type Entry = Record<string, unknown> & { category: string; type: string; delta: number | null };

describe('POST /optimize, the predecessor’s request (input_data and config)', () => {
  let body: Record<string, unknown>;
  beforeAll(async () => {
    const res = await post(
      '/optimize',
      JSON.stringify({ input_data: inputData, config: parse(strategyText) }),
    );
    expect(res.status).toBe(200);
    body = (await res.json()) as Record<string, unknown>;
  });

  it('has every top-level field', () => {
    for (const key of contract.optimize.top) expect(body, key).toHaveProperty(key);
    expect(body.status).toBe('success');
    expect(new Date(body.timestamp as string).toISOString()).toBe(body.timestamp);
  });

  it('lists exactly the variables of the predecessor’s types, each with its fields and category', () => {
    const spec = parse(strategyText) as {
      variables: Record<string, { type: string }>;
      skills: Record<string, { inputs: string[] }>;
      tasks: { name: string; skill_sequence: string[] }[];
    };
    const expected = Object.entries(spec.variables)
      .filter(([, v]) => contract.optimize.variableTypes.includes(v.type))
      .map(([n]) => n);
    const variables = body.variables as Record<string, Entry>;
    expect(Object.keys(variables).sort()).toEqual(expected.sort());
    const precalc = new Set(
      spec.tasks
        .filter((t) => t.name === 'PreCalculateVariables')
        .flatMap((t) => t.skill_sequence.flatMap((s) => spec.skills[s]?.inputs ?? [])),
    );
    for (const [name, v] of Object.entries(variables)) {
      for (const field of contract.optimize.variable) expect(v, `${name}.${field}`).toHaveProperty(field);
      expect(contract.optimize.categories).toContain(v.category);
      expect(typeof v.units).toBe('string');
      const optimizable = v.type === 'Calculated' || (v.type === 'Operative' && !precalc.has(name));
      const category = optimizable
        ? 'optimizable'
        : ((
            { Predicted: 'predicted', Constraint: 'constraint', Operative: 'operative' } as Record<
              string,
              string
            >
          )[v.type] ?? 'informative');
      expect(v.category, name).toBe(category);
      for (const field of contract.optimize.perCategory[v.category] ?? []) {
        expect(v, `${name}.${field}`).toHaveProperty(field);
      }
      if (v.category === 'predicted') expect(v.model_output).toBe(true);
    }
    expect(Object.values(variables).some((v) => v.category === 'operative')).toBe(true);
  });

  it('splits the variables by category and counts them in summary', () => {
    const variables = body.variables as Record<string, Entry>;
    const changed = (entries: Entry[]) =>
      entries.filter((v) => v.delta !== null && Math.abs(v.delta) > 1e-6).length;
    for (const [key, category] of Object.entries(contract.optimize.categoryMaps as Record<string, string>)) {
      const expected = Object.keys(variables).filter((n) => variables[n]!.category === category);
      expect(Object.keys(body[key] as object).sort(), key).toEqual(expected.sort());
    }
    const summary = body.summary as Record<string, unknown>;
    for (const key of contract.optimize.summary) expect(summary, key).toHaveProperty(key);
    const all = Object.values(variables);
    const withChanges = changed(all);
    expect(summary).toMatchObject({
      total_variables: all.length,
      total_variables_with_optimizer_changes: withChanges,
      total_optimizable_variables_changed: changed(all.filter((v) => v.category === 'optimizable')),
      total_predicted_variables: all.filter((v) => v.category === 'predicted').length,
      total_constraints: all.filter((v) => v.category === 'constraint').length,
      optimization_impact: `${withChanges}/${all.length} variables have optimizer suggestions different from user input`,
    });
    expect(withChanges).toBeGreaterThan(0);
    const cost =
      variables.cost_function_total ?? (body.derived_variables as Record<string, Entry>).cost_function_total;
    expect(body.cost_function_value).toBeCloseTo(cost!.optimizer_suggested_value as number, 9);
  });
});

describe('the predecessor’s errors and other routes', () => {
  it('400 with status, timestamp and error for each malformed /optimize body', async () => {
    for (const [what, text] of contract.optimize.badBodies as [string, string][]) {
      const res = await post('/optimize', text);
      expect(res.status, what).toBe(400);
      const body = (await res.json()) as Record<string, unknown>;
      for (const key of contract.optimize.error) expect(body, `${what}: ${key}`).toHaveProperty(key);
      expect(body.status).toBe('error');
    }
  });

  it('400 for a body without config when nothing is deployed', async () => {
    const res = await post('/optimize', JSON.stringify({ input_data: inputData }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      status: 'error',
      error: expect.stringContaining('no strategy'),
    });
  });

  it('GET /health: status healthy and cache_stats', async () => {
    const deployed = await fetch(`${base}/health`);
    const body = (await deployed.json()) as Record<string, Record<string, unknown>>;
    for (const key of contract.health.top) expect(body).toHaveProperty(key);
    // Nothing is deployed here, so po says degraded; a served strategy is `healthy` (app.test.ts).
    expect(['healthy', 'degraded']).toContain(body.status);
    for (const key of contract.health.cache_stats) expect(body.cache_stats).toHaveProperty(key);
    expect(body.cache_stats).toEqual({
      config_version: null,
      cached_timestamp: '2026-01-05T10:00:00.123456Z',
      total_cached_items: 5,
    });
  });

  it('GET /cache/stats and POST /cache/clear', async () => {
    const stats = (await (await fetch(`${base}/cache/stats`)).json()) as Record<string, unknown>;
    for (const key of contract.cacheStats.top) expect(stats).toHaveProperty(key);
    expect(stats).toMatchObject({ status: 'success', current_config_version: '3.1.0' });
    const details = stats.cache_details as Record<string, Record<string, number>>;
    expect(Object.keys(details).sort()).toEqual(['model_cache', 'scaler_cache']);
    for (const d of Object.values(details))
      for (const key of contract.cacheStats.detail) expect(d).toHaveProperty(key);
    expect(details.model_cache).toEqual({ active_items: 3, expired_items: 1, total_items: 4 });
    const cleared = (await (await post('/cache/clear', '')).json()) as Record<string, unknown>;
    for (const key of contract.cacheClear) expect(cleared).toHaveProperty(key);
    expect(cleared.status).toBe('success');
  });

  it('404 with status, timestamp and "Endpoint not found"', async () => {
    const res = await fetch(`${base}/no/such/route`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as Record<string, unknown>;
    for (const key of contract.notFound.top) expect(body).toHaveProperty(key);
    expect(body.error).toContain(contract.notFound.error);
  });
});
