/**
 * Exact derivatives of the whole cost (formulas, constraint scores, models) on every public
 * fixture: the predecessor's strategy with its three networks (real ONNX Runtime through
 * @po/models, the dense kernel for the Jacobians) at every plant state of the compat fixtures,
 * against central differences; and the one-sided slopes at a constraint score's kinks.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SurrogateModel } from '@po/core';
import { createModelProvider, localModelFiles } from '@po/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { constraintScore, constraintScoreSlopes } from './constraint-score.ts';
import { compileStrategy } from './engine.ts';
import type { CompiledStrategy } from './types.ts';

const fixtures = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const cases = JSON.parse(readFileSync(`${fixtures}expected/optimize-cases.json`, 'utf8')).cases as {
  case_id: string;
  input_data: Record<string, number>;
  bounds: [number, number][];
  x0: number[];
  scipy: { x: number[] };
}[];
const probes = JSON.parse(readFileSync(`${fixtures}expected/forward-probes.json`, 'utf8')).states as {
  state_id: string;
  input_data: Record<string, number>;
  bounds: [number, number][];
  points: { label: string; x: number[] }[];
}[];

let strategy: CompiledStrategy;
beforeAll(async () => {
  const spec = parse(readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8'));
  spec.engine = { compat: 'predecessor' };
  strategy = await compileStrategy(spec, {
    modelProvider: createModelProvider({ readFile: localModelFiles(fixtures) }),
  });
});
afterAll(() => strategy.dispose());

const states = [
  ...cases.map((c) => ({
    id: c.case_id,
    input: c.input_data,
    bounds: c.bounds,
    points: [c.x0, c.scipy.x],
    // scipy's optimum sits on a kink of a constraint ramp.
    offKink: [c.x0],
  })),
  ...probes.map((p) => ({
    id: p.state_id,
    input: p.input_data,
    bounds: p.bounds,
    points: p.points.map((q) => q.x),
    offKink: p.points.map((q) => q.x),
  })),
];

describe('the predecessor strategy: exact gradients against central differences', () => {
  it.each(states)('$id: every point of the fixture and a point in each half of the box', async (state) => {
    const n = state.bounds.length;
    const points = [
      ...state.points,
      state.bounds.map(([lo, hi], j) => lo + (0.2 + 0.05 * j) * (hi - lo)),
      state.bounds.map(([lo, hi], j) => hi - (0.15 + 0.03 * j) * (hi - lo)),
    ];
    for (const x of points) {
      const at = Float64Array.from(x);
      const exact = await strategy.evaluateGradient!(state.input, at, 1);
      // Central differences of the same (float64) cost, one variable at a time, with a step of
      // 1e-7 of the box width: far from every kink unless the point sits on one.
      const stencil = new Float64Array(2 * n * n);
      for (let j = 0; j < n; j++) {
        const h = 1e-7 * (state.bounds[j]![1] - state.bounds[j]![0]);
        stencil.set(at, 2 * j * n);
        stencil.set(at, (2 * j + 1) * n);
        stencil[2 * j * n + j]! += h;
        stencil[(2 * j + 1) * n + j]! -= h;
      }
      const around = await strategy.evaluateGradient!(state.input, stencil, 2 * n);
      for (let j = 0; j < n; j++) {
        const h = 1e-7 * (state.bounds[j]![1] - state.bounds[j]![0]);
        const up = (around.costs[2 * j]! - exact.costs[0]!) / h;
        const down = (exact.costs[0]! - around.costs[2 * j + 1]!) / h;
        const g = exact.gradients[j]!;
        const scale = Math.max(1, Math.abs(up), Math.abs(down)) / (state.bounds[j]![1] - state.bounds[j]![0]);
        // Moving up: the exact (upper) derivative agrees with the forward difference.
        expect(
          Math.abs(g - up),
          `${state.id} x=${x} d/dx${j}: exact ${g}, forward ${up}`,
        ).toBeLessThanOrEqual(1e-4 * Math.max(Math.abs(up), scale));
        if (exact.kinks === 0)
          expect(Math.abs(g - down)).toBeLessThanOrEqual(1e-4 * Math.max(Math.abs(down), scale));
      }
      // The cost of the derivative pass is the cost `evaluate` gives (ONNX Runtime in float32).
      const [value] = await strategy.evaluate(state.input, at, 1);
      expect(Math.abs(exact.costs[0]! - value!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(value!)));
    }
  });
});

/** The model as loaded, without the given members (e.g. `valueAndJacobian`: the engine must difference it). */
function without(model: SurrogateModel, hidden: readonly string[]): SurrogateModel {
  return new Proxy(model, {
    get(target, property) {
      if (typeof property === 'string' && hidden.includes(property)) return undefined;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('the synchronous evaluation path (valueAndJacobianSync)', () => {
  let promised: CompiledStrategy;
  beforeAll(async () => {
    const spec = parse(readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8'));
    spec.engine = { compat: 'predecessor' };
    const provider = createModelProvider({ readFile: localModelFiles(fixtures) });
    promised = await compileStrategy(spec, {
      modelProvider: {
        load: async (request) => without(await provider.load(request), ['valueAndJacobianSync']),
      },
    });
  });
  afterAll(() => promised.dispose());

  it("gives exactly what the promise path gives: gradients, the optimizer path (kink mode's pieces too) and the answer on every state of the fixture", async () => {
    for (const state of states) {
      const at = Float64Array.from(state.points[0]!);
      const sync = await strategy.evaluateGradient!(state.input, at, 1);
      const viaPromise = await promised.evaluateGradient!(state.input, at, 1);
      expect(Array.from(sync.gradients), state.id).toEqual(Array.from(viaPromise.gradients));
      expect(sync.costs[0], state.id).toBe(viaPromise.costs[0]);
      const a = await strategy.optimize(state.input);
      const b = await promised.optimize(state.input);
      expect(a.setpoints, state.id).toEqual(b.setpoints);
      expect(a.optimizer, state.id).toEqual(b.optimizer);
      expect(a.warnings, state.id).toEqual(b.warnings);
      // The answer batch is a pass of the derivative engine on either path: the same kernel values.
      for (const key of ['cost_function_value', 'cost_at_current'] as const) {
        expect(a[key], `${state.id} ${key}`).toBe(b[key]);
      }
    }
  });
});

describe('bias correction (models.bias_correction) in the exact evaluations', () => {
  let corrected: CompiledStrategy;
  beforeAll(async () => {
    const spec = parse(readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8'));
    spec.engine = { compat: 'predecessor' };
    spec.models = { ...spec.models, bias_correction: true };
    corrected = await compileStrategy(spec, {
      modelProvider: createModelProvider({ readFile: localModelFiles(fixtures) }),
    });
  });
  afterAll(() => corrected.dispose());

  it('the optimizer sees the bias: a shift that moves the constraint ramps moves the recommendation', async () => {
    const input = states[0]!.input;
    const unbiased = await corrected.optimize(input);
    for (const bias of [30, -30]) {
      const modelBias = { im_predict_Calciner_outlet_CO: bias, im_predict_Clinker_temperature: bias };
      const biased = await corrected.optimize(input, { modelBias });
      // The answer batch always applied the bias; the exact evaluations did not, so the
      // recommendation stayed where the unbiased cost is lowest.
      expect(biased.setpoints, `bias ${bias}`).not.toEqual(unbiased.setpoints);
      expect(biased.cost_function_value).toBeLessThan(biased.cost_at_current);
    }
  });
});

describe('constraint sensitivities (explanation.constraints[].pushed_by)', () => {
  let differenced: CompiledStrategy;
  beforeAll(async () => {
    const spec = parse(readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8'));
    spec.engine = { compat: 'predecessor' };
    const provider = createModelProvider({ readFile: localModelFiles(fixtures) });
    differenced = await compileStrategy(spec, {
      modelProvider: {
        load: async (request) =>
          without(await provider.load(request), ['valueAndJacobian', 'valueAndJacobianSync']),
      },
    });
  });
  afterAll(() => differenced.dispose());

  it('are exact derivatives, agreeing with finite differences; a model without derivatives falls back to them', async () => {
    const names = Object.entries((await strategy.monitor(states[0]!.input)).variables)
      .filter(([, v]) => v.category === 'optimizable')
      .map(([name]) => name);
    expect(names).toHaveLength(states[0]!.bounds.length);
    let compared = 0;
    for (const state of states) {
      expect((await strategy.optimize(state.input)).explanation.sensitivities).toBe('exact');
      // The fixture's points off the kinks and two inside the box (an optimum sits on a kink, where
      // a difference over 1e-3 of the box straddles two slopes; the exact one-sided derivative is
      // the one asked for there).
      const points = [
        ...state.offKink,
        state.bounds.map(([lo, hi], j) => lo + (0.2 + 0.05 * j) * (hi - lo)),
        state.bounds.map(([lo, hi], j) => hi - (0.15 + 0.03 * j) * (hi - lo)),
      ];
      for (const x of points) {
        const decisions = Object.fromEntries(names.map((name, j) => [name, x[j]!]));
        const exact = await strategy.simulate(state.input, decisions);
        const differences = await differenced.simulate(state.input, decisions);
        expect(exact.explanation.sensitivities).toBe('exact');
        expect(differences.explanation.sensitivities).toBe('finite differences');
        expect(Object.keys(differences.explanation.constraints)).toEqual(
          Object.keys(exact.explanation.constraints),
        );
        for (const [constraint, explained] of Object.entries(exact.explanation.constraints)) {
          const byVariable = new Map(
            differences.explanation.constraints[constraint]!.pushed_by.map((p) => [p.variable, p]),
          );
          for (const pushed of explained.pushed_by) {
            const difference = byVariable.get(pushed.variable)?.score_per_unit ?? 0;
            const j = names.indexOf(pushed.variable);
            // Per unit; a forward difference over 1e-3 of the box (float32 ONNX Runtime values).
            const box = state.bounds[j]![1] - state.bounds[j]![0];
            const floor = 1e-3 / box;
            expect(
              Math.abs(pushed.score_per_unit - difference),
              `${state.id} x=${x} ${constraint} by ${pushed.variable}: exact ${pushed.score_per_unit}, difference ${difference}`,
            ).toBeLessThanOrEqual(2e-2 * Math.max(Math.abs(difference), floor));
            compared++;
          }
        }
      }
    }
    // The kink cases have constraints below 1 at their optimum: the check is not empty.
    expect(compared).toBeGreaterThan(5);
  });
});

describe('constraintScoreSlopes', () => {
  const limits = { var_min: 0, var_max: 10, op_min: 2, op_max: 6 };
  const slopes = new Float64Array(2);

  it('gives both one-sided slopes and says where the score is at a kink', () => {
    expect(constraintScoreSlopes(1, limits, slopes)).toBe('smooth');
    expect(Array.from(slopes)).toEqual([0.5, 0.5]);
    expect(constraintScoreSlopes(2, limits, slopes)).toBe('kink');
    expect(Array.from(slopes)).toEqual([0.5, 0]);
    expect(constraintScoreSlopes(4, limits, slopes)).toBe('smooth');
    expect(Array.from(slopes)).toEqual([0, 0]);
    expect(constraintScoreSlopes(6, limits, slopes)).toBe('kink');
    expect(Array.from(slopes)).toEqual([0, -0.25]);
    expect(constraintScoreSlopes(12, limits, slopes)).toBe('smooth');
    expect(Array.from(slopes)).toEqual([-0.25, -0.25]);
  });

  it('reports a jump where an operating limit equals the physical one', () => {
    const co = { var_min: 0, var_max: 1, op_min: 0, op_max: 0.4 };
    expect(constraintScoreSlopes(0, co, slopes)).toBe('jump');
    expect(constraintScore(0, co)).toBe(1);
    expect(constraintScore(-1e-9, co)).toBe(0);
  });

  it('slopes agree with differences of the score away from the kinks', () => {
    for (const v of [-3, 0.7, 1.9, 2.1, 5.9, 6.1, 9.5, 14]) {
      constraintScoreSlopes(v, limits, slopes);
      const h = 1e-6;
      const d = (constraintScore(v + h, limits) - constraintScore(v - h, limits)) / (2 * h);
      expect(slopes[0]).toBeCloseTo(d, 6);
      expect(slopes[1]).toBeCloseTo(d, 6);
    }
  });
});
