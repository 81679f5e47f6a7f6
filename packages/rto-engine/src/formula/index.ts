/**
 * Strategy formulas (MathFunction `config.formula`): the predecessor's Python expressions,
 * parsed once and compiled into allocation-free closures over column-wise candidate points.
 */
export type {
  ArithmeticOperator,
  BinaryNode,
  CallNode,
  CompareNode,
  ComparisonOperator,
  ConditionalNode,
  FormulaAst,
  FormulaFunction,
  LogicalNode,
  LogicalOperator,
  NameNode,
  NumberNode,
  UnaryNode,
  UnaryOperator,
} from './ast.ts';
export { FORMULA_FUNCTIONS, formulaSymbols } from './ast.ts';
export type {
  CompiledFormula,
  CompileOptions,
  FormulaGradient,
  KinkCounter,
  RowEvaluator,
  SymbolBinding,
} from './compile.ts';
export { compileFormula } from './compile.ts';
export { parseFormula } from './parser.ts';
