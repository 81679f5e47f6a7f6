import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFormula, type KinkCounter, type SymbolBinding } from './index.ts';

/**
 * Exact formula derivatives (`bindGradient`) against central differences: every formula of the
 * predecessor's strategy at every probe point of its fixture, and every operator and function a
 * formula may use; nonsmooth points are counted as kinks.
 */
interface Fixture {
  thresholds: Record<string, number>;
  skills: { name: string; inputs: string[]; output: string; formula: string }[];
  states: {
    state_id: string;
    current: Record<string, number>;
    points: { label: string; dof: Record<string, number> }[];
  }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/predecessor-formulas.json', import.meta.url), 'utf8'),
) as Fixture;

/** Checks d/d every dof column against central differences at one row; returns the kinks met. */
function checkGradient(
  source: string,
  resolve: (name: string) => SymbolBinding | undefined,
  dof: Float64Array[],
  current: Float64Array,
  tolerance = 1e-6,
): number {
  const formula = compileFormula(source, { resolve });
  const partials = new Float64Array(formula.dofVariables.length);
  const kinks: KinkCounter = { count: 0 };
  const gradient = formula.bindGradient(dof, current, partials, kinks);
  const value = formula.bind(dof, current);
  expect(gradient(0), `${source}: value`).toBe(value(0));
  formula.dofVariables.forEach((v, k) => {
    const x = dof[v]![0]!;
    const h = 1e-6 * Math.max(1, Math.abs(x));
    dof[v]![0] = x + h;
    const up = value(0);
    dof[v]![0] = x - h;
    const down = value(0);
    dof[v]![0] = x;
    const difference = (up - down) / (2 * h);
    expect(
      Math.abs(partials[k]! - difference),
      `${source}: d/d column ${v} exact ${partials[k]} vs difference ${difference}`,
    ).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(difference)));
  });
  return kinks.count;
}

describe("the predecessor's formulas", () => {
  const variables = [...new Set(fixture.skills.flatMap((s) => [...s.inputs, s.output]))];
  const index = new Map(variables.map((name, i) => [name, i]));
  for (const skill of fixture.skills) {
    it(`${skill.name}: exact derivatives at every probe point`, () => {
      const resolve = (name: string): SymbolBinding | undefined => {
        for (const input of skill.inputs) {
          const variable = index.get(input)!;
          if (name === `${input}_dof` || name === input) return { kind: 'dof', variable };
          if (name === `${input}_current`) return { kind: 'current', variable };
          if (name === `${input}_threshold`) return { kind: 'constant', value: fixture.thresholds[input]! };
        }
        return undefined;
      };
      for (const state of fixture.states) {
        const current = Float64Array.from(variables, (n) => state.current[n] ?? 0);
        for (const point of state.points) {
          const dof = variables.map((n) => Float64Array.of(point.dof[n] ?? 0));
          checkGradient(skill.formula, resolve, dof, current);
        }
      }
    });
  }
});

describe('every operator and function', () => {
  const resolve = (name: string): SymbolBinding | undefined =>
    ({
      a: { kind: 'dof', variable: 0 },
      b: { kind: 'dof', variable: 1 },
      c: { kind: 'current', variable: 0 },
    })[name] as SymbolBinding | undefined;
  const smooth = [
    'a + b',
    'a - b * 2',
    '-a * b',
    'a / b',
    '3 / a - b / 4',
    'a ** 2 + b ** a',
    'pow(a, b)',
    'sqrt(a * b)',
    'exp(a - b)',
    'log(a) + log10(b) + log(a, b)',
    'abs(a - b)',
    'min(a, b, 0.2)',
    'max(a, 2 * b)',
    'clip(a, 0, b)',
    'a % b',
    'a if a > b else b * b',
    '(a > 0 and b) or a',
    'a * c - c / b',
    '(a - b) * (a + b) / (1 + a * a)',
  ];
  for (const source of smooth) {
    it(`${source}: exact derivatives, no kink away from ties`, () => {
      const dof = [Float64Array.of(1.3), Float64Array.of(0.7)];
      expect(checkGradient(source, resolve, dof, Float64Array.of(2.5))).toBe(0);
    });
  }

  it.each([
    ['abs(a - b)', 0.7],
    ['min(a, b)', 0.7],
    ['max(a, b)', 0.7],
    ['clip(b, a, 2)', 0.7],
    ['(a > b) * 500', 0.7],
    ['floor(a)', 2],
    ['round(a)', 2.5],
  ])('%s at a tie (a = %d): a kink is reported', (source, a) => {
    const formula = compileFormula(source, { resolve });
    const partials = new Float64Array(formula.dofVariables.length);
    const kinks = { count: 0 };
    formula.bindGradient([Float64Array.of(a), Float64Array.of(0.7)], Float64Array.of(0), partials, kinks)(0);
    expect(kinks.count).toBeGreaterThan(0);
  });

  it('a step function has derivative 0 and a constant formula no partials', () => {
    const kinks = { count: 0 };
    const step = compileFormula('(a > 0 and b < 0) * 500', { resolve });
    const partials = new Float64Array(2);
    step.bindGradient([Float64Array.of(1), Float64Array.of(-1)], Float64Array.of(0), partials, kinks)(0);
    expect(Array.from(partials)).toEqual([0, 0]);
    expect(compileFormula('0', { resolve }).dofVariables).toEqual([]);
  });

  it('refuses partials too short for the formula', () => {
    const f = compileFormula('a + b', { resolve });
    expect(() =>
      f.bindGradient([Float64Array.of(1), Float64Array.of(1)], Float64Array.of(0), new Float64Array(1), {
        count: 0,
      }),
    ).toThrow(/2 partial derivatives/);
  });
});
