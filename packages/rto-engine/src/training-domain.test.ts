// The extrapolation guard on the demo strategy with its real ONNX models and a demo kiln history.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createDemoKiln, createModelProvider, type DemoKilnRow, localModelFiles } from '@po/models';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileStrategy } from './engine.ts';
import type { CycleResult } from './result-schema.ts';
import type { CompiledStrategy } from './types.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const demoSpec = parse(readFileSync(`${DEMO}strategy.yaml`, 'utf8'));
const FEED_MODELS = ['im_predict_delta_Kiln_Drive_Current', 'im_predict_Calciner_outlet_CO'];
const metadata = JSON.parse(
  readFileSync(`${DEMO}models/saved_metadata/demo_delta_Kiln_Drive_Current_metadata.json`, 'utf8'),
);
const FEED_MAX: number = metadata.training_domain.variables.combined_Feed_rate.max;

const provider = createModelProvider({ readFile: localModelFiles(`${DEMO}models`) });
const compiled: CompiledStrategy[] = [];
afterAll(async () => {
  await Promise.all(compiled.map((c) => c.dispose()));
  await provider.dispose();
});

async function demo(extrapolation: 'allow' | 'warn' | 'restrict'): Promise<CompiledStrategy> {
  const strategy = await compileStrategy(
    { ...demoSpec, models: { extrapolation } },
    { modelProvider: provider },
  );
  compiled.push(strategy);
  return strategy;
}

/** A settled demo kiln (no operators): `rows` rows per segment, each segment at its feed per feeder. */
function history(segments: readonly { rows: number; feedPerFeeder: number }[]): DemoKilnRow[] {
  const kiln = createDemoKiln({ seed: 7 });
  const rows: DemoKilnRow[] = [];
  let start: string | undefined = '2026-01-05T00:00:00.000Z';
  for (const segment of segments) {
    kiln.setSetpoints({
      Kiln_Feed_SFF_1_Feed_rate: segment.feedPerFeeder,
      Kiln_Feed_SFF_2_Feed_rate: segment.feedPerFeeder,
    });
    rows.push(...kiln.history({ rows: segment.rows, operators: false, ...(start ? { start } : {}) }));
    start = undefined;
  }
  return rows;
}

const state = ({ timestamp: _, ...values }: DemoKilnRow) => values;
const feedOutside = (result: CycleResult, skill: string, at: 'at_current' | 'at_recommendation') =>
  result.model_trust.models[skill]![at]!.outside.find((e) => e.variable === 'combined_Feed_rate');

describe('extrapolation guard (demo strategy, demo kiln)', () => {
  it('flags the feed models on exactly the cycles whose feed is outside its training range, in units and fractions', async () => {
    const strategy = await demo('warn');
    // Normal feed (172 t/h), shifted feed (194 t/h, above the training range), normal again.
    const rows = history([
      { rows: 8, feedPerFeeder: 86 },
      { rows: 8, feedPerFeeder: 97 },
      { rows: 8, feedPerFeeder: 86 },
    ]);
    const flagged: boolean[] = [];
    for (const row of rows) {
      const result = await strategy.monitor(state(row));
      const feed = row.Kiln_Feed_SFF_1_Feed_rate + row.Kiln_Feed_SFF_2_Feed_rate;
      for (const skill of FEED_MODELS) {
        const out = feedOutside(result, skill, 'at_current');
        expect(out !== undefined, `${skill} at feed ${feed}`).toBe(feed > FEED_MAX);
        if (out) {
          expect(out.side).toBe('above');
          expect(out.excess).toBeCloseTo(feed - FEED_MAX, 9);
          expect(out.fraction).toBeCloseTo((feed - FEED_MAX) / (FEED_MAX - out.min), 9);
          expect(result.warnings.join('\n')).toContain(`model '${skill}' extrapolates at the current point`);
        }
      }
      expect(result.model_trust.models[FEED_MODELS[0]!]!.domain).toBe('metadata');
      flagged.push(feedOutside(result, FEED_MODELS[0]!, 'at_current') !== undefined);
    }
    expect(flagged).toEqual(rows.map((_, i) => i >= 8 && i < 16));
  }, 60_000);

  it('restrict keeps every recommendation inside the training box; allow does not', async () => {
    // The feed just below the top of its training range: the cost wants more feed.
    const rows = history([
      { rows: 4, feedPerFeeder: 86 },
      { rows: 6, feedPerFeeder: 90.6 },
    ]);
    const allow = await demo('allow');
    const restrict = await demo('restrict');
    let allowOutside = 0;
    for (const row of rows) {
      const a = await allow.optimize(state(row));
      const r = await restrict.optimize(state(row));
      for (const [skill, trust] of Object.entries(r.model_trust.models)) {
        if (!trust.at_current.inside) continue;
        expect(trust.at_recommendation!.outside, `${skill} under restrict`).toEqual([]);
      }
      expect(r.optimized_variables.combined_Feed_rate!.optimizer_suggested_value!).toBeLessThanOrEqual(
        FEED_MAX,
      );
      expect(a.warnings.some((w) => w.includes('extrapolates'))).toBe(false); // allow reports only
      if (feedOutside(a, FEED_MODELS[0]!, 'at_recommendation')) {
        allowOutside++;
        expect(a.model_trust.extrapolating).toContain(FEED_MODELS[0]);
        const limit = r.model_trust.models[FEED_MODELS[0]!]!.restricted.find((l) => l.active);
        expect(limit).toMatchObject({
          decision_variable: 'combined_Feed_rate',
          bound: 'upper',
          domain_variable: 'combined_Feed_rate',
        });
        expect(r.explanation.domain_limits.join('\n')).toMatch(
          /combined_Feed_rate is held at its upper bound .* by the training domain of 'im_predict_delta_Kiln_Drive_Current' \(combined_Feed_rate max /,
        );
      }
    }
    expect(allowOutside).toBeGreaterThan(0);
  }, 60_000);

  it('says when a domain is unknown: a model whose provider cannot tell', async () => {
    const { createInMemoryModelProvider } = await import('./testing/index.ts');
    const strategy = await compileStrategy(
      {
        variables: {
          x: { type: 'Operative', threshold: 1 },
          y: { type: 'Predicted' },
          cost: { type: 'CalculatedKPI' },
        },
        skills: {
          im: { class: 'InferenceModel', inputs: ['x'], outputs: ['y'], config: { model_path: 'm.onnx' } },
          mf: {
            class: 'MathFunction',
            inputs: ['y'],
            outputs: ['cost'],
            config: { formula: '(y - 3) ** 2' },
          },
          comp: {
            class: 'CompositionSkill',
            inputs: ['x'],
            outputs: ['cost'],
            config: { skill_sequence: ['im', 'mf'] },
          },
          opt: {
            class: 'OptimizationSkill',
            inputs: ['x'],
            outputs: ['x'],
            config: { cost_skill_name: 'comp', cost_feature_name: 'cost' },
          },
        },
        tasks: [{ name: 'Optimize', skill_sequence: ['opt'] }],
      },
      { modelProvider: createInMemoryModelProvider({ models: { 'm.onnx': { weights: [1] } } }) },
    );
    compiled.push(strategy);
    const result = await strategy.optimize({ x: 0 });
    expect(result.model_trust.models.im).toMatchObject({
      domain: 'unknown',
      at_current: { inside: true, outside: [] },
      restricted: [],
      mismatch: null,
    });
  });
});
