import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createModelProvider, localModelFiles } from '@po/models';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { miniKiln, miniKilnModels, miniKilnState as state } from '../test/mini-kiln.ts';
import { compileStrategy } from './engine.ts';
import { type CycleResult, cycleResultSchema } from './result-schema.ts';
import { createInMemoryModelProvider } from './testing/index.ts';

/** Parses a result; the parsed value must be the result itself (no key the schema does not know). */
function roundTrip(result: CycleResult): void {
  const parsed = cycleResultSchema.safeParse(result);
  expect(parsed.error?.issues ?? []).toEqual([]);
  expect(parsed.data).toEqual(result);
}

const provider = () => createInMemoryModelProvider(miniKilnModels);

describe('cycleResultSchema', () => {
  it('parses every mode of a real cycle, unchanged (constraint explanations, setpoints, bounds included)', async () => {
    const s = await compileStrategy(miniKiln(), { modelProvider: provider(), version: '1.2.0' });
    const optimized = await s.optimize(state);
    expect(Object.keys(optimized.explanation.constraints)).toEqual(['co_score']);
    // The in-memory test models give no derivatives: the sensitivities are differences.
    expect(optimized.explanation.sensitivities).toBe('finite differences');
    expect(Object.keys(optimized.setpoints).sort()).toEqual(['coal', 'fan', 'feed_a', 'feed_b']);
    for (const result of [optimized, await s.simulate(state, { coal: 0.95 }), await s.monitor(state)]) {
      roundTrip(result);
    }
    await s.dispose();
  });

  it('parses the result of a strategy without optimization, whose costs are NaN (null in JSON)', async () => {
    const s = await compileStrategy(
      { ...miniKiln(), tasks: [{ name: 'Monitor', skill_sequence: ['mf_feed', 'flow'] }] },
      { modelProvider: provider() },
    );
    const result = await s.optimize(state);
    expect(result.cost_function_value).toBeNaN();
    expect(result.explanation.sensitivities).toBeNull();
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
    expect(result.optimizer).toMatchObject({ algorithm: 'projected-bfgs', requested: 'SLSQP' });
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
