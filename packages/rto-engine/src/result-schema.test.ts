import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createModelProvider, localModelFiles } from '@po/models';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { compileStrategy } from './engine.ts';
import { type CycleResult, cycleResultSchema } from './result-schema.ts';
import { createInMemoryModelProvider } from './testing/index.ts';

/** Parses a result; the parsed value must be the result itself (no key the schema does not know). */
function roundTrip(result: CycleResult): void {
  const parsed = cycleResultSchema.safeParse(result);
  expect(parsed.error?.issues ?? []).toEqual([]);
  expect(parsed.data).toEqual(result);
}

const strategy = {
  variables: {
    feed_a: { type: 'Operative', threshold: 2, units: 't/h' },
    feed_b: { type: 'Operative', threshold: 2, units: 't/h' },
    feed: { type: 'Calculated', threshold: 3 },
    coal: { type: 'Operative', threshold: 0.1, min: 0 },
    temp: { type: 'Informative' },
    delta_coal: { type: 'Delta' },
    co: { type: 'Predicted' },
    co_score: { type: 'Constraint' },
    cost: { type: 'CalculatedKPI' },
  },
  skills: {
    mf_feed: {
      class: 'MathFunction',
      inputs: ['feed_a', 'feed_b'],
      outputs: ['feed'],
      config: { formula: 'feed_a + feed_b' },
    },
    mf_delta: {
      class: 'MathFunction',
      inputs: ['coal'],
      outputs: ['delta_coal'],
      config: { formula: 'coal - coal_current' },
    },
    im_co: {
      class: 'InferenceModel',
      inputs: ['delta_coal', 'feed'],
      outputs: ['co'],
      config: { model_path: 'co.onnx' },
    },
    cs_co: {
      class: 'Constraint',
      inputs: ['co'],
      outputs: ['co_score'],
      config: { var_min: 0, op_min: 0, op_max: 1, var_max: 2 },
    },
    mf_cost: {
      class: 'MathFunction',
      inputs: ['feed', 'co_score', 'coal'],
      outputs: ['cost'],
      config: { formula: '-10 * feed - 100 * co_score + 1000 * coal' },
    },
    flow: {
      class: 'CompositionSkill',
      config: { skill_sequence: ['mf_delta', 'im_co', 'cs_co', 'mf_cost'] },
    },
    opt: {
      class: 'OptimizationSkill',
      inputs: ['feed', 'coal'],
      config: { cost_skill_name: 'flow', cost_feature_name: 'cost' },
    },
  },
  tasks: [
    { name: 'PreCalculateVariables', skill_sequence: ['mf_feed'] },
    { name: 'CalculateRecommendations', skill_sequence: ['opt'] },
  ],
};
const state = { feed_a: 30, feed_b: 10, coal: 1, temp: 900 };
const provider = () => createInMemoryModelProvider({ models: { 'co.onnx': { weights: [-2, 0.025] } } });

describe('cycleResultSchema', () => {
  it('parses every mode of a real cycle, unchanged (constraint explanations, setpoints, bounds included)', async () => {
    const s = await compileStrategy(strategy, { modelProvider: provider(), version: '1.2.0' });
    const optimized = await s.optimize(state);
    expect(Object.keys(optimized.explanation.constraints)).toEqual(['co_score']);
    expect(Object.keys(optimized.setpoints).sort()).toEqual(['coal', 'feed_a', 'feed_b']);
    for (const result of [optimized, await s.simulate(state, { coal: 0.95 }), await s.monitor(state)]) {
      roundTrip(result);
    }
    await s.dispose();
  });

  it('parses the result of a strategy without optimization, whose costs are NaN (null in JSON)', async () => {
    const s = await compileStrategy(
      { ...strategy, tasks: [{ name: 'Monitor', skill_sequence: ['mf_feed', 'flow'] }] },
      { modelProvider: provider() },
    );
    const result = await s.optimize(state);
    expect(result.cost_function_value).toBeNaN();
    roundTrip(result);
    await s.dispose();
  });

  it("parses the predecessor strategy's results with real ONNX models", async () => {
    const fixtures = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
    const cases = JSON.parse(readFileSync(`${fixtures}expected/optimize-cases.json`, 'utf8')).cases;
    const s = await compileStrategy(
      parse(readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8')),
      {
        modelProvider: createModelProvider({ readFile: localModelFiles(fixtures) }),
      },
    );
    const result = await s.optimize(cases[0].input_data);
    expect(result.optimizer).toMatchObject({ algorithm: 'projected-quasi-newton', requested: 'SLSQP' });
    roundTrip(result);
    await s.dispose();
  });

  it('refuses what is not a cycle result, naming the field', () => {
    const issues = cycleResultSchema.safeParse({ status: 'success', mode: 'optimize' }).error!.issues;
    expect(issues.map((i) => i.path.join('.'))).toContain('optimizer');
  });

  it('is an OpenAPI source: every property described, costs number or null', () => {
    const json = z.toJSONSchema(cycleResultSchema, { io: 'output', unrepresentable: 'any' }) as {
      properties: Record<string, { description?: string; anyOf?: { type: string }[] }>;
    };
    for (const [key, value] of Object.entries(json.properties)) expect(value.description, key).toBeTruthy();
    expect(json.properties.cost_function_value!.anyOf!.map((t) => t.type)).toEqual(['number', 'null']);
  });
});
