/**
 * The strategy semantics of the design, one rule at a time, on small strategies whose models are
 * held in memory (`@po/rto-engine/testing`): no ONNX Runtime here. The predecessor's numbers with
 * real ONNX models are checked in engine.compat.test.ts.
 */
import { ModelLoadError, type ModelProvider, type SurrogateModel } from '@po/core';
import { describe, expect, it } from 'vitest';
import { constraintScore } from './constraint-score.ts';
import { asModelLoadError, compileStrategy } from './engine.ts';
import { CycleError, InputDataError, StrategyValidationError } from './errors.ts';
import { createOptimizer } from './optimizer/index.ts';
import type { Optimizer } from './optimizer/types.ts';
import { createInMemoryModelProvider, type InMemoryModelProviderOptions } from './testing/index.ts';
import type { CompileOptions } from './types.ts';

/**
 * The models in engine units, as @po/models computes them from a network and its scalers:
 * `sum.onnx` is y = x1 + x2 with input `delta_a` scaled by its scaler `a` (x*0.5 + 1, the key
 * without delta_) and the output inverse-scaled by `y` (v / 0.25); `double.onnx` is y = 2x.
 */
const models: InMemoryModelProviderOptions = {
  models: {
    'sum.onnx': (row) => (row[0]! * 0.5 + 1 + row[1]!) / 0.25,
    'double.onnx': { weights: [2] },
  },
  files: {
    'sum_scalers.json': JSON.stringify({
      scalers: {
        a: { kind: 'MinMaxScaler', min_: [1], scale_: [0.5] },
        y: { kind: 'MinMaxScaler', min_: [0], scale_: [0.25] },
      },
    }),
  },
};

const provider = () => createInMemoryModelProvider(models);
const compile = (spec: unknown, options: CompileOptions = {}) =>
  compileStrategy(spec, { modelProvider: provider(), ...options });

/** A small two-model strategy whose numbers can be worked out by hand. */
function strategy(compat?: 'predecessor') {
  return {
    ...(compat ? { engine: { compat } } : {}),
    variables: {
      a: { type: 'Operative', threshold: 1 },
      b: { type: 'Informative' },
      delta_a: { type: 'Delta' },
      delta_y: { type: 'Predicted' },
      z: { type: 'Predicted' },
      cost: { type: 'CalculatedKPI' },
    },
    skills: {
      mf_delta_a: {
        class: 'MathFunction',
        inputs: ['a'],
        outputs: ['delta_a'],
        config: { formula: 'a_dof - a_current' },
      },
      im_y: {
        class: 'InferenceModel',
        inputs: ['delta_a', 'b'],
        outputs: ['delta_y'],
        config: { model_path: 'sum.onnx', scaler_path: 'sum_scalers.json' },
      },
      im_z: {
        class: 'InferenceModel',
        inputs: ['delta_y'],
        outputs: ['z'],
        config: { model_path: 'double.onnx' },
      },
      mf_cost: {
        class: 'MathFunction',
        inputs: ['z', 'a'],
        outputs: ['cost'],
        config: { formula: '(z - 30) ** 2 + a' },
      },
      flow: {
        class: 'CompositionSkill',
        config: { skill_sequence: ['mf_delta_a', 'im_y', 'im_z', 'mf_cost'] },
      },
      opt: {
        class: 'OptimizationSkill',
        inputs: ['a'],
        config: { cost_skill_name: 'flow', cost_feature_name: 'cost' },
      },
    },
    tasks: [{ name: 'CalculateRecommendations', skill_sequence: ['opt'] }],
  };
}

describe('InferenceModel inputs, scalers and outputs', () => {
  // At a = current + 0.5 with b = 2: delta_a = 0.5 -> scaled 0.5*0.5+1 = 1.25; b has no scaler -> 2.
  // sum network: 3.25 -> inverse by y: 3.25/0.25 = 13 -> delta_y = 0 + 13.
  it('po: Delta inputs feed dof - current, other inputs feed their dof; chained models see each other', async () => {
    const s = await compile(strategy());
    const r = await s.simulate({ a: 10, b: 2 }, { a: 10.5 });
    expect(r.derived_variables.delta_a!.optimizer_suggested_value).toBe(0.5);
    expect(r.variables.delta_y!.optimizer_suggested_value).toBeCloseTo(13, 5);
    // z's model reads delta_y (Predicted): po feeds its dof 13 -> 26.
    expect(r.variables.z!.optimizer_suggested_value).toBeCloseTo(26, 5);
    await s.dispose();
  });

  it('engine.compat predecessor: inputs that are not Delta are fed 0, as the predecessor did', async () => {
    const s = await compile(strategy('predecessor'));
    const r = await s.simulate({ a: 10, b: 2 }, { a: 10.5 });
    // b fed 0: 1.25 -> 5; z's input delta_y fed 0 -> 0.
    expect(r.variables.delta_y!.optimizer_suggested_value).toBeCloseTo(5, 5);
    expect(r.variables.z!.optimizer_suggested_value).toBe(0);
    await s.dispose();
  });

  it('the output is its current value plus the prediction', async () => {
    const s = await compile(strategy());
    const r = await s.simulate({ a: 10, b: 2, delta_y: 100 }, { a: 10 });
    // delta_a = 0 -> scaled 1; + b 2 = 3 -> 12; + current 100.
    expect(r.variables.delta_y!.optimizer_suggested_value).toBeCloseTo(112, 4);
    await s.dispose();
  });
});

describe('fused models', () => {
  it('independent consecutive models run as one group, with the same results', async () => {
    const provider = createInMemoryModelProvider(models);
    const fused = await compileStrategy(strategy('predecessor'), { modelProvider: provider });
    const plain = await compileStrategy(strategy('predecessor'), {
      modelProvider: createInMemoryModelProvider({ ...models, fuse: false }),
    });
    expect(provider.stats.fusedModels).toBe(2);
    const a = await fused.optimize({ a: 10, b: 2 });
    const b = await plain.optimize({ a: 10, b: 2 });
    expect(provider.stats.groupPredicts).toBeGreaterThan(0);
    expect(a.cost_function_value).toBe(b.cost_function_value);
    expect(a.variables.delta_y!.optimizer_suggested_value).toBe(
      b.variables.delta_y!.optimizer_suggested_value,
    );
    await fused.dispose();
    await plain.dispose();
  });

  it('a model fed by the previous one is not fused with it', async () => {
    const provider = createInMemoryModelProvider(models);
    const s = await compileStrategy(strategy(), { modelProvider: provider });
    expect(provider.stats.fusedModels).toBe(0);
    await s.dispose();
  });
});

describe('decision variables, bounds and precalculation', () => {
  const precalc = () => ({
    variables: {
      f1: { type: 'Operative', threshold: 5, min: 0 },
      f2: { type: 'Operative', threshold: 5 },
      feed: { type: 'Calculated', threshold: 4 },
      coal: { type: 'Operative', threshold: 0.5, min: 9.8, max: 12 },
      speed: { type: 'Operative', threshold: 0 },
      fan: { type: 'Operative', threshold: null },
      cost: { type: 'CalculatedKPI' },
    },
    skills: {
      mf_feed: {
        class: 'MathFunction',
        inputs: ['f1', 'f2'],
        outputs: ['feed'],
        config: { formula: 'f1 + f2' },
      },
      mf_cost: {
        class: 'MathFunction',
        inputs: ['feed', 'coal', 'speed', 'fan'],
        outputs: ['cost'],
        config: { formula: '(feed - 50) ** 2 + (coal - 10) ** 2 + (fan - 3) ** 2 + speed' },
      },
      opt: {
        class: 'OptimizationSkill',
        inputs: ['f1', 'feed', 'coal', 'speed', 'fan'],
        config: { cost_skill_name: 'mf_cost', cost_feature_name: 'cost' },
      },
    },
    tasks: [
      { name: 'PreCalculateVariables', skill_sequence: ['mf_feed'] },
      { name: 'CalculateRecommendations', skill_sequence: ['opt'] },
    ],
  });
  const state = { f1: 30, f2: 10, coal: 11, speed: 2, fan: 1 };

  it('Operative inputs of PreCalculateVariables are fixed; Calculated and other Operatives are decisions', async () => {
    const s = await compile(precalc());
    expect(s.decisionVariables).toEqual(['feed', 'coal', 'speed', 'fan']);
    const r = await s.optimize(state);
    expect(r.variables.feed!.user_input_value).toBe(40);
    await s.dispose();
  });

  it('bounds: current ± threshold, 0 cannot move, null is 1.0, absolute limits clip', async () => {
    const s = await compile(precalc());
    const r = await s.optimize(state);
    const bounds = (n: string) => [r.variables[n]!.lower_bound, r.variables[n]!.upper_bound];
    expect(bounds('feed')).toEqual([36, 44]);
    expect(bounds('coal')).toEqual([10.5, 11.5]);
    expect(bounds('speed')).toEqual([2, 2]);
    expect(bounds('fan')).toEqual([0, 2]);
    expect(r.variables.feed!.optimizer_suggested_value).toBeCloseTo(44, 5);
    expect(r.variables.feed!.at_bound).toBe('upper');
    expect(r.variables.coal!.optimizer_suggested_value).toBeCloseTo(10.5, 5);
    expect(r.variables.coal!.at_bound).toBe('lower');
    expect(r.variables.fan!.optimizer_suggested_value).toBeCloseTo(2, 5);
    expect(r.variables.speed!.optimizer_suggested_value).toBe(2);
    await s.dispose();
  });

  it('a current value beyond the absolute limits moves toward them by one threshold', async () => {
    const s = await compile(precalc());
    const r = await s.optimize({ ...state, coal: 13 });
    expect(r.variables.coal!.lower_bound).toBe(12.5);
    expect(r.variables.coal!.upper_bound).toBe(12.5);
    expect(r.warnings.join('\n')).toMatch(/coal = 13 is outside its limits \[9.8, 12\]/);
    await s.dispose();
  });

  it('a recommended sum is split onto its Operative tags in proportion, as setpoints', async () => {
    const s = await compile(precalc());
    const r = await s.optimize(state);
    // feed 40 -> 44: f1 30 -> 33, f2 10 -> 11.
    expect(r.setpoints.f1!.recommended).toBeCloseTo(33, 5);
    expect(r.setpoints.f2!.recommended).toBeCloseTo(11, 5);
    expect(r.setpoints.f1!.from).toBe('feed');
    expect(r.setpoints).not.toHaveProperty('feed');
    expect(r.setpoints.coal!.recommended).toBeCloseTo(10.5, 5);
    expect(r.variables.f1!.role).toBe('setpoint');
    await s.dispose();
  });

  it('a split that does not fit a part is carried by the others, or reported', async () => {
    const spec = precalc();
    spec.variables.f2.threshold = 0.5;
    const s = await compile(spec);
    const r = await s.optimize(state);
    expect(r.setpoints.f2!.recommended).toBeCloseTo(10.5, 9);
    expect(r.setpoints.f1!.recommended).toBeCloseTo(33.5, 5);
    await s.dispose();
    spec.variables.f1.threshold = 1;
    const tight = await compile(spec);
    const r2 = await tight.optimize(state);
    expect(r2.warnings.join('\n')).toMatch(/feed: .* of the recommended change does not fit/);
    await tight.dispose();
  });

  it('missing plant values are named; values that are not numbers are named', async () => {
    const s = await compile(precalc());
    await expect(s.optimize({ f1: 30, coal: 11 })).rejects.toThrow(
      new InputDataError('missing input variables: f2, speed, fan'),
    );
    await expect(s.optimize({ ...state, coal: 'eleven' })).rejects.toThrow(
      /not finite numbers: coal \("eleven"\)/,
    );
    // Numeric strings are accepted, as the predecessor's float(value) did.
    const r = await s.optimize({ ...state, coal: '11' });
    expect(r.variables.coal!.user_input_value).toBe(11);
    await s.dispose();
  });
});

describe('failures are loud', () => {
  const divide = (formula: string) => ({
    variables: { a: { type: 'Operative', threshold: 1 }, cost: { type: 'CalculatedKPI' } },
    skills: {
      mf_cost: { class: 'MathFunction', inputs: ['a'], outputs: ['cost'], config: { formula } },
      opt: {
        class: 'OptimizationSkill',
        inputs: ['a'],
        config: { cost_skill_name: 'mf_cost', cost_feature_name: 'cost' },
      },
    },
    tasks: [{ name: 'Optimize', skill_sequence: ['opt'] }],
  });

  it('a division by zero at the current values is an error naming the skill', async () => {
    const s = await compileStrategy(divide('1 / (a - a_current)'));
    await expect(s.optimize({ a: 1 })).rejects.toThrow(CycleError);
    await expect(s.optimize({ a: 1 })).rejects.toThrow(/skill 'mf_cost' computed a non-finite value/);
  });

  it('non-finite costs at candidate points are infeasible, not answers', async () => {
    // sqrt of a negative number is NaN below a = 0.5: the optimum inside the feasible part is 0.5.
    const s = await compileStrategy(divide('sqrt(a - 0.5) + (a - 0.2) ** 2 * 0 + a'));
    const r = await s.optimize({ a: 1 });
    expect(r.variables.a!.optimizer_suggested_value).toBeGreaterThanOrEqual(0.5);
    expect(Number.isFinite(r.cost_function_value)).toBe(true);
  });

  it('every model file that does not load is reported, naming skill and file', async () => {
    const spec = strategy();
    spec.skills.im_y.config.model_path = 'missing.onnx';
    spec.skills.im_z.config.model_path = 'sum_scalers.json';
    const err = await compile(spec).catch((e) => e);
    expect(err).toBeInstanceOf(StrategyValidationError);
    expect(err.issues.map((i: { path: string }) => i.path)).toEqual([
      'skills.im_y.config.model_path',
      'skills.im_z.config.model_path',
    ]);
    expect(err.message).toContain('missing.onnx');
    // The load errors themselves, for codes and logs.
    expect(err.cause.errors.map((e: ModelLoadError) => [e.skill, e.code])).toEqual([
      ['im_y', 'FILE_NOT_FOUND'],
      ['im_z', 'FILE_NOT_FOUND'],
    ]);
  });

  it('a strategy with models needs a model provider', async () => {
    await expect(compileStrategy(strategy())).rejects.toThrow(/needs a model provider/);
  });

  it("holds the current values when the optimizer's answer is worse, and says why", async () => {
    const worse: Optimizer = {
      name: 'worse',
      async minimize(problem) {
        const x = Float64Array.from(problem.upper);
        return {
          x,
          cost: 0,
          iterations: 1,
          evaluations: 1,
          batches: 1,
          converged: true,
          timedOut: false,
          message: 'done',
        };
      },
    };
    const s = await compileStrategy(divide('a'), { optimizer: worse });
    const r = await s.optimize({ a: 1 });
    expect(r.optimizer.held).toBe(true);
    expect(r.variables.a!.optimizer_suggested_value).toBe(1);
    expect(r.optimizer.message).toMatch(/not better than holding/);
  });
});

describe('monitor mode and batch evaluation', () => {
  it('monitor: predictions and scores at the current values, no recommendation', async () => {
    const s = await compile(strategy());
    const r = await s.monitor({ a: 10, b: 2 });
    expect(r.mode).toBe('monitor');
    expect(r.setpoints).toEqual({});
    expect(Object.values(r.variables).filter((v) => v.role === 'optimized')).toEqual([]);
    // delta_a = 0 -> scaled 1, + b 2 = 3 -> 12.
    expect(r.variables.delta_y!.optimizer_suggested_value).toBeCloseTo(12, 4);
    expect(r.cost_function_value).toBe(r.cost_at_current);
    await s.dispose();
  });

  it('evaluate: the cost of a batch of candidate points equals one simulation each', async () => {
    const s = await compile(strategy());
    const costs = await s.evaluate({ a: 10, b: 2 }, Float64Array.from([9.5, 10, 10.5]), 3);
    for (const [i, a] of [9.5, 10, 10.5].entries()) {
      expect(costs[i]).toBe((await s.simulate({ a: 10, b: 2 }, { a })).cost_function_value);
    }
    await expect(s.evaluate({ a: 10, b: 2 }, new Float64Array(1), 3)).rejects.toThrow(
      /3 rows of 1 decision values/,
    );
    await s.dispose();
  });
});

describe('concurrency', () => {
  it('concurrent cycles on one compiled strategy give the results of sequential ones', async () => {
    const s = await compile(strategy());
    const states = Array.from({ length: 8 }, (_, i) => ({ a: 10 + i, b: i % 3 }));
    const sequential = [];
    for (const st of states) sequential.push((await s.optimize(st)).cost_function_value);
    const concurrent = await Promise.all(states.map((st) => s.optimize(st)));
    expect(concurrent.map((r) => r.cost_function_value)).toEqual(sequential);
    await s.dispose();
  });
});

describe('constraint score', () => {
  const l = { var_min: 250, var_max: 700, op_min: 450, op_max: 600 };
  it.each([
    [500, 1],
    [450, 1],
    [600, 1],
    [350, 0.5],
    [650, 0.5],
    [250, 0],
    [700, 0],
    [712.5, -0.125],
    [150, -0.5],
  ])('v = %d gives %d', (v, score) => {
    expect(constraintScore(v, l)).toBeCloseTo(score, 12);
  });
  it('is 0 beyond an operating limit that equals the physical one', () => {
    const co = { var_min: 0, var_max: 1, op_min: 0, op_max: 0.4 };
    expect(constraintScore(-0.1, co)).toBe(0);
    expect(constraintScore(1.08, co)).toBeCloseTo(-0.13333333, 6);
    expect(constraintScore(0.7, co)).toBeCloseTo(0.5, 12);
  });
});

describe('the optimizer in results: the method that ran, and what the strategy asked for', () => {
  const withAlgorithm = (algorithm?: string) => {
    const spec = strategy();
    if (algorithm !== undefined) Object.assign(spec.skills.opt.config, { algorithm });
    return spec;
  };

  it.each([
    ['SLSQP', 'projected-bfgs'],
    ['L-BFGS-B', 'projected-bfgs'],
    ['projected-bfgs', 'projected-bfgs'],
    ['projected-quasi-newton', 'projected-quasi-newton'],
    ['DE', 'DE'],
    ['auto', 'DE + projected-bfgs'],
  ])('%s runs %s', async (requested, algorithm) => {
    const s = await compile(withAlgorithm(requested));
    const r = await s.optimize({ a: 10, b: 2 });
    expect(r.optimizer).toMatchObject({ algorithm, requested });
    await s.dispose();
  });

  it('a strategy without algorithm asks for the default; monitor and simulate say that nothing ran', async () => {
    const s = await compile(withAlgorithm());
    expect((await s.optimize({ a: 10, b: 2 })).optimizer).toMatchObject({
      algorithm: 'projected-bfgs',
      requested: 'projected-bfgs',
    });
    expect((await s.monitor({ a: 10, b: 2 })).optimizer).toMatchObject({
      algorithm: 'none (monitor mode)',
      requested: 'projected-bfgs',
    });
    expect((await s.simulate({ a: 10, b: 2 })).optimizer.algorithm).toBe('none (simulation)');
    await s.dispose();
  });

  it('an optimizer given to compileStrategy reports its own name', async () => {
    const s = await compile(withAlgorithm('SLSQP'), {
      optimizer: { ...createOptimizer('DE'), name: 'mine' },
    });
    expect((await s.optimize({ a: 10, b: 2 })).optimizer).toMatchObject({
      algorithm: 'mine',
      requested: 'SLSQP',
    });
    await s.dispose();
  });

  it('a strategy without an OptimizationSkill reports none for both', async () => {
    const spec = strategy();
    spec.tasks = [{ name: 'Monitor', skill_sequence: ['flow'] }];
    const s = await compile(spec);
    const r = await s.optimize({ a: 10, b: 2 });
    expect(r.optimizer).toMatchObject({ algorithm: 'none', requested: 'none' });
    expect(r.cost_function_value).toBeNaN();
    await s.dispose();
  });
});

describe('model load errors', () => {
  const failing = (error: unknown): ModelProvider => ({
    load: async (request) => {
      if (request.skill === 'im_z') throw error;
      return provider().load(request);
    },
  });

  it('a scaler file that does not load is reported under config.scaler_path, not model_path', async () => {
    const spec = strategy();
    (spec.skills.im_z.config as Record<string, string>).scaler_path = 'no_such_scalers.json';
    const err = await compile(spec).catch((e) => e);
    expect(err).toBeInstanceOf(StrategyValidationError);
    expect(err.issues.map((i: { path: string }) => i.path)).toEqual(['skills.im_z.config.scaler_path']);
    expect(err.message).toContain('no_such_scalers.json');
  });

  it("a provider's ModelLoadError is reported as it is", async () => {
    const error = new ModelLoadError({
      skill: 'im_z',
      role: 'model',
      path: 'double.onnx',
      problem: 'the network has 3 inputs, the skill 1',
      code: 'MODEL_SHAPE_MISMATCH',
    });
    const err = await compile(strategy(), { modelProvider: failing(error) }).catch((e) => e);
    expect(err).toBeInstanceOf(StrategyValidationError);
    expect(err.issues).toEqual([
      {
        path: 'skills.im_z.config.model_path',
        message: "Skill 'im_z': model file 'double.onnx': the network has 3 inputs, the skill 1.",
      },
    ]);
    expect(err.cause).toBe(error);
  });

  it('anything else a provider rejects with is wrapped in a ModelLoadError naming the skill', async () => {
    const err = await compile(strategy(), { modelProvider: failing(new Error('socket hang up.')) }).catch(
      (e) => e,
    );
    expect(err.issues).toEqual([
      { path: 'skills.im_z.config.model_path', message: "Skill 'im_z': socket hang up." },
    ]);
    expect(asModelLoadError('im_z', 'down')).toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      scope: 'rto-engine',
      skill: 'im_z',
      cause: 'down',
      message: "[po/rto-engine] Skill 'im_z': down.",
    });
  });

  it('a failed load disposes every model that did load', async () => {
    const inner = provider();
    const loaded: SurrogateModel[] = [];
    const spy: ModelProvider = {
      async load(request) {
        if (request.skill === 'im_z') throw new Error('no');
        const model = await inner.load(request);
        loaded.push(model);
        return model;
      },
    };
    await expect(compile(strategy(), { modelProvider: spy })).rejects.toThrow(StrategyValidationError);
    expect(loaded).toHaveLength(1);
    await expect(loaded[0]!.predict(new Float64Array(2), 1, new Float64Array(1))).rejects.toThrow(/disposed/);
  });
});
