import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFormula, type SymbolBinding } from './index.ts';

/**
 * Every MathFunction of the predecessor's strategy (compat/predecessor-strategy.yaml) checked
 * against the numbers the predecessor computed (compat/expected/forward-probes.json):
 * PreCalculateVariables sums against the state's current values, and the cost composition's
 * formulas against the dof values of every probe point. Formulas whose output a model
 * overwrites afterwards (`"0"` for delta_Kiln_Drive_Current, ...) are not in the fixture.
 */
interface Fixture {
  thresholds: Record<string, number>;
  skills: { name: string; inputs: string[]; output: string; formula: string; check: 'current' | 'dof' }[];
  states: {
    state_id: string;
    current: Record<string, number>;
    points: { label: string; dof: Record<string, number> }[];
  }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/predecessor-formulas.json', import.meta.url), 'utf8'),
) as Fixture;

const variables = [...new Set(fixture.skills.flatMap((skill) => [...skill.inputs, skill.output]))];
const index = new Map(variables.map((name, i) => [name, i]));

/** The predecessor's symbol table for a skill: X_dof, X_current, X (= dof), X_threshold when non-zero. */
function symbolTable(inputs: readonly string[]): Map<string, SymbolBinding> {
  const table = new Map<string, SymbolBinding>();
  for (const input of inputs) {
    const variable = index.get(input)!;
    table.set(`${input}_dof`, { kind: 'dof', variable });
    table.set(`${input}_current`, { kind: 'current', variable });
    table.set(input, { kind: 'dof', variable });
    const threshold = fixture.thresholds[input];
    if (threshold !== undefined && threshold !== 0)
      table.set(`${input}_threshold`, { kind: 'constant', value: threshold });
  }
  return table;
}

function column(values: readonly number[]): Float64Array {
  return Float64Array.from(values);
}

describe("the predecessor's formulas", () => {
  it('includes the strategy formulas the brief names', () => {
    const formulas = fixture.skills.map((skill) => skill.formula);
    expect(formulas).toContain('(delta_combined_Feed_rate_dof > 0 and delta_Kiln_Coal_PV_dof < 0)  * 500');
    expect(formulas).toContain('0');
    expect(formulas).toContain('Kiln_Feed_SFF_1_Feed_rate + Kiln_Feed_SFF_2_Feed_rate');
    expect(fixture.skills).toHaveLength(20);
  });

  describe.each(fixture.skills)('$name: $formula', (skill) => {
    const table = symbolTable(skill.inputs);
    const formula = compileFormula(skill.formula, { resolve: (name) => table.get(name) });

    if (skill.check === 'current') {
      it('reproduces PreCalculateVariables for every probe state', () => {
        // At PreCalculateVariables, dof = current = the plant value; one row per state.
        const states = fixture.states;
        const dofColumns = variables.map((name) => column(states.map((state) => state.current[name] ?? 0)));
        const evaluate = formula.bind(dofColumns, new Float64Array(variables.length));
        states.forEach((state, row) => {
          expect(evaluate(row)).toBe(state.current[skill.output]);
        });
      });
      return;
    }

    it.each(fixture.states)('reproduces every point of $state_id', (state) => {
      // One row per probe point, all bound at once as the optimizer's batches are.
      const dofColumns = variables.map((name) => column(state.points.map((point) => point.dof[name] ?? 0)));
      const current = column(variables.map((name) => state.current[name] ?? 0));
      const evaluate = formula.bind(dofColumns, current);
      state.points.forEach((point, row) => {
        expect(evaluate(row), point.label).toBe(point.dof[skill.output]);
      });
    });
  });

  it('refuses the cost formula when a threshold it uses is absent (the predecessor wrote 0.0)', () => {
    const skill = fixture.skills.find((s) => s.name === 'mf_cost_function')!;
    const table = symbolTable(skill.inputs);
    table.delete('combined_Feed_rate_threshold');
    expect(() => compileFormula(skill.formula, { resolve: (name) => table.get(name) })).toThrow(
      "unknown symbol 'combined_Feed_rate_threshold' at position 97",
    );
  });
});
