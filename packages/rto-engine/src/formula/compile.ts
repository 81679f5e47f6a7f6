/**
 * Compiles a formula once into a tree of closures that evaluates one candidate point (a row
 * of column-wise dof values) without allocating. No `eval`, no `new Function`: the only
 * things a formula can reach are its resolved symbols and the functions in FORMULA_FUNCTIONS.
 */
import { FormulaError } from '../errors.ts';
import {
  type ArithmeticOperator,
  type ComparisonOperator,
  childNodes,
  type FormulaAst,
  type FormulaFunction,
  formulaSymbols,
} from './ast.ts';
import { type FormulaGradient, gradientEvaluator, type KinkCounter } from './derivative.ts';
import { parseFormula } from './parser.ts';
import type { Plan, RowEvaluator } from './plan.ts';
import {
  clip,
  logBase,
  pyCeil,
  pyFloor,
  pyFloorDiv,
  pyMax2,
  pyMin2,
  pyMod,
  pyPow,
  roundDigits,
  roundHalfEven,
} from './python.ts';

/** Where the value of a symbol comes from. */
export type SymbolBinding =
  /** The candidate value of a decision variable: `dofColumns[variable][row]`. */
  | { readonly kind: 'dof'; readonly variable: number }
  /** The plant value: `current[variable]`, the same for every row, read at each evaluation. */
  | { readonly kind: 'current'; readonly variable: number }
  /** A value fixed when the strategy loads (e.g. a threshold), folded into the formula. */
  | { readonly kind: 'constant'; readonly value: number };

export interface CompileOptions {
  /**
   * Where each symbol of the formula comes from; `undefined` makes it an unknown symbol
   * (a compile error). Called once per distinct symbol, never for names the parser refuses
   * (`constructor`, `__proto__`, ...). Look names up in a Map, not in a plain object.
   */
  resolve(name: string): SymbolBinding | undefined;
}

export type { FormulaGradient, KinkCounter } from './derivative.ts';
export type { RowEvaluator } from './plan.ts';

export interface CompiledFormula {
  readonly source: string;
  /** The symbols the formula reads, each once, in order of first appearance. */
  readonly symbols: readonly string[];
  /** The value when the formula depends on no dof or current value (e.g. `"0"`), else undefined. */
  readonly constant: number | undefined;
  /**
   * Binds the formula to storage; call again when columns are reallocated. The evaluator
   * reads `dofColumns[v][row]` and `current[v]` at each call, so refilling the arrays in place
   * needs no rebind. Throws FormulaError when a column or current index is missing.
   */
  bind(dofColumns: readonly Float64Array[], current: Float64Array): RowEvaluator;
  /** The dof variables the formula reads, each once: the order of `bindGradient`'s partials. */
  readonly dofVariables: readonly number[];
  /**
   * Binds the formula's exact derivative: the evaluator returns the value at a row and writes
   * d value / d dof[dofVariables[k]] into `partials[k]`; every nonsmooth point it meets (a kink
   * or a jump, where the derivative written is one-sided) increments `kinks.count`.
   */
  bindGradient(
    dofColumns: readonly Float64Array[],
    current: Float64Array,
    partials: Float64Array,
    kinks: KinkCounter,
  ): FormulaGradient;
}

type ConstantPlan = Extract<Plan, { kind: 'constant' }>;

const NO_COLUMNS: readonly Float64Array[] = [];
const NO_CURRENT = new Float64Array(0);

/**
 * Compiles `source` (Python expression syntax, see parser.ts) against the given symbols.
 * Throws FormulaError: syntax errors and unknown symbols with their 0-based position.
 */
export function compileFormula(source: string, options: CompileOptions): CompiledFormula {
  const ast = parseFormula(source);
  const symbols = formulaSymbols(ast);
  const bindings = resolveSymbols(ast, symbols, options);
  const plan = planOf(ast, bindings);
  const dofVariables = new Set<number>();
  const currentVariables = new Set<number>();
  collectVariables(plan, dofVariables, currentVariables);
  const checkBinding = (dofColumns: readonly Float64Array[], current: Float64Array): void => {
    for (const variable of dofVariables) {
      if (!(dofColumns[variable] instanceof Float64Array)) {
        throw new FormulaError(
          `formula "${source}" reads dof column ${variable}, but bind() was given ${dofColumns.length} columns`,
        );
      }
    }
    for (const variable of currentVariables) {
      if (!(current instanceof Float64Array) || variable >= current.length) {
        throw new FormulaError(
          `formula "${source}" reads current value ${variable}, but bind() was given ${current?.length ?? 0} values`,
        );
      }
    }
  };
  const dofOrder = [...dofVariables];
  return Object.freeze({
    dofVariables: Object.freeze(dofOrder),
    source,
    symbols: Object.freeze(symbols),
    constant: plan.kind === 'constant' ? plan.value : undefined,
    bind(dofColumns: readonly Float64Array[], current: Float64Array): RowEvaluator {
      checkBinding(dofColumns, current);
      return evaluator(plan, dofColumns, current);
    },
    bindGradient(
      dofColumns: readonly Float64Array[],
      current: Float64Array,
      partials: Float64Array,
      kinks: KinkCounter,
    ): FormulaGradient {
      checkBinding(dofColumns, current);
      if (!(partials instanceof Float64Array) || partials.length < dofOrder.length) {
        throw new FormulaError(
          `formula "${source}" has ${dofOrder.length} partial derivatives, but bindGradient() was given ${partials?.length ?? 0} slots`,
        );
      }
      const dofIndex = new Map(dofOrder.map((v, k) => [v, k]));
      const value = (p: Plan) => evaluator(p, dofColumns, current);
      return gradientEvaluator(plan, dofColumns, current, dofIndex, partials, kinks, value);
    },
  });
}

function resolveSymbols(
  ast: FormulaAst,
  symbols: readonly string[],
  options: CompileOptions,
): Map<string, SymbolBinding> {
  const bindings = new Map<string, SymbolBinding>();
  const unknown: string[] = [];
  for (const name of symbols) {
    const binding = options.resolve(name);
    if (binding === undefined) {
      unknown.push(name);
      continue;
    }
    const valid =
      binding.kind === 'constant'
        ? typeof binding.value === 'number'
        : (binding.kind === 'dof' || binding.kind === 'current') &&
          Number.isInteger(binding.variable) &&
          binding.variable >= 0;
    if (!valid)
      throw new FormulaError(`symbol '${name}' resolved to an invalid binding ${JSON.stringify(binding)}`);
    bindings.set(name, binding);
  }
  if (unknown.length > 0) {
    const where = unknown.map((name) => `'${name}' at position ${firstPosition(ast, name)}`);
    throw new FormulaError(`unknown symbol${unknown.length === 1 ? '' : 's'} ${where.join(', ')}`);
  }
  return bindings;
}

function firstPosition(ast: FormulaAst, name: string): number {
  let position = -1;
  const visit = (node: FormulaAst): void => {
    if (position >= 0 && node.start > position) return;
    if (node.type === 'name') {
      if (node.name === name && (position < 0 || node.start < position)) position = node.start;
      return;
    }
    for (const child of childNodes(node)) visit(child);
  };
  visit(ast);
  return position;
}

function isConstant(plan: Plan): plan is ConstantPlan {
  return plan.kind === 'constant';
}

/** Folds a node whose operands are all constants, evaluating it with the runtime closures. */
function fold(plan: Plan, operands: readonly Plan[]): Plan {
  if (!operands.every(isConstant)) return plan;
  return { kind: 'constant', value: evaluator(plan, NO_COLUMNS, NO_CURRENT)(0) };
}

function planOf(node: FormulaAst, bindings: ReadonlyMap<string, SymbolBinding>): Plan {
  const plan = (child: FormulaAst): Plan => planOf(child, bindings);
  switch (node.type) {
    case 'number':
      return { kind: 'constant', value: node.value };
    case 'name': {
      const binding = bindings.get(node.name)!;
      return binding.kind === 'constant'
        ? { kind: 'constant', value: binding.value }
        : { kind: binding.kind, variable: binding.variable };
    }
    case 'unary': {
      const operand = plan(node.operand);
      if (node.operator === '+') return operand;
      return fold({ kind: node.operator === '-' ? 'negate' : 'not', operand }, [operand]);
    }
    case 'binary': {
      const left = plan(node.left);
      const right = plan(node.right);
      return simplify(fold({ kind: 'arithmetic', operator: node.operator, left, right }, [left, right]));
    }
    case 'compare': {
      const operands = node.operands.map(plan);
      return fold({ kind: 'compare', operators: node.operators, operands }, operands);
    }
    case 'logical': {
      const left = plan(node.left);
      const right = plan(node.right);
      if (isConstant(left)) {
        // `a and b` is a when a is falsy, else b; `a or b` is a when a is truthy, else b.
        const leftDecides = (left.value !== 0) === (node.operator === 'or');
        return leftDecides ? left : right;
      }
      return { kind: 'logical', operator: node.operator, left, right };
    }
    case 'conditional': {
      const test = plan(node.test);
      if (isConstant(test)) return test.value !== 0 ? plan(node.body) : plan(node.orelse);
      return { kind: 'conditional', body: plan(node.body), test, orelse: plan(node.orelse) };
    }
    case 'call': {
      const args = node.args.map(plan);
      if (node.callee === 'round' && args.length === 2) {
        const digits = args[1]!;
        if (!isConstant(digits) || !Number.isInteger(digits.value)) {
          throw new FormulaError(
            `round() at position ${node.start}: the number of digits must be a constant integer`,
          );
        }
        return fold({ kind: 'call', callee: 'round', args: [args[0]!], digits: digits.value }, [args[0]!]);
      }
      return fold({ kind: 'call', callee: node.callee, args }, args);
    }
  }
}

/**
 * Exact IEEE identities only (they hold for NaN, ±0 and ±Infinity too): `1 * x`, `x * 1`,
 * `x / 1` are x; `-1 * x`, `x * -1`, `x / -1` are -x. Written as `1.0 * a / b` in strategies.
 */
function simplify(plan: Plan): Plan {
  if (plan.kind !== 'arithmetic' || (plan.operator !== '*' && plan.operator !== '/')) return plan;
  const { left, right } = plan;
  if (isConstant(right) && (right.value === 1 || right.value === -1)) {
    return right.value === 1 ? left : { kind: 'negate', operand: left };
  }
  if (plan.operator === '*' && isConstant(left) && (left.value === 1 || left.value === -1)) {
    return left.value === 1 ? right : { kind: 'negate', operand: right };
  }
  return plan;
}

function collectVariables(plan: Plan, dof: Set<number>, current: Set<number>): void {
  if (plan.kind === 'dof') dof.add(plan.variable);
  else if (plan.kind === 'current') current.add(plan.variable);
  for (const child of planChildren(plan)) collectVariables(child, dof, current);
}

function planChildren(plan: Plan): readonly Plan[] {
  switch (plan.kind) {
    case 'constant':
    case 'dof':
    case 'current':
      return [];
    case 'negate':
    case 'not':
      return [plan.operand];
    case 'arithmetic':
    case 'logical':
      return [plan.left, plan.right];
    case 'compare':
      return plan.operands;
    case 'conditional':
      return [plan.body, plan.test, plan.orelse];
    case 'call':
      return plan.args;
  }
}

// ---------------------------------------------------------------------------------------------
// Closures. Each node becomes one small closure; the common leaf shapes (a column read, a
// current value, a constant) are inlined into their parent so that `a_dof - a_current` is a
// single closure with two typed-array reads. Nothing below allocates per call.

function evaluator(plan: Plan, columns: readonly Float64Array[], current: Float64Array): RowEvaluator {
  switch (plan.kind) {
    case 'constant': {
      const value = plan.value;
      return () => value;
    }
    case 'dof': {
      const column = columns[plan.variable]!;
      return (row) => column[row]!;
    }
    case 'current': {
      const variable = plan.variable;
      return () => current[variable]!;
    }
    case 'negate': {
      const operand = evaluator(plan.operand, columns, current);
      return (row) => -operand(row);
    }
    case 'not': {
      const operand = evaluator(plan.operand, columns, current);
      return (row) => (operand(row) === 0 ? 1 : 0);
    }
    case 'arithmetic':
      return arithmetic(plan.operator, plan.left, plan.right, columns, current);
    case 'compare':
      return plan.operands.length === 2
        ? comparison(plan.operators[0]!, plan.operands[0]!, plan.operands[1]!, columns, current)
        : chain(
            plan.operators,
            plan.operands.map((operand) => evaluator(operand, columns, current)),
          );
    case 'logical': {
      const left = evaluator(plan.left, columns, current);
      const right = evaluator(plan.right, columns, current);
      return plan.operator === 'and'
        ? (row) => {
            const value = left(row);
            return value === 0 ? value : right(row);
          }
        : (row) => {
            const value = left(row);
            return value !== 0 ? value : right(row);
          };
    }
    case 'conditional': {
      const body = evaluator(plan.body, columns, current);
      const test = evaluator(plan.test, columns, current);
      const orelse = evaluator(plan.orelse, columns, current);
      return (row) => (test(row) !== 0 ? body(row) : orelse(row));
    }
    case 'call':
      return call(plan.callee, plan.args, plan.digits, columns, current);
  }
}

function arithmetic(
  operator: ArithmeticOperator,
  leftPlan: Plan,
  rightPlan: Plan,
  columns: readonly Float64Array[],
  current: Float64Array,
): RowEvaluator {
  // Inlined shapes for + - * /, the operators of nearly every strategy formula.
  if (operator === '+' || operator === '-' || operator === '*' || operator === '/') {
    const inlined = inlineLeaves(operator, leftPlan, rightPlan, columns, current);
    if (inlined !== undefined) return inlined;
  }
  const left = evaluator(leftPlan, columns, current);
  const right = evaluator(rightPlan, columns, current);
  switch (operator) {
    case '+':
      return (row) => left(row) + right(row);
    case '-':
      return (row) => left(row) - right(row);
    case '*':
      return (row) => left(row) * right(row);
    case '/':
      return (row) => left(row) / right(row);
    case '//':
      return (row) => pyFloorDiv(left(row), right(row));
    case '%':
      return (row) => pyMod(left(row), right(row));
    case '**':
      return (row) => pyPow(left(row), right(row));
  }
}

type InlinedOperator = '+' | '-' | '*' | '/';

function inlineLeaves(
  operator: InlinedOperator,
  leftPlan: Plan,
  rightPlan: Plan,
  columns: readonly Float64Array[],
  current: Float64Array,
): RowEvaluator | undefined {
  if (leftPlan.kind === 'dof' && rightPlan.kind === 'current') {
    const column = columns[leftPlan.variable]!;
    const variable = rightPlan.variable;
    switch (operator) {
      case '+':
        return (row) => column[row]! + current[variable]!;
      case '-':
        return (row) => column[row]! - current[variable]!;
      case '*':
        return (row) => column[row]! * current[variable]!;
      case '/':
        return (row) => column[row]! / current[variable]!;
    }
  }
  if (leftPlan.kind === 'dof' && rightPlan.kind === 'dof') {
    const a = columns[leftPlan.variable]!;
    const b = columns[rightPlan.variable]!;
    switch (operator) {
      case '+':
        return (row) => a[row]! + b[row]!;
      case '-':
        return (row) => a[row]! - b[row]!;
      case '*':
        return (row) => a[row]! * b[row]!;
      case '/':
        return (row) => a[row]! / b[row]!;
    }
  }
  if (leftPlan.kind === 'current' && rightPlan.kind === 'dof') {
    const variable = leftPlan.variable;
    const column = columns[rightPlan.variable]!;
    switch (operator) {
      case '+':
        return (row) => current[variable]! + column[row]!;
      case '-':
        return (row) => current[variable]! - column[row]!;
      case '*':
        return (row) => current[variable]! * column[row]!;
      case '/':
        return (row) => current[variable]! / column[row]!;
    }
  }
  if (rightPlan.kind === 'constant') {
    const left = evaluator(leftPlan, columns, current);
    const value = rightPlan.value;
    switch (operator) {
      case '+':
        return (row) => left(row) + value;
      case '-':
        return (row) => left(row) - value;
      case '*':
        return (row) => left(row) * value;
      case '/':
        return (row) => left(row) / value;
    }
  }
  if (leftPlan.kind === 'constant') {
    const value = leftPlan.value;
    const right = evaluator(rightPlan, columns, current);
    switch (operator) {
      case '+':
        return (row) => value + right(row);
      case '-':
        return (row) => value - right(row);
      case '*':
        return (row) => value * right(row);
      case '/':
        return (row) => value / right(row);
    }
  }
  return undefined;
}

function comparison(
  operator: ComparisonOperator,
  leftPlan: Plan,
  rightPlan: Plan,
  columns: readonly Float64Array[],
  current: Float64Array,
): RowEvaluator {
  // Inlined shapes: `x_dof > 0` and `<anything> > 0`.
  if (rightPlan.kind === 'constant') {
    const value = rightPlan.value;
    if (leftPlan.kind === 'dof') {
      const column = columns[leftPlan.variable]!;
      switch (operator) {
        case '<':
          return (row) => (column[row]! < value ? 1 : 0);
        case '<=':
          return (row) => (column[row]! <= value ? 1 : 0);
        case '>':
          return (row) => (column[row]! > value ? 1 : 0);
        case '>=':
          return (row) => (column[row]! >= value ? 1 : 0);
        case '==':
          return (row) => (column[row]! === value ? 1 : 0);
        case '!=':
          return (row) => (column[row]! !== value ? 1 : 0);
      }
    }
    const left = evaluator(leftPlan, columns, current);
    switch (operator) {
      case '<':
        return (row) => (left(row) < value ? 1 : 0);
      case '<=':
        return (row) => (left(row) <= value ? 1 : 0);
      case '>':
        return (row) => (left(row) > value ? 1 : 0);
      case '>=':
        return (row) => (left(row) >= value ? 1 : 0);
      case '==':
        return (row) => (left(row) === value ? 1 : 0);
      case '!=':
        return (row) => (left(row) !== value ? 1 : 0);
    }
  }
  const left = evaluator(leftPlan, columns, current);
  const right = evaluator(rightPlan, columns, current);
  switch (operator) {
    case '<':
      return (row) => (left(row) < right(row) ? 1 : 0);
    case '<=':
      return (row) => (left(row) <= right(row) ? 1 : 0);
    case '>':
      return (row) => (left(row) > right(row) ? 1 : 0);
    case '>=':
      return (row) => (left(row) >= right(row) ? 1 : 0);
    case '==':
      return (row) => (left(row) === right(row) ? 1 : 0);
    case '!=':
      return (row) => (left(row) !== right(row) ? 1 : 0);
  }
}

function compare(operator: ComparisonOperator, a: number, b: number): boolean {
  switch (operator) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}

/** `a < b <= c`: each middle operand evaluated once, stopping at the first false link. */
function chain(operators: readonly ComparisonOperator[], operands: readonly RowEvaluator[]): RowEvaluator {
  const first = operands[0]!;
  return (row) => {
    let left = first(row);
    for (let i = 0; i < operators.length; i++) {
      const right = operands[i + 1]!(row);
      if (!compare(operators[i]!, left, right)) return 0;
      left = right;
    }
    return 1;
  };
}

function call(
  callee: FormulaFunction,
  argPlans: readonly Plan[],
  digits: number | undefined,
  columns: readonly Float64Array[],
  current: Float64Array,
): RowEvaluator {
  const args = argPlans.map((arg) => evaluator(arg, columns, current));
  const a = args[0]!;
  switch (callee) {
    case 'abs':
      return (row) => Math.abs(a(row));
    case 'sqrt':
      return (row) => Math.sqrt(a(row));
    case 'exp':
      return (row) => Math.exp(a(row));
    case 'log10':
      return (row) => Math.log10(a(row));
    case 'floor':
      return (row) => pyFloor(a(row));
    case 'ceil':
      return (row) => pyCeil(a(row));
    case 'log': {
      if (args.length === 1) return (row) => Math.log(a(row));
      const base = args[1]!;
      return (row) => logBase(a(row), base(row));
    }
    case 'pow': {
      const b = args[1]!;
      return (row) => pyPow(a(row), b(row));
    }
    case 'round': {
      if (digits === undefined) return (row) => roundHalfEven(a(row));
      const scale = 10 ** Math.abs(digits);
      return (row) => roundDigits(a(row), digits, scale);
    }
    case 'clip': {
      const lo = args[1]!;
      const hi = args[2]!;
      return (row) => clip(a(row), lo(row), hi(row));
    }
    case 'min':
    case 'max': {
      const pick = callee === 'min' ? pyMin2 : pyMax2;
      if (args.length === 2) {
        const b = args[1]!;
        return (row) => pick(a(row), b(row));
      }
      return (row) => {
        let value = a(row);
        for (let i = 1; i < args.length; i++) value = pick(value, args[i]!(row));
        return value;
      };
    }
  }
}
