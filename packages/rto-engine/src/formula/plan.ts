import type { ArithmeticOperator, ComparisonOperator, FormulaFunction, LogicalOperator } from './ast.ts';

/** The formula after name resolution and constant folding. */
export type Plan =
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'dof'; readonly variable: number }
  | { readonly kind: 'current'; readonly variable: number }
  | { readonly kind: 'negate' | 'not'; readonly operand: Plan }
  | {
      readonly kind: 'arithmetic';
      readonly operator: ArithmeticOperator;
      readonly left: Plan;
      readonly right: Plan;
    }
  | {
      readonly kind: 'compare';
      readonly operators: readonly ComparisonOperator[];
      readonly operands: readonly Plan[];
    }
  | {
      readonly kind: 'logical';
      readonly operator: LogicalOperator;
      readonly left: Plan;
      readonly right: Plan;
    }
  | { readonly kind: 'conditional'; readonly body: Plan; readonly test: Plan; readonly orelse: Plan }
  | {
      readonly kind: 'call';
      readonly callee: FormulaFunction;
      readonly args: readonly Plan[];
      readonly digits?: number;
    };

/** Evaluates the formula for one row of the bound dof columns. */
export type RowEvaluator = (row: number) => number;
