/**
 * Reads a formula written in the predecessor's Python expression syntax into a FormulaAst.
 *
 * jsep does the binary-operator precedence climbing; a subclass replaces its readers for
 * operands, operators, whitespace and whole expressions so that the grammar is Python's:
 *
 *   conditional:  or_test ['if' or_test 'else' conditional]
 *   or/and:       precedence climbing by jsep over PYTHON_BINARY_PRECEDENCE (all comparisons
 *                 share one level, left-associative, so `a < b < c` arrives as a chain)
 *   not_test:     'not' not_test | comparison      (read with `and`/`or` stopping the operand)
 *   u_expr:       '-' u_expr | '+' u_expr | power  (so `-2**2` is -(2**2))
 *   power:        primary ['**' u_expr]            (right-associative, `2**-1` allowed)
 *   primary:      number | True | False | name | allowed_function(args) | '(' conditional ')'
 *
 * jsep's unary operators bind tighter than every binary one, which is wrong for `-x**2` and
 * `not a == b`; reading unary operators ourselves fixes that at the source instead of
 * rotating the tree afterwards, and keeps the position of every operand for error messages.
 * Parentheses survive as `Paren` nodes until the tree is converted, which is what tells the
 * chain `a < b < c` from `(a < b) < c`.
 *
 * jsep's operator table is static (global to the process). Only two of its fields are read by
 * the part of jsep used here (`binary_ops`, `right_associative`); they are swapped for Python's
 * for the duration of one synchronous parse and restored in `finally`. Other jsep users never
 * see Python's operators, their own configuration (plugins, hooks, added operators) never
 * reaches a formula, and nothing depends on import order.
 */
import jsep from 'jsep';
import { FormulaError } from '../errors.ts';
import {
  type ComparisonOperator,
  FORMULA_FUNCTIONS,
  type FormulaAst,
  type FormulaFunction,
  isFormulaFunction,
  type UnaryOperator,
} from './ast.ts';

/** Intermediate nodes. jsep itself builds `BinaryExpression` from the operands we return. */
type ReaderNode =
  | { type: 'Literal'; value: number; raw: string; start: number }
  | { type: 'Identifier'; name: string; start: number }
  | { type: 'Paren'; expression: ReaderNode; start: number }
  | { type: 'Unary'; operator: UnaryOperator; argument: ReaderNode; start: number }
  | { type: 'Power'; left: ReaderNode; right: ReaderNode; start: number }
  | { type: 'BinaryExpression'; operator: string; left: ReaderNode; right: ReaderNode }
  | { type: 'Call'; callee: FormulaFunction; args: ReaderNode[]; start: number }
  | { type: 'Conditional'; body: ReaderNode; test: ReaderNode; orelse: ReaderNode };

/** The parts of jsep's parser class (untyped in its typings) used or overridden here. */
interface JsepParser {
  index: number;
  readonly expr: string;
  gobbleSpaces(): void;
  gobbleExpression(): ReaderNode;
  gobbleBinaryExpression(): ReaderNode;
  gobbleBinaryOp(): string | false;
  gobbleToken(): ReaderNode;
}

interface JsepParserClass {
  new (expr: string): JsepParser;
  binary_ops: Record<string, number>;
  right_associative: Set<string>;
}

const Jsep = (jsep as unknown as { Jsep: JsepParserClass }).Jsep;

/** Python's binary operators, lowest first. `**` and the unary operators are read as operands. */
const PYTHON_BINARY_PRECEDENCE: Readonly<Record<string, number>> = Object.freeze({
  or: 1,
  and: 2,
  '<': 4,
  '<=': 4,
  '>': 4,
  '>=': 4,
  '==': 4,
  '!=': 4,
  '+': 5,
  '-': 5,
  '*': 6,
  '/': 6,
  '//': 6,
  '%': 6,
});
/** `not`'s operand ends at the first operator below this (`and`, `or`). */
const NOT_PRECEDENCE = 3;
const NO_RIGHT_ASSOCIATIVE: Set<string> = new Set();

const COMPARISONS: ReadonlySet<string> = new Set(['<', '<=', '>', '>=', '==', '!=']);

const NUMBER = /(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?/y;
const NAME = /[\p{L}_][\p{L}\p{N}_]*/uy;
const NAME_PART = /[\p{L}\p{N}_]/u;
const PYTHON_OPERATOR = /\/\/|<=|>=|==|!=|[<>+\-*/%]|(?:and|or)(?![\p{L}\p{N}_])/uy;
/** `=`, `+=`, `**=`, `:=`, ... but not `==`, `<=`, `>=`, `!=`. */
const ASSIGNMENT = /(?:\*\*|\/\/|>>|<<|[-+*/%@&|^:])?=(?!=)/y;
const REFUSED_OPERATOR = /===|!==|&&|\|\||<<|>>|[&|^~@?]|!(?!=)|(?:in|is)(?![\p{L}\p{N}_])/uy;
const TOKEN = /[\p{L}\p{N}_.]*[\p{L}\p{N}_]|\S/uy;
const BLANK_OR_COMMENT = /^(?:\s|#[^\n\r]*)*$/;

const REFUSED_OPERATOR_HINTS: Readonly<Record<string, string>> = {
  '===': "use '=='",
  '!==': "use '!='",
  '&&': "use 'and'",
  '||': "use 'or'",
  '!': "use 'not'",
  '?': "write 'x if condition else y'",
};

const PYTHON_KEYWORDS: ReadonlySet<string> = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
]);

/**
 * Names refused before anyone is asked to resolve them: JavaScript's ways out of a sandbox
 * (`constructor`, `__proto__`, every Object.prototype member) and Python's dunders.
 */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set([
  'constructor',
  '__proto__',
  'prototype',
  'this',
  'self',
  'process',
  'globalThis',
  'window',
  'require',
  'module',
  'exports',
  'import',
  'eval',
  'Function',
  'arguments',
  ...Object.getOwnPropertyNames(Object.prototype),
]);

export function isForbiddenName(name: string): boolean {
  return FORBIDDEN_NAMES.has(name) || name.startsWith('__');
}

function fail(message: string): never {
  throw new FormulaError(message);
}

function quote(text: string): string {
  return `'${text}'`;
}

class PythonExpressionReader extends Jsep {
  /** Binary operators below this end the operand being read (set while reading `not`'s operand). */
  private minPrecedence = 0;
  /** The binary operator just read, so that `a + not b` (a Python syntax error) is refused. */
  private previousOperator: string | null = null;
  /** Open parentheses: a line break is whitespace only inside them, as in Python. */
  private depth = 0;

  override gobbleSpaces(): void {
    const source = this.expr;
    for (;;) {
      const code = source.charCodeAt(this.index);
      if (code === 32 || code === 9 || code === 12) {
        this.index++;
      } else if (code === 10 || code === 13) {
        if (this.depth === 0 && !BLANK_OR_COMMENT.test(source.slice(this.index))) {
          fail(`line break at position ${this.index} outside parentheses: a formula is one expression`);
        }
        this.index++;
      } else if (code === 35 /* # */) {
        while (this.index < source.length && !/[\n\r]/.test(source.charAt(this.index))) this.index++;
      } else {
        return;
      }
    }
  }

  override gobbleExpression(): ReaderNode {
    const savedMin = this.minPrecedence;
    const savedPrevious = this.previousOperator;
    this.minPrecedence = 0;
    this.previousOperator = null;
    try {
      const body = this.gobbleBinaryExpression();
      this.gobbleSpaces();
      if (!this.atKeyword('if')) return body;
      this.index += 2;
      const test = this.gobbleBinaryExpression();
      this.gobbleSpaces();
      if (!this.atKeyword('else')) fail(`expected 'else' at position ${this.index}`);
      this.index += 4;
      const orelse = this.gobbleExpression();
      return { type: 'Conditional', body, test, orelse };
    } finally {
      this.minPrecedence = savedMin;
      this.previousOperator = savedPrevious;
    }
  }

  override gobbleBinaryOp(): string | false {
    this.gobbleSpaces();
    this.refuseOperator();
    const operator = this.match(PYTHON_OPERATOR);
    if (operator === undefined) return false;
    const precedence = PYTHON_BINARY_PRECEDENCE[operator] ?? 0;
    if (precedence < this.minPrecedence) return false;
    this.index += operator.length;
    this.previousOperator = operator;
    return operator;
  }

  /** An operand at `not` level (jsep calls this for each operand of a binary operator). */
  override gobbleToken(): ReaderNode {
    const previous = this.previousOperator;
    this.previousOperator = null;
    this.gobbleSpaces();
    const start = this.index;
    if (!this.atKeyword('not')) return this.gobbleUnary();
    if (previous !== null && previous !== 'and' && previous !== 'or') {
      fail(`'not' after '${previous}' at position ${start} must be parenthesised: '(not ...)'`);
    }
    this.index += 3;
    const savedMin = this.minPrecedence;
    this.minPrecedence = NOT_PRECEDENCE;
    try {
      return { type: 'Unary', operator: 'not', argument: this.gobbleBinaryExpression(), start };
    } finally {
      this.minPrecedence = savedMin;
    }
  }

  /** Python's u_expr: unary minus and plus bind looser than `**`, tighter than `*`. */
  private gobbleUnary(): ReaderNode {
    this.gobbleSpaces();
    const start = this.index;
    const char = this.expr.charAt(start);
    if (char === '-' || char === '+') {
      this.index++;
      return { type: 'Unary', operator: char, argument: this.gobbleUnary(), start };
    }
    if (this.atKeyword('not')) fail(`'not' at position ${start} must be parenthesised: '(not ...)'`);
    const base = this.gobblePrimary();
    this.gobbleSpaces();
    if (this.expr.startsWith('**', this.index) && this.expr.charAt(this.index + 2) !== '=') {
      this.index += 2;
      return { type: 'Power', left: base, right: this.gobbleUnary(), start };
    }
    return base;
  }

  private gobblePrimary(): ReaderNode {
    this.gobbleSpaces();
    const start = this.index;
    if (start >= this.expr.length) fail(`unexpected end of formula at position ${start}`);
    let node: ReaderNode;
    const number = this.match(NUMBER);
    const name = number === undefined ? this.match(NAME) : undefined;
    if (number !== undefined) {
      node = this.readNumber(number, start);
    } else if (name !== undefined) {
      node = this.readName(name, start);
    } else if (this.expr.charAt(start) === '(') {
      this.index++;
      this.depth++;
      const expression = this.gobbleExpression();
      this.gobbleSpaces();
      if (this.expr.charAt(this.index) === ',') fail(`tuples are not allowed: ',' at position ${this.index}`);
      if (this.index >= this.expr.length) fail(`'(' at position ${start} is never closed`);
      if (this.expr.charAt(this.index) !== ')') this.unexpected();
      this.index++;
      this.depth--;
      node = { type: 'Paren', expression, start };
    } else {
      this.unexpected();
    }
    this.refuseTrailer();
    return node;
  }

  private readNumber(raw: string, start: number): ReaderNode {
    const after = this.expr.charAt(start + raw.length);
    if (NAME_PART.test(after) || after === '.') {
      fail(`invalid number ${quote(this.tokenAt(start))} at position ${start}`);
    }
    if (/^0[\d_]*$/.test(raw) && /[1-9]/.test(raw)) {
      fail(`invalid number ${quote(raw)} at position ${start}: leading zeros are not allowed`);
    }
    this.index += raw.length;
    return { type: 'Literal', value: Number(raw.replaceAll('_', '')), raw, start };
  }

  private readName(name: string, start: number): ReaderNode {
    if (name === 'True' || name === 'False') {
      this.index += name.length;
      return { type: 'Literal', value: name === 'True' ? 1 : 0, raw: name, start };
    }
    if (name === 'None') fail(`'None' at position ${start} is not allowed: a formula computes a number`);
    if (name === 'lambda') fail(`lambda is not allowed at position ${start}`);
    if (name === 'not') fail(`'not' at position ${start} must be parenthesised: '(not ...)'`);
    if (['and', 'or', 'if', 'else', 'in', 'is'].includes(name))
      fail(`unexpected '${name}' at position ${start}`);
    if (PYTHON_KEYWORDS.has(name) || isForbiddenName(name))
      fail(`'${name}' is not allowed at position ${start}`);
    this.index += name.length;
    this.gobbleSpaces();
    if (this.expr.charAt(this.index) !== '(') return { type: 'Identifier', name, start };
    if (!isFormulaFunction(name)) {
      fail(
        `unknown function '${name}' at position ${start}; the functions are ${Object.keys(FORMULA_FUNCTIONS).join(', ')}`,
      );
    }
    return { type: 'Call', callee: name, args: this.readArguments(name, start), start };
  }

  private readArguments(callee: FormulaFunction, start: number): ReaderNode[] {
    const open = this.index;
    this.index++;
    this.depth++;
    const args: ReaderNode[] = [];
    this.gobbleSpaces();
    if (this.expr.charAt(this.index) === ')') {
      this.index++;
    } else {
      for (;;) {
        args.push(this.gobbleExpression());
        this.gobbleSpaces();
        const char = this.expr.charAt(this.index);
        if (char === ')') {
          this.index++;
          break;
        }
        if (char === ',') {
          this.index++;
          this.gobbleSpaces();
          if (this.expr.charAt(this.index) !== ')') continue;
          this.index++; // a trailing comma, as Python allows
          break;
        }
        if (this.index >= this.expr.length) fail(`'(' at position ${open} is never closed`);
        this.unexpected();
      }
    }
    this.depth--;
    const { minArgs, maxArgs } = FORMULA_FUNCTIONS[callee];
    if (args.length < minArgs || args.length > maxArgs) {
      const expected =
        minArgs === maxArgs
          ? `${minArgs}`
          : maxArgs === Number.POSITIVE_INFINITY
            ? `at least ${minArgs}`
            : `${minArgs} to ${maxArgs}`;
      fail(
        `${callee}() at position ${start} takes ${expected} argument${expected === '1' ? '' : 's'}, got ${args.length}`,
      );
    }
    return args;
  }

  /** After an operand: attribute access, subscripts and calls of anything but a function name. */
  private refuseTrailer(): void {
    this.gobbleSpaces();
    const at = this.index;
    const char = this.expr.charAt(at);
    if (char === '.') {
      this.index++;
      this.gobbleSpaces();
      const attribute = this.match(NAME) ?? '';
      if (isForbiddenName(attribute)) fail(`'${attribute}' is not allowed at position ${at}`);
      fail(`attribute access is not allowed: '.${attribute}' at position ${at}`);
    }
    if (char === '[') fail(`subscripts are not allowed: '[' at position ${at}`);
    if (char === '(')
      fail(
        `only the functions ${Object.keys(FORMULA_FUNCTIONS).join(', ')} can be called: '(' at position ${at}`,
      );
  }

  /** Operators that exist in JavaScript or in Python but are refused here, with a hint. */
  private refuseOperator(): void {
    const at = this.index;
    if (this.match(ASSIGNMENT) !== undefined) fail(`assignment is not allowed at position ${at}`);
    const refused = this.match(REFUSED_OPERATOR);
    if (refused === undefined) return;
    const hint = REFUSED_OPERATOR_HINTS[refused];
    if (hint !== undefined) fail(`'${refused}' is not allowed at position ${at}; ${hint}`);
    if (refused === 'in' || refused === 'is') fail(`'${refused}' is not supported at position ${at}`);
    if (refused === '@') fail(`'@' is not supported at position ${at}`);
    fail(`bitwise operator '${refused}' is not supported at position ${at}`);
  }

  /** Throws the most helpful message for what stands at the current position. */
  unexpected(): never {
    const at = this.index;
    if (at >= this.expr.length) fail(`unexpected end of formula at position ${at}`);
    this.refuseOperator();
    const char = this.expr.charAt(at);
    if (char === ';') fail(`';' is not allowed at position ${at}: a formula is one expression`);
    if (char === ',') fail(`tuples are not allowed: ',' at position ${at}`);
    if (char === "'" || char === '"') fail(`strings are not allowed at position ${at}`);
    if (char === '`') fail(`template strings are not allowed at position ${at}`);
    if (char === '[') fail(`lists are not allowed at position ${at}`);
    if (char === '{') fail(`dicts and sets are not allowed at position ${at}`);
    const token = this.tokenAt(at);
    if (token === 'not') fail(`'not' at position ${at} must be parenthesised: '(not ...)'`);
    fail(`unexpected token ${quote(token)} at position ${at}`);
  }

  private atKeyword(word: string): boolean {
    return (
      this.expr.startsWith(word, this.index) && !NAME_PART.test(this.expr.charAt(this.index + word.length))
    );
  }

  private match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.index;
    return pattern.exec(this.expr)?.[0];
  }

  private tokenAt(at: number): string {
    TOKEN.lastIndex = at;
    return TOKEN.exec(this.expr)?.[0] ?? '';
  }
}

function withPythonOperators<T>(read: () => T): T {
  const binaryOps = Jsep.binary_ops;
  const rightAssociative = Jsep.right_associative;
  Jsep.binary_ops = PYTHON_BINARY_PRECEDENCE as Record<string, number>;
  Jsep.right_associative = NO_RIGHT_ASSOCIATIVE;
  try {
    return read();
  } finally {
    Jsep.binary_ops = binaryOps;
    Jsep.right_associative = rightAssociative;
  }
}

/**
 * Parses a formula into its syntax tree. Throws FormulaError saying what is wrong and at which
 * 0-based character position. Names are not resolved here (see `compileFormula`), but names
 * that could reach outside the formula (`constructor`, `__proto__`, ...) are already refused.
 */
export function parseFormula(source: string): FormulaAst {
  if (typeof source !== 'string') fail(`a formula must be a string, got ${typeof source}`);
  if (source.trim() === '') fail('the formula is empty');
  const node = withPythonOperators(() => {
    const reader = new PythonExpressionReader(source);
    try {
      const expression = reader.gobbleExpression();
      reader.gobbleSpaces();
      if (reader.index < source.length) reader.unexpected();
      return expression;
    } catch (error) {
      if (error instanceof FormulaError) throw error;
      if (error instanceof RangeError) fail('the formula is nested too deeply');
      throw new FormulaError(
        `cannot parse the formula: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  });
  return toAst(node);
}

function startOf(node: ReaderNode): number {
  switch (node.type) {
    case 'BinaryExpression':
      return startOf(node.left);
    case 'Conditional':
      return startOf(node.body);
    default:
      return node.start;
  }
}

function toAst(node: ReaderNode): FormulaAst {
  switch (node.type) {
    case 'Literal':
      return { type: 'number', value: node.value, raw: node.raw, start: node.start };
    case 'Identifier':
      return { type: 'name', name: node.name, start: node.start };
    case 'Paren':
      return toAst(node.expression);
    case 'Unary':
      return { type: 'unary', operator: node.operator, operand: toAst(node.argument), start: node.start };
    case 'Power':
      return {
        type: 'binary',
        operator: '**',
        left: toAst(node.left),
        right: toAst(node.right),
        start: node.start,
      };
    case 'Call':
      return { type: 'call', callee: node.callee, args: node.args.map(toAst), start: node.start };
    case 'Conditional':
      return {
        type: 'conditional',
        body: toAst(node.body),
        test: toAst(node.test),
        orelse: toAst(node.orelse),
        start: startOf(node),
      };
    case 'BinaryExpression': {
      const start = startOf(node);
      const operator = node.operator;
      if (operator === 'and' || operator === 'or') {
        return { type: 'logical', operator, left: toAst(node.left), right: toAst(node.right), start };
      }
      if (COMPARISONS.has(operator)) {
        // Comparisons share one left-associative level, so a chain `a < b <= c` arrives as
        // ((a < b) <= c) with the inner comparison NOT wrapped in a Paren node.
        const operators: ComparisonOperator[] = [operator as ComparisonOperator];
        const rights: ReaderNode[] = [node.right];
        let left = node.left;
        while (left.type === 'BinaryExpression' && COMPARISONS.has(left.operator)) {
          operators.unshift(left.operator as ComparisonOperator);
          rights.unshift(left.right);
          left = left.left;
        }
        return { type: 'compare', operators, operands: [left, ...rights].map(toAst), start };
      }
      if (
        operator === '+' ||
        operator === '-' ||
        operator === '*' ||
        operator === '/' ||
        operator === '//' ||
        operator === '%'
      ) {
        return { type: 'binary', operator, left: toAst(node.left), right: toAst(node.right), start };
      }
      return fail(`unexpected operator '${operator}' at position ${start}`);
    }
  }
}
