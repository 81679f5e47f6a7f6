import jsep from 'jsep';
import { describe, expect, it } from 'vitest';
import { FormulaError } from '../errors.ts';
import { type FormulaAst, formulaSymbols, parseFormula } from './index.ts';

/** A compact rendering of the tree: Python with every operation parenthesised. */
function show(node: FormulaAst): string {
  switch (node.type) {
    case 'number':
      return String(node.value);
    case 'name':
      return node.name;
    case 'unary':
      return `(${node.operator}${node.operator === 'not' ? ' ' : ''}${show(node.operand)})`;
    case 'binary':
    case 'logical':
      return `(${show(node.left)} ${node.operator} ${show(node.right)})`;
    case 'compare':
      return `(${node.operands.map((operand, i) => (i === 0 ? show(operand) : `${node.operators[i - 1]} ${show(operand)}`)).join(' ')})`;
    case 'conditional':
      return `(${show(node.body)} if ${show(node.test)} else ${show(node.orelse)})`;
    case 'call':
      return `${node.callee}(${node.args.map(show).join(', ')})`;
  }
}

const parsed = (source: string) => show(parseFormula(source));

describe('Python precedence', () => {
  it.each([
    ['-2**2', '(-(2 ** 2))'],
    ['-x**2', '(-(x ** 2))'],
    ['2**-1', '(2 ** (-1))'],
    ['2**3**2', '(2 ** (3 ** 2))'],
    ['2**-x**2', '(2 ** (-(x ** 2)))'],
    ['--x**2', '(-(-(x ** 2)))'],
    ['-x * y', '((-x) * y)'],
    ['a + b * c ** d', '(a + (b * (c ** d)))'],
    ['a - b - c', '((a - b) - c)'],
    ['a // b % c * d / e', '((((a // b) % c) * d) / e)'],
    ['not a == b', '(not (a == b))'],
    ['not a > b', '(not (a > b))'],
    ['not a + 1 > b', '(not ((a + 1) > b))'],
    ['not a and b', '((not a) and b)'],
    ['not a or not b and c', '((not a) or ((not b) and c))'],
    ['not not a', '(not (not a))'],
    ['a or b and c', '(a or (b and c))'],
    ['a and b or c', '((a and b) or c)'],
    ['a < b and b < c', '((a < b) and (b < c))'],
    ['a == b < c', '(a == b < c)'],
    ['a < b < c', '(a < b < c)'],
    ['a < b <= c != d', '(a < b <= c != d)'],
    ['(a < b) < c', '((a < b) < c)'],
    ['a < (b < c)', '(a < (b < c))'],
    ['not a < b < c', '(not (a < b < c))'],
    ['a + 1 < b * 2', '((a + 1) < (b * 2))'],
    ['a if b else c', '(a if b else c)'],
    ['a + 1 if b or c else d', '((a + 1) if (b or c) else d)'],
    ['a if b else c if d else e', '(a if b else (c if d else e))'],
    ['not a if b else c', '((not a) if b else c)'],
    ['(a if b else c) * 2', '((a if b else c) * 2)'],
    ['max(a, b if c else d) + 1', '(max(a, (b if c else d)) + 1)'],
    ['-abs(x) ** 2', '(-(abs(x) ** 2))'],
    [
      '(delta_combined_Feed_rate_dof > 0 and delta_Kiln_Coal_PV_dof < 0)  * 500',
      '(((delta_combined_Feed_rate_dof > 0) and (delta_Kiln_Coal_PV_dof < 0)) * 500)',
    ],
  ])('%s parses as %s', (source, expected) => {
    expect(parsed(source)).toBe(expected);
  });
});

describe('literals and layout', () => {
  it.each([
    ['1', 1],
    ['1.0', 1],
    ['1e-3', 0.001],
    ['2E+3', 2000],
    ['.5', 0.5],
    ['1.', 1],
    ['1_000.5', 1000.5],
    ['True', 1],
    ['False', 0],
    ['  0  ', 0],
  ])('%s is the number %s', (source, value) => {
    expect(parseFormula(source)).toMatchObject({ type: 'number', value });
  });

  it('allows comments and line breaks inside parentheses, as Python', () => {
    expect(parsed('(a\n + b)  # total\n')).toBe('(a + b)');
    expect(parsed('max(a,\n    b,)')).toBe('max(a, b)');
  });

  it('records where each node starts', () => {
    const ast = parseFormula('1 + foo * bar');
    expect(ast).toMatchObject({
      type: 'binary',
      start: 0,
      right: { type: 'binary', start: 4, right: { start: 10 } },
    });
  });

  it('lists the symbols once each, in order, without function names', () => {
    expect(formulaSymbols(parseFormula('max(b, a) + a * c_dof if b else d'))).toEqual([
      'b',
      'a',
      'c_dof',
      'd',
    ]);
    expect(formulaSymbols(parseFormula('0'))).toEqual([]);
  });
});

/** `[source, message]`: the message names what is wrong and where (0-based position). */
const SYNTAX_ERRORS: readonly (readonly [string, string])[] = [
  ['a + )', "unexpected token ')' at position 4"],
  ['(a + b))', "unexpected token ')' at position 7"],
  ['a b', "unexpected token 'b' at position 2"],
  ['1 +', 'unexpected end of formula at position 3'],
  ['(a + b', "'(' at position 0 is never closed"],
  ['max(a, b', "'(' at position 3 is never closed"],
  ['', 'the formula is empty'],
  ['   ', 'the formula is empty'],
  ['()', "unexpected token ')' at position 1"],
  ['a +* b', "unexpected token '*' at position 3"],
  ['1e', "invalid number '1e' at position 0"],
  ['0x1F', "invalid number '0x1F' at position 0"],
  ['012', "invalid number '012' at position 0: leading zeros are not allowed"],
  ['3abc', "invalid number '3abc' at position 0"],
  ['a if b', "expected 'else' at position 6"],
  ['a and', 'unexpected end of formula at position 5'],
  ['a + not b', "'not' after '+' at position 4 must be parenthesised: '(not ...)'"],
  ['a == not b', "'not' after '==' at position 5 must be parenthesised: '(not ...)'"],
  ['-not a', "'not' at position 1 must be parenthesised: '(not ...)'"],
  ['a\n+ b', 'line break at position 1 outside parentheses: a formula is one expression'],
  ['a, b', "tuples are not allowed: ',' at position 1"],
  ['(a, b)', "tuples are not allowed: ',' at position 2"],
  ['a && b', "'&&' is not allowed at position 2; use 'and'"],
  ['a || b', "'||' is not allowed at position 2; use 'or'"],
  ['!a', "'!' is not allowed at position 0; use 'not'"],
  ['a === b', "'===' is not allowed at position 2; use '=='"],
  ['a ? b : c', "'?' is not allowed at position 2; write 'x if condition else y'"],
  ['a & b', "bitwise operator '&' is not supported at position 2"],
  ['a << 2', "bitwise operator '<<' is not supported at position 2"],
  ['~a', "bitwise operator '~' is not supported at position 0"],
  ['a in b', "'in' is not supported at position 2"],
  ['min(a)', 'min() at position 0 takes at least 2 arguments, got 1'],
  ['abs(a, b)', 'abs() at position 0 takes 1 argument, got 2'],
  ['round()', 'round() at position 0 takes 1 to 2 arguments, got 0'],
  ['clip(a, b)', 'clip() at position 0 takes 3 arguments, got 2'],
  [
    '1 + foo(2)',
    "unknown function 'foo' at position 4; the functions are abs, min, max, round, sqrt, exp, log, log10, pow, floor, ceil, clip",
  ],
];

/** Everything that could reach outside the formula. */
const REFUSED: readonly (readonly [string, string])[] = [
  ['constructor', "'constructor' is not allowed at position 0"],
  ['a.constructor', "'constructor' is not allowed at position 1"],
  ['__proto__', "'__proto__' is not allowed at position 0"],
  ['a + __class__', "'__class__' is not allowed at position 4"],
  ['prototype', "'prototype' is not allowed at position 0"],
  ['toString', "'toString' is not allowed at position 0"],
  ['hasOwnProperty', "'hasOwnProperty' is not allowed at position 0"],
  ['this', "'this' is not allowed at position 0"],
  ['process', "'process' is not allowed at position 0"],
  ['process.exit(1)', "'process' is not allowed at position 0"],
  ['globalThis', "'globalThis' is not allowed at position 0"],
  ['require("fs")', "'require' is not allowed at position 0"],
  ['import os', "'import' is not allowed at position 0"],
  ['eval(a)', "'eval' is not allowed at position 0"],
  ['Function(a)', "'Function' is not allowed at position 0"],
  ['a = 1', 'assignment is not allowed at position 2'],
  ['a += 1', 'assignment is not allowed at position 2'],
  ['a **= 2', 'assignment is not allowed at position 2'],
  ['(a := 1)', 'assignment is not allowed at position 3'],
  ['a; b', "';' is not allowed at position 1: a formula is one expression"],
  ['a.b', "attribute access is not allowed: '.b' at position 1"],
  ['abs(a).real', "attribute access is not allowed: '.real' at position 6"],
  ['a[0]', "subscripts are not allowed: '[' at position 1"],
  [
    '(a)(b)',
    "only the functions abs, min, max, round, sqrt, exp, log, log10, pow, floor, ceil, clip can be called: '(' at position 3",
  ],
  [
    'a(b)',
    "unknown function 'a' at position 0; the functions are abs, min, max, round, sqrt, exp, log, log10, pow, floor, ceil, clip",
  ],
  ["'text'", 'strings are not allowed at position 0'],
  ['a + "x"', 'strings are not allowed at position 4'],
  ['`a`', 'template strings are not allowed at position 0'],
  ['[1, 2]', 'lists are not allowed at position 0'],
  ['{1: 2}', 'dicts and sets are not allowed at position 0'],
  ['lambda x: x', 'lambda is not allowed at position 0'],
  ['None', "'None' at position 0 is not allowed: a formula computes a number"],
  ['a if None else b', "'None' at position 5 is not allowed: a formula computes a number"],
  ['$a', "unexpected token '$' at position 0"],
];

describe('errors say what and where', () => {
  it.each([...SYNTAX_ERRORS, ...REFUSED])('%j: %s', (source, message) => {
    let error: unknown;
    try {
      parseFormula(source);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FormulaError);
    expect((error as FormulaError).message).toBe(`[po/rto-engine] ${message}`);
    expect((error as FormulaError).code).toBe('FORMULA_INVALID');
  });

  it('does not crash on deeply nested formulas', () => {
    const deep = `${'('.repeat(100_000)}a${')'.repeat(100_000)}`;
    expect(() => parseFormula(deep)).toThrow('the formula is nested too deeply');
  });
});

describe('jsep, whose operator table is global to the process', () => {
  it('is left exactly as it was for other users', () => {
    const table = jsep.binary_ops;
    const snapshot = { ...table };
    const rightAssociative = jsep.right_associative;
    parseFormula('a and b or not c // 2');
    expect(() => parseFormula('a +')).toThrow();
    const { Jsep } = jsep as unknown as { Jsep: { binary_ops: object; right_associative: object } };
    expect(Jsep.binary_ops).toBe(table);
    expect(Jsep.binary_ops).toEqual(snapshot);
    expect(Jsep.right_associative).toBe(rightAssociative);
    expect(jsep('1 + 2 * 3')).toMatchObject({ operator: '+', right: { operator: '*' } });
    expect(jsep('a ** b')).toMatchObject({ type: 'BinaryExpression', operator: '**' });
  });

  it('does not let other users’ configuration change how formulas read', () => {
    jsep.addBinaryOp('or', 99);
    jsep.addBinaryOp('^', 20);
    jsep.addUnaryOp('@');
    try {
      expect(parsed('a or b and c')).toBe('(a or (b and c))');
      expect(() => parseFormula('a ^ b')).toThrow("bitwise operator '^' is not supported at position 2");
      expect(() => parseFormula('@a')).toThrow("'@' is not supported at position 0");
    } finally {
      jsep.removeBinaryOp('or');
      jsep.addBinaryOp('^', 4);
      jsep.removeUnaryOp('@');
    }
  });
});
