/**
 * Planning without effects: a checked strategy and in-memory models in, the strategy graph out.
 */
import type { SurrogateModel } from '@po/core';
import { describe, expect, it } from 'vitest';
import { miniKiln, miniKilnModels } from '../test/mini-kiln.ts';
import { StrategyValidationError } from './errors.ts';
import { independentModelRun, planStrategy, type StrategyPlan } from './plan.ts';
import type { StrategySpec } from './schema.ts';
import { Feed, moveBounds } from './semantics.ts';
import { createInMemoryModelProvider } from './testing/index.ts';
import { checkStrategy } from './validate.ts';

function kiln(compat?: 'predecessor'): StrategySpec {
  const check = checkStrategy(miniKiln(compat));
  expect(check.errors).toEqual([]);
  return check.strategy!;
}

const provider = createInMemoryModelProvider(miniKilnModels);

async function modelsOf(spec: StrategySpec): Promise<Map<string, SurrogateModel>> {
  const models = new Map<string, SurrogateModel>();
  for (const [skill, s] of Object.entries(spec.skills)) {
    if (s.class !== 'InferenceModel') continue;
    models.set(
      skill,
      await provider.load({ skill, modelPath: s.config.model_path, inputs: s.inputs, output: s.outputs[0]! }),
    );
  }
  return models;
}

const names = (plan: StrategyPlan, indices: Iterable<number>) => [...indices].map((i) => plan.names[i]);
const skillNames = (plan: StrategyPlan, sequence: Int32Array) =>
  [...sequence].map((k) => plan.plans[k]!.name);

describe('planStrategy', () => {
  it('decision variables: Calculated ones and Operative ones not fixed by PreCalculateVariables, in input order', async () => {
    const spec = kiln();
    const plan = planStrategy(spec, await modelsOf(spec));
    expect(names(plan, plan.optimization!.decisions)).toEqual(['feed', 'coal', 'fan']);
    expect(plan.optimization).toMatchObject({
      skill: 'opt',
      algorithm: 'SLSQP',
      options: { maxiter: 20, seed: 1 },
    });
    expect(plan.names[plan.optimization!.costVariable]).toBe('cost');
  });

  it('sequences: compositions expanded in order, one sequence per task', async () => {
    const spec = kiln();
    const plan = planStrategy(spec, await modelsOf(spec));
    expect(plan.taskSequences.map((t) => [t.name, skillNames(plan, t.sequence)])).toEqual([
      ['PreCalculateVariables', ['mf_feed']],
      ['CalculateRecommendations', ['opt']],
    ]);
    expect(skillNames(plan, plan.optimization!.costSequence)).toEqual([
      'mf_delta',
      'im_co',
      'im_temp',
      'im_nox',
      'cs_co',
      'mf_cost',
    ]);
  });

  it('plant values a cycle needs: the Operative and Informative variables running skills read', async () => {
    const spec = kiln();
    const plan = planStrategy(spec, await modelsOf(spec));
    expect(names(plan, plan.required).sort()).toEqual(['coal', 'fan', 'feed_a', 'feed_b', 'temp']);
  });

  it('a Calculated plain sum of Operative tags maps onto them', async () => {
    const spec = kiln();
    const plan = planStrategy(spec, await modelsOf(spec));
    expect([...plan.sums].map(([sum, m]) => [plan.names[sum], names(plan, m.parts)])).toEqual([
      ['feed', ['feed_a', 'feed_b']],
    ]);
  });

  it('model inputs: Delta feeds dof - current; others their dof, or 0 in predecessor compat', async () => {
    for (const [compat, other] of [
      [undefined, Feed.dof],
      ['predecessor', Feed.zero],
    ] as const) {
      const spec = kiln(compat);
      const plan = planStrategy(spec, await modelsOf(spec));
      const co = plan.plans.find((p) => p.name === 'im_co');
      expect(co?.kind === 'model' && [...co.feeds]).toEqual([Feed.delta, other]);
    }
  });

  it('fusion candidates: consecutive models that do not feed each other (a model fed 0 does not read)', async () => {
    for (const [compat, runs] of [
      [undefined, [['im_co', 'im_temp'], ['im_temp'], ['im_nox']]],
      ['predecessor', [['im_co', 'im_temp', 'im_nox'], ['im_temp', 'im_nox'], ['im_nox']]],
    ] as const) {
      const spec = kiln(compat);
      const plan = planStrategy(spec, await modelsOf(spec));
      const cost = plan.optimization!.costSequence;
      const at = (skill: string) => skillNames(plan, cost).indexOf(skill);
      const found = ['im_co', 'im_temp', 'im_nox'].map((s) =>
        independentModelRun(plan.plans, cost, at(s)).map((k) => plan.plans[k]!.name),
      );
      expect(found).toEqual(runs);
      expect(independentModelRun(plan.plans, cost, at('mf_delta'))).toEqual([]);
    }
  });

  it('refuses to plan a model skill without its loaded model', async () => {
    const spec = kiln();
    const models = await modelsOf(spec);
    models.delete('im_nox');
    expect(() => planStrategy(spec, models)).toThrow(StrategyValidationError);
    expect(() => planStrategy(spec, models)).toThrow(/skills.im_nox: has no loaded model/);
  });

  it('does no I/O: planning twice gives the same graph and runs no model', async () => {
    const spec = kiln();
    const models = await modelsOf(spec);
    const before = { ...provider.stats };
    const a = planStrategy(spec, models);
    const b = planStrategy(spec, models);
    expect(provider.stats).toEqual(before);
    expect(names(b, b.optimization!.decisions)).toEqual(names(a, a.optimization!.decisions));
    expect(b.plans.map((p) => p.kind)).toEqual(a.plans.map((p) => p.kind));
  });
});

describe('the move-bound rule', () => {
  it.each([
    [{ threshold: 2 }, 10, [8, 12, 'inside']],
    [{ threshold: 0 }, 10, [10, 10, 'inside']],
    [{}, 10, [10, 10, 'inside']],
    [{ threshold: null }, 10, [9, 11, 'inside']],
    [{ threshold: 2, min: 9, max: 11 }, 10, [9, 11, 'inside']],
    [{ threshold: 2, max: 11 }, 12, [10, 11, 'outside']],
    [{ threshold: 1, max: 11 }, 13, [12, 12, 'beyond']],
    [{ threshold: 1, min: 11 }, 9, [10, 10, 'beyond']],
  ])('%o at %d: [%o]', (variable, current, [lower, upper, status]) => {
    expect(moveBounds({ type: 'Operative', ...variable }, current)).toMatchObject({ lower, upper, status });
  });
});
