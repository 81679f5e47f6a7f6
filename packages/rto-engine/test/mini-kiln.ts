import type { InMemoryModelProviderOptions } from '../src/testing/index.ts';

/**
 * A kiln in miniature, for tests that need every part of a strategy without ONNX Runtime: a
 * precalculated feed sum of two Operative tags, a Delta, three in-memory models on the cost path
 * (the third chained on the second), a constraint score, a decision variable that cannot move
 * (fan) and an Informative input of the optimization. At `miniKilnState` the CO score is far
 * below 1 and the best answer sits on the bounds of feed and coal.
 */
export function miniKiln(compat?: 'predecessor') {
  return {
    ...(compat ? { engine: { compat } } : {}),
    variables: {
      feed_a: { type: 'Operative', threshold: 2, units: 't/h' },
      feed_b: { type: 'Operative', threshold: 2, units: 't/h' },
      feed: { type: 'Calculated', threshold: 3 },
      coal: { type: 'Operative', threshold: 0.1, min: 0 },
      fan: { type: 'Operative' },
      temp: { type: 'Informative' },
      unused: { type: 'Informative' },
      delta_coal: { type: 'Delta' },
      co: { type: 'Predicted' },
      temp_pred: { type: 'Predicted' },
      nox: { type: 'Predicted' },
      co_score: { type: 'Constraint' },
      cost: { type: 'CalculatedKPI' },
    },
    skills: {
      mf_feed: skill('MathFunction', ['feed_a', 'feed_b'], 'feed', { formula: 'feed_a + feed_b' }),
      mf_delta: skill('MathFunction', ['coal'], 'delta_coal', { formula: 'coal - coal_current' }),
      im_co: skill('InferenceModel', ['delta_coal', 'temp'], 'co', { model_path: 'co.onnx' }),
      im_temp: skill('InferenceModel', ['delta_coal', 'feed'], 'temp_pred', { model_path: 'temp.onnx' }),
      im_nox: skill('InferenceModel', ['temp_pred'], 'nox', { model_path: 'nox.onnx' }),
      cs_co: skill('Constraint', ['co'], 'co_score', { var_min: 0, op_min: 0, op_max: 1, var_max: 2 }),
      mf_cost: skill('MathFunction', ['feed', 'co_score', 'nox'], 'cost', {
        formula: '-feed - 100 * co_score + nox',
      }),
      flow: {
        class: 'CompositionSkill',
        config: { skill_sequence: ['mf_delta', 'im_co', 'im_temp', 'im_nox', 'cs_co', 'mf_cost'] },
      },
      opt: {
        class: 'OptimizationSkill',
        inputs: ['feed_a', 'feed', 'coal', 'fan', 'temp'],
        config: {
          cost_skill_name: 'flow',
          cost_feature_name: 'cost',
          algorithm: 'SLSQP',
          options: { maxiter: 20 },
        },
      },
    },
    tasks: [
      { name: 'PreCalculateVariables', skill_sequence: ['mf_feed'] },
      { name: 'CalculateRecommendations', skill_sequence: ['opt'] },
    ],
  };
}

function skill(cls: string, inputs: string[], output: string, config: Record<string, unknown>) {
  return { class: cls, inputs, outputs: [output], config };
}

/** The models of `miniKiln`, for `createInMemoryModelProvider`. */
export const miniKilnModels: InMemoryModelProviderOptions = {
  models: {
    'co.onnx': { weights: [1, 0.01] },
    'temp.onnx': { weights: [3, 0.1] },
    'nox.onnx': { weights: [0.5] },
  },
};

/** A plant state for `miniKiln`. */
export const miniKilnState = { feed_a: 30, feed_b: 10, coal: 1, fan: 5, temp: 900 };
