/**
 * The syntax tree of a formula: the subset of Python expressions a strategy may use.
 * Every node carries `start`, the 0-based character position in the source where it begins.
 */

export type ArithmeticOperator = '+' | '-' | '*' | '/' | '//' | '%' | '**';
export type ComparisonOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type UnaryOperator = '-' | '+' | 'not';
export type LogicalOperator = 'and' | 'or';

/** A number literal; `True`/`False` are the numbers 1/0 (`raw` keeps what was written). */
export interface NumberNode {
  readonly type: 'number';
  readonly value: number;
  readonly raw: string;
  readonly start: number;
}

/** A symbol (`Kiln_Coal_PV_dof`), resolved when the formula is compiled. */
export interface NameNode {
  readonly type: 'name';
  readonly name: string;
  readonly start: number;
}

export interface UnaryNode {
  readonly type: 'unary';
  readonly operator: UnaryOperator;
  readonly operand: FormulaAst;
  readonly start: number;
}

export interface BinaryNode {
  readonly type: 'binary';
  readonly operator: ArithmeticOperator;
  readonly left: FormulaAst;
  readonly right: FormulaAst;
  readonly start: number;
}

/** `a < b` or a Python chain `a < b <= c` (= `a < b and b <= c`, b evaluated once). */
export interface CompareNode {
  readonly type: 'compare';
  /** `operators[i]` compares `operands[i]` with `operands[i + 1]`. */
  readonly operators: readonly ComparisonOperator[];
  readonly operands: readonly FormulaAst[];
  readonly start: number;
}

/** `a and b` / `a or b`: Python returns one of the operands, not a boolean. */
export interface LogicalNode {
  readonly type: 'logical';
  readonly operator: LogicalOperator;
  readonly left: FormulaAst;
  readonly right: FormulaAst;
  readonly start: number;
}

/** `body if test else orelse`. */
export interface ConditionalNode {
  readonly type: 'conditional';
  readonly body: FormulaAst;
  readonly test: FormulaAst;
  readonly orelse: FormulaAst;
  readonly start: number;
}

export interface CallNode {
  readonly type: 'call';
  readonly callee: FormulaFunction;
  readonly args: readonly FormulaAst[];
  readonly start: number;
}

export type FormulaAst =
  | NumberNode
  | NameNode
  | UnaryNode
  | BinaryNode
  | CompareNode
  | LogicalNode
  | ConditionalNode
  | CallNode;

/** Functions a formula may call, with how many arguments each takes. Nothing else is callable. */
export const FORMULA_FUNCTIONS = {
  abs: { minArgs: 1, maxArgs: 1 },
  min: { minArgs: 2, maxArgs: Number.POSITIVE_INFINITY },
  max: { minArgs: 2, maxArgs: Number.POSITIVE_INFINITY },
  round: { minArgs: 1, maxArgs: 2 },
  sqrt: { minArgs: 1, maxArgs: 1 },
  exp: { minArgs: 1, maxArgs: 1 },
  log: { minArgs: 1, maxArgs: 2 },
  log10: { minArgs: 1, maxArgs: 1 },
  pow: { minArgs: 2, maxArgs: 2 },
  floor: { minArgs: 1, maxArgs: 1 },
  ceil: { minArgs: 1, maxArgs: 1 },
  clip: { minArgs: 3, maxArgs: 3 },
} as const satisfies Record<string, { minArgs: number; maxArgs: number }>;

export type FormulaFunction = keyof typeof FORMULA_FUNCTIONS;

const FUNCTION_NAMES: ReadonlySet<string> = new Set(Object.keys(FORMULA_FUNCTIONS));

export function isFormulaFunction(name: string): name is FormulaFunction {
  return FUNCTION_NAMES.has(name);
}

/** A node's operands, in source order. */
export function childNodes(node: FormulaAst): readonly FormulaAst[] {
  switch (node.type) {
    case 'number':
    case 'name':
      return [];
    case 'unary':
      return [node.operand];
    case 'binary':
    case 'logical':
      return [node.left, node.right];
    case 'compare':
      return node.operands;
    case 'conditional':
      return [node.body, node.test, node.orelse];
    case 'call':
      return node.args;
  }
}

/** The symbols a formula reads, each once, in order of first appearance (function names excluded). */
export function formulaSymbols(ast: FormulaAst): string[] {
  const seen = new Set<string>();
  const visit = (node: FormulaAst): void => {
    if (node.type === 'name') seen.add(node.name);
    for (const child of childNodes(node)) visit(child);
  };
  visit(ast);
  return [...seen];
}
