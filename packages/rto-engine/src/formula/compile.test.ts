import { describe, expect, it, vi } from 'vitest';
import { FormulaError } from '../errors.ts';
import { type CompileOptions, compileFormula, type SymbolBinding } from './index.ts';

function resolver(entries: Record<string, SymbolBinding>): CompileOptions {
  const table = new Map(Object.entries(entries));
  return { resolve: (name) => table.get(name) };
}

/** x: dof column 0, y: dof column 1, x_current: current 0, y_current: current 1, t: the constant 2. */
const options = resolver({
  x: { kind: 'dof', variable: 0 },
  y: { kind: 'dof', variable: 1 },
  x_current: { kind: 'current', variable: 0 },
  y_current: { kind: 'current', variable: 1 },
  t: { kind: 'constant', value: 2 },
  zero: { kind: 'constant', value: 0 },
});

function rows(source: string, x: number[], y: number[], current = [0, 0]): number[] {
  const evaluate = compileFormula(source, options).bind(
    [Float64Array.from(x), Float64Array.from(y)],
    Float64Array.from(current),
  );
  return x.map((_, row) => evaluate(row));
}

describe('bind', () => {
  it('reads dof columns per row and current values shared by all rows', () => {
    expect(rows('x - x_current', [1, 2, 3, 4], [0, 0, 0, 0], [10, 0])).toEqual([-9, -8, -7, -6]);
    expect(rows('x_current - x', [1, 2], [0, 0], [10, 0])).toEqual([9, 8]);
    expect(rows('x * y + y_current / t', [1, 2, 3], [4, 5, 6], [0, 8])).toEqual([8, 14, 22]);
    expect(rows('(x > 0 and y < 0) * 500', [1, 1, -1, 0], [-1, 1, -1, -1])).toEqual([500, 0, 0, 0]);
  });

  it('sees values written in place after binding (new candidates, a new cycle)', () => {
    const dof = [new Float64Array(3), new Float64Array(3)];
    const current = new Float64Array(2);
    const evaluate = compileFormula('x - x_current', options).bind(dof, current);
    dof[0]!.set([5, 6, 7]);
    current[0] = 1;
    expect([0, 1, 2].map(evaluate)).toEqual([4, 5, 6]);
    current[0] = 5;
    dof[0]![2] = 50;
    expect([0, 1, 2].map(evaluate)).toEqual([0, 1, 45]);
  });

  it('binds independently to reallocated columns', () => {
    const formula = compileFormula('x + y', options);
    const small = formula.bind([Float64Array.of(1), Float64Array.of(2)], new Float64Array(0));
    const large = formula.bind([Float64Array.of(1, 10), Float64Array.of(2, 20)], new Float64Array(0));
    expect(small(0)).toBe(3);
    expect(large(1)).toBe(30);
  });

  it('refuses storage that lacks a column or a current value the formula reads', () => {
    const formula = compileFormula('y + y_current', options);
    expect(() => formula.bind([new Float64Array(1)], new Float64Array(2))).toThrow(
      'formula "y + y_current" reads dof column 1, but bind() was given 1 columns',
    );
    expect(() => formula.bind([new Float64Array(1), new Float64Array(1)], new Float64Array(1))).toThrow(
      'formula "y + y_current" reads current value 1, but bind() was given 1 values',
    );
  });
});

describe('compiled formulas', () => {
  it('list their symbols once each, in order', () => {
    const formula = compileFormula('y + x * y - t', options);
    expect(formula.symbols).toEqual(['y', 'x', 't']);
    expect(formula.source).toBe('y + x * y - t');
  });

  it('fold constants, including thresholds, and expose a formula that is constant', () => {
    expect(compileFormula('0', options).constant).toBe(0);
    expect(compileFormula('(1 + t) * 2 ** 2', options).constant).toBe(12);
    expect(compileFormula('zero and x', options).constant).toBe(0);
    expect(compileFormula('t or x', options).constant).toBe(2);
    expect(compileFormula('x if zero else 7', options).constant).toBe(7);
    expect(compileFormula('x + 1', options).constant).toBeUndefined();
    expect(compileFormula('1 / zero', options).constant).toBe(Number.POSITIVE_INFINITY);
    expect(rows('t and x', [3], [0])).toEqual([3]);
    expect(rows('zero or x', [3], [0])).toEqual([3]);
  });

  it('keep IEEE semantics through the identities they simplify (1.0 * x, x / -1)', () => {
    expect(rows('1.0 * x', [-0, Number.NaN, 2], [0, 0, 0]).map((v) => Object.is(v, -0) || v)).toEqual([
      true,
      Number.NaN,
      2,
    ]);
    expect(rows('-1.0 * x + x / -1 + x * 1', [3], [0])).toEqual([-3]);
  });

  it('round(x, n) needs n to be a constant integer', () => {
    expect(rows('round(x, t)', [2.675], [0])).toEqual([2.67]);
    expect(() => compileFormula('round(x, y)', options)).toThrow(
      'round() at position 0: the number of digits must be a constant integer',
    );
    expect(() => compileFormula('round(x, 1.5)', options)).toThrow('must be a constant integer');
  });

  it('evaluate the functions', () => {
    expect(rows('clip(x, 0, t)', [-1, 1, 5], [0, 0, 0])).toEqual([0, 1, 2]);
    expect(rows('min(x, y, 0)', [1, -3], [2, 5])).toEqual([0, -3]);
    expect(rows('max(x, y, 0, t)', [1, -3], [7, 5])).toEqual([7, 5]);
    expect(rows('round(x)', [0.5, 1.5, 2.5, -2.5], [0, 0, 0, 0])).toEqual([0, 2, 2, -2]);
    expect(rows('log(x, t) + log10(100) + sqrt(y)', [8], [9])).toEqual([8]);
  });
});

describe('non-finite results instead of exceptions', () => {
  it.each([
    ['x / zero', Number.POSITIVE_INFINITY],
    ['-x / zero', Number.NEGATIVE_INFINITY],
    ['zero / zero', Number.NaN],
    ['x // zero', Number.POSITIVE_INFINITY],
    ['x % zero', Number.NaN],
    ['zero ** -1', Number.POSITIVE_INFINITY],
    ['sqrt(-x)', Number.NaN],
    ['log(zero)', Number.NEGATIVE_INFINITY],
    ['exp(1000)', Number.POSITIVE_INFINITY],
  ])('%s is %s', (source, expected) => {
    expect(rows(source, [1], [0])).toEqual([expected]);
  });

  it('treats NaN as truthy, as Python does', () => {
    expect(rows('x or 5', [Number.NaN], [0])).toEqual([Number.NaN]);
    expect(rows('x and 5', [Number.NaN], [0])).toEqual([5]);
    expect(rows('not x', [Number.NaN], [0])).toEqual([0]);
    expect(rows('1 if x else 2', [Number.NaN], [0])).toEqual([1]);
    expect(rows('x == x', [Number.NaN], [0])).toEqual([0]);
  });
});

describe('chained comparisons', () => {
  it('mean a < b and b < c, unlike (a < b) < c', () => {
    expect(rows('x < y < t', [0, 1, 3, 1], [1, 1, 4, 3])).toEqual([1, 0, 0, 0]);
    expect(rows('(x < y) < t', [0, 1, 3, 1], [1, 1, 4, 3])).toEqual([1, 1, 1, 1]);
    expect(rows('x <= y == 1 != t', [1, 1, 0], [1, 2, 1])).toEqual([1, 0, 1]);
    expect(rows('t > y > x > -1', [0, -2], [1, 1])).toEqual([1, 0]);
  });
});

describe('symbols', () => {
  it('are resolved once each', () => {
    const resolve = vi.fn((name: string): SymbolBinding | undefined =>
      name === 'a' ? { kind: 'dof', variable: 0 } : undefined,
    );
    compileFormula('a + a * a', { resolve });
    expect(resolve).toHaveBeenCalledTimes(1);
    expect(resolve).toHaveBeenCalledWith('a');
  });

  it('are never looked up when they could reach outside the formula', () => {
    const resolve = vi.fn(() => ({ kind: 'constant', value: 1 }) as const);
    for (const source of ['__proto__', 'constructor', 'a.constructor', 'toString + 1', 'valueOf']) {
      expect(() => compileFormula(source, { resolve })).toThrow(FormulaError);
    }
    expect(resolve).not.toHaveBeenCalled();
  });

  it('that are unknown fail the compilation with their position', () => {
    expect(() => compileFormula('x + foo', options)).toThrow("unknown symbol 'foo' at position 4");
    expect(() => compileFormula('foo + x * bar - foo', options)).toThrow(
      "unknown symbols 'foo' at position 0, 'bar' at position 10",
    );
    expect(() => compileFormula('x_threshold', options)).toThrow(
      "unknown symbol 'x_threshold' at position 0",
    );
  });

  it('must resolve to a valid binding', () => {
    const bad = { resolve: () => ({ kind: 'dof', variable: -1 }) as const };
    expect(() => compileFormula('a', bad)).toThrow("symbol 'a' resolved to an invalid binding");
  });
});
