/**
 * The predecessor's numbers (shared/compat, copied to test/fixtures/compat): forward values
 * must match tightly; optimizations must reach a cost no higher than the predecessor's.
 * Real ONNX Runtime through @po/models.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createModelProvider, localModelFiles } from '@po/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileStrategy } from './engine.ts';
import type { CompiledStrategy } from './types.ts';

const fixtures = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const strategyText = readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8');
const probes = JSON.parse(readFileSync(`${fixtures}expected/forward-probes.json`, 'utf8'));
const cases = JSON.parse(readFileSync(`${fixtures}expected/optimize-cases.json`, 'utf8'));
const decisionVariables: string[] = probes.decision_variables;

interface Probe {
  state_id: string;
  input_data: Record<string, number>;
  current: Record<string, number>;
  x0: number[];
  bounds: [number, number][];
  points: {
    label: string;
    x: number[];
    cost: number;
    dof: Record<string, number>;
    dof_chained: Record<string, number>;
  }[];
}

/** The comparison rule of shared/compat/README.md. */
function close(actual: number | null | undefined, expected: number): boolean {
  return typeof actual === 'number' && Math.abs(actual - expected) <= 1e-4 * Math.max(Math.abs(expected), 1);
}

function mismatches(actual: Record<string, number | null>, expected: Record<string, number>): string[] {
  return Object.entries(expected)
    .filter(([name, value]) => !close(actual[name], value))
    .map(([name, value]) => `${name}: po ${actual[name]} vs predecessor ${value}`);
}

async function load(compat: 'predecessor' | 'po'): Promise<CompiledStrategy> {
  const spec = parse(strategyText);
  spec.engine = { compat };
  return compileStrategy(spec, {
    modelProvider: createModelProvider({ readFile: localModelFiles(fixtures) }),
  });
}

/** Every variable's dof after one run of the cost composition at x, as po reports it. */
async function forward(strategy: CompiledStrategy, input: Record<string, number>, x: number[]) {
  const decisions = Object.fromEntries(decisionVariables.map((name, j) => [name, x[j]!]));
  const result = await strategy.simulate(input, decisions);
  const dof: Record<string, number | null> = {};
  for (const [name, v] of Object.entries({ ...result.variables, ...result.derived_variables })) {
    // po maps a recommended sum onto its parts; the predecessor left the parts alone.
    dof[name] = v.role === 'setpoint' ? v.user_input_value : v.optimizer_suggested_value;
  }
  return { result, dof };
}

let predecessor: CompiledStrategy;
let po: CompiledStrategy;
beforeAll(async () => {
  predecessor = await load('predecessor');
  po = await load('po');
});
afterAll(async () => {
  await predecessor.dispose();
  await po.dispose();
});

describe('forward values (expected/forward-probes.json)', () => {
  it('has the decision variables of the predecessor, in its order', () => {
    expect(predecessor.decisionVariables).toEqual(decisionVariables);
  });

  for (const probe of probes.states as Probe[]) {
    it(`${probe.state_id}: current values after PreCalculateVariables and bounds`, async () => {
      const { result } = await forward(predecessor, probe.input_data, probe.x0);
      const current = Object.fromEntries(
        Object.entries({ ...result.variables, ...result.derived_variables }).map(([n, v]) => [
          n,
          v.user_input_value,
        ]),
      );
      expect(mismatches(current, probe.current)).toEqual([]);
      const bounds = decisionVariables.map((n) => [
        result.variables[n]!.lower_bound,
        result.variables[n]!.upper_bound,
      ]);
      bounds.forEach(([lo, hi], j) => {
        expect(close(lo, probe.bounds[j]![0])).toBe(true);
        expect(close(hi, probe.bounds[j]![1])).toBe(true);
      });
    });

    probe.points.forEach((point) => {
      it(`${probe.state_id} ${point.label}: every dof and the cost, predecessor semantics`, async () => {
        const { result, dof } = await forward(predecessor, probe.input_data, point.x);
        expect(mismatches(dof, point.dof)).toEqual([]);
        expect(close(result.cost_function_value, point.cost)).toBe(true);
      });

      it(`${probe.state_id} ${point.label}: chained model input fed (po semantics)`, async () => {
        const { dof } = await forward(po, probe.input_data, point.x);
        expect(mismatches(dof, { ...point.dof, ...point.dof_chained })).toEqual([]);
      });
    });
  }
});

describe('optimization cycles (expected/optimize-cases.json)', () => {
  for (const c of cases.cases) {
    it(`${c.case_id}: cost no higher than the predecessor's, inside the bounds${c.success ? '' : ' (the predecessor failed)'}`, async () => {
      const result = await predecessor.optimize(c.input_data);
      expect(close(result.cost_at_current, c.cost_at_x0)).toBe(true);
      const predecessorCost: number = c.success ? c.cost : c.scipy.fun;
      expect(result.cost_function_value).toBeLessThanOrEqual(
        predecessorCost + 1e-4 * Math.max(Math.abs(predecessorCost), 1),
      );
      decisionVariables.forEach((name, j) => {
        const x = result.variables[name]!.optimizer_suggested_value!;
        expect(x).toBeGreaterThanOrEqual(c.bounds[j][0] - 1e-9 * Math.abs(c.bounds[j][0]));
        expect(x).toBeLessThanOrEqual(c.bounds[j][1] + 1e-9 * Math.abs(c.bounds[j][1]));
      });
      // The reported cost is a clean forward evaluation at the recommendation.
      const x = decisionVariables.map((n) => result.variables[n]!.optimizer_suggested_value!);
      const check = await forward(predecessor, c.input_data, x);
      expect(check.result.cost_function_value).toBeCloseTo(result.cost_function_value, 12);
    });

    it(`${c.case_id}: forward values at the predecessor's answer and at the lower-cost point`, async () => {
      const atScipy = await forward(predecessor, c.input_data, c.scipy.x);
      expect(mismatches(atScipy.dof, c.dof_at_scipy_x)).toEqual([]);
      expect(close(atScipy.result.cost_function_value, c.cost_at_scipy_x)).toBe(true);
      if (c.lower_cost_point) {
        const lower = await forward(predecessor, c.input_data, c.lower_cost_point.x);
        expect(mismatches(lower.dof, c.lower_cost_point.dof)).toEqual([]);
        expect(close(lower.result.cost_function_value, c.lower_cost_point.cost)).toBe(true);
      }
    });
  }

  it('opt-03 (every score stays 1) reaches the analytic optimum: coal -0.05, feed +2, cost -102', async () => {
    const c = cases.cases.find((k: { case_id: string }) => k.case_id === 'opt-03');
    const result = await predecessor.optimize(c.input_data);
    expect(result.cost_function_value).toBeCloseTo(-102, 6);
    expect(result.variables.Kiln_Coal_PV!.delta).toBeCloseTo(-0.05, 8);
    expect(result.variables.combined_Feed_rate!.delta).toBeCloseTo(2, 6);
    expect(result.variables.Kiln_Coal_PV!.at_bound).toBe('lower');
  });
});
