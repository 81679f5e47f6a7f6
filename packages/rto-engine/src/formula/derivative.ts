/**
 * Exact derivatives of a compiled formula: the plan becomes a second tree of closures that
 * evaluates one row and, in reverse mode, adds `seed * d node / d leaf` to the partial
 * derivative of every dof column the formula reads. Nothing allocates per call.
 *
 * Nonsmooth points are reported, not hidden: where the formula is at a kink or a jump (a tie in
 * `abs`, `min`, `max`, `clip`, equal operands of a comparison, `floor`/`ceil`/`round`/`//`/`%`
 * at a step) the counter `kinks.count` is incremented; the derivative written there is the one
 * of the branch Python takes (a one-sided derivative).
 */
import type { Plan, RowEvaluator } from './plan.ts';
import {
  clip,
  logBase,
  pyCeil,
  pyFloor,
  pyFloorDiv,
  pyMod,
  pyPow,
  roundDigits,
  roundHalfEven,
} from './python.ts';

/** Counts the nonsmooth points met during evaluations (reset by the caller). */
export interface KinkCounter {
  count: number;
}

/**
 * Evaluates the formula at `row`, writing d value / d dof column into the bound `partials`
 * (zeroed first; index k is the formula's k-th dof variable, `CompiledFormula.dofVariables[k]`).
 */
export type FormulaGradient = (row: number) => number;

/** Value at `row`; adds `seed` times the node's derivative to the partials. */
type Diff = (row: number, seed: number) => number;

interface Context {
  columns: readonly Float64Array[];
  current: Float64Array;
  /** dof variable -> its index in the partials. */
  dofIndex: ReadonlyMap<number, number>;
  partials: Float64Array;
  kinks: KinkCounter;
  value: (plan: Plan) => RowEvaluator;
}

export function gradientEvaluator(
  plan: Plan,
  columns: readonly Float64Array[],
  current: Float64Array,
  dofIndex: ReadonlyMap<number, number>,
  partials: Float64Array,
  kinks: KinkCounter,
  value: (plan: Plan) => RowEvaluator,
): FormulaGradient {
  const d = diff(plan, { columns, current, dofIndex, partials, kinks, value });
  return (row) => {
    partials.fill(0);
    return d(row, 1);
  };
}

function diff(plan: Plan, c: Context): Diff {
  switch (plan.kind) {
    case 'constant': {
      const v = plan.value;
      return () => v;
    }
    case 'dof': {
      const column = c.columns[plan.variable]!;
      const k = c.dofIndex.get(plan.variable)!;
      const partials = c.partials;
      return (row, seed) => {
        partials[k]! += seed;
        return column[row]!;
      };
    }
    case 'current': {
      const { current } = c;
      const variable = plan.variable;
      return () => current[variable]!;
    }
    case 'negate': {
      const a = diff(plan.operand, c);
      return (row, seed) => -a(row, -seed);
    }
    case 'not': {
      const v = c.value(plan);
      const a = c.value(plan.operand);
      const { kinks } = c;
      return (row) => {
        if (a(row) === 0) kinks.count++;
        return v(row);
      };
    }
    case 'compare':
      return step(plan, c);
    case 'arithmetic':
      return arithmetic(plan, c);
    case 'logical': {
      const left = c.value(plan.left);
      const dl = diff(plan.left, c);
      const dr = diff(plan.right, c);
      const and = plan.operator === 'and';
      return (row, seed) => ((left(row) === 0) === and ? dl(row, seed) : dr(row, seed));
    }
    case 'conditional': {
      const test = diff(plan.test, c);
      const body = diff(plan.body, c);
      const orelse = diff(plan.orelse, c);
      return (row, seed) => (test(row, 0) !== 0 ? body(row, seed) : orelse(row, seed));
    }
    case 'call':
      return call(plan, c);
  }
}

/** Comparisons: piecewise constant (derivative 0); a jump where operands tie. */
function step(plan: Extract<Plan, { kind: 'compare' }>, c: Context): Diff {
  const v = c.value(plan);
  const operands = plan.operands.map((p) => c.value(p));
  const { kinks } = c;
  return (row) => {
    for (let i = 0; i + 1 < operands.length; i++)
      if (operands[i]!(row) === operands[i + 1]!(row)) kinks.count++;
    return v(row);
  };
}

function arithmetic(plan: Extract<Plan, { kind: 'arithmetic' }>, c: Context): Diff {
  const a = diff(plan.left, c);
  const b = diff(plan.right, c);
  const va = c.value(plan.left);
  const vb = c.value(plan.right);
  const rightConstant = plan.right.kind === 'constant';
  const { kinks } = c;
  switch (plan.operator) {
    case '+':
      return (row, seed) => a(row, seed) + b(row, seed);
    case '-':
      return (row, seed) => a(row, seed) - b(row, -seed);
    case '*':
      if (plan.left.kind === 'constant') {
        const k = plan.left.value;
        return (row, seed) => k * b(row, seed * k);
      }
      if (rightConstant) {
        const k = (plan.right as { value: number }).value;
        return (row, seed) => a(row, seed * k) * k;
      }
      return (row, seed) => {
        const x = va(row);
        const y = vb(row);
        a(row, seed * y);
        b(row, seed * x);
        return x * y;
      };
    case '/':
      return (row, seed) => {
        const y = vb(row);
        const x = a(row, seed / y);
        b(row, (-seed * x) / (y * y));
        return x / y;
      };
    case '//':
      return (row) => {
        const x = va(row);
        const y = vb(row);
        if (Number.isInteger(x / y)) kinks.count++;
        return pyFloorDiv(x, y);
      };
    case '%':
      return (row, seed) => {
        const x = va(row);
        const y = vb(row);
        const q = Math.floor(x / y);
        if (Number.isInteger(x / y)) kinks.count++;
        a(row, seed);
        b(row, -seed * q);
        return pyMod(x, y);
      };
    case '**':
      return power(a, b, va, vb, rightConstant);
  }
}

function power(a: Diff, b: Diff, va: RowEvaluator, vb: RowEvaluator, constantExponent: boolean): Diff {
  return (row, seed) => {
    const x = va(row);
    const y = vb(row);
    const value = pyPow(x, y);
    a(row, y === 0 ? 0 : seed * y * pyPow(x, y - 1));
    if (!constantExponent) b(row, x > 0 ? seed * value * Math.log(x) : 0);
    return value;
  };
}

function call(plan: Extract<Plan, { kind: 'call' }>, c: Context): Diff {
  const ds = plan.args.map((p) => diff(p, c));
  const vs = plan.args.map((p) => c.value(p));
  const a = ds[0]!;
  const va = vs[0]!;
  const { kinks } = c;
  switch (plan.callee) {
    case 'abs':
      return (row, seed) => {
        const x = va(row);
        if (x === 0) kinks.count++;
        return Math.abs(a(row, x < 0 ? -seed : seed));
      };
    case 'sqrt':
      return (row, seed) => {
        const r = Math.sqrt(va(row));
        a(row, (0.5 * seed) / r);
        return r;
      };
    case 'exp':
      return (row, seed) => {
        const e = Math.exp(va(row));
        a(row, seed * e);
        return e;
      };
    case 'log10':
      return (row, seed) => Math.log10(a(row, seed / (va(row) * Math.LN10)));
    case 'log': {
      if (ds.length === 1) return (row, seed) => Math.log(a(row, seed / va(row)));
      const b = ds[1]!;
      const vb = vs[1]!;
      return (row, seed) => {
        const x = va(row);
        const base = vb(row);
        const lb = Math.log(base);
        a(row, seed / (x * lb));
        b(row, (-seed * Math.log(x)) / (base * lb * lb));
        return logBase(x, base);
      };
    }
    case 'pow':
      return power(a, ds[1]!, va, vs[1]!, plan.args[1]!.kind === 'constant');
    case 'floor':
    case 'ceil':
    case 'round':
      return rounding(plan, va, kinks);
    case 'clip':
      return clipDiff(ds, vs, kinks);
    case 'min':
    case 'max':
      return extremum(plan.callee, ds, vs, kinks);
  }
}

/** floor, ceil, round: derivative 0, a jump at each step. */
function rounding(plan: Extract<Plan, { kind: 'call' }>, va: RowEvaluator, kinks: KinkCounter): Diff {
  const digits = plan.digits;
  const scale = digits === undefined ? 1 : 10 ** digits;
  const f =
    plan.callee === 'floor'
      ? pyFloor
      : plan.callee === 'ceil'
        ? pyCeil
        : digits === undefined
          ? roundHalfEven
          : (x: number) => roundDigits(x, digits, 10 ** Math.abs(digits));
  const atStep =
    plan.callee === 'round' ? (x: number) => Number.isInteger(x * scale - 0.5) : Number.isInteger;
  return (row) => {
    const x = va(row);
    if (atStep(x)) kinks.count++;
    return f(x);
  };
}

/** `clip(x, lo, hi)` = min(max(x, lo), hi): the derivative of the operand it returns. */
function clipDiff(ds: readonly Diff[], vs: readonly RowEvaluator[], kinks: KinkCounter): Diff {
  const [dx, dlo, dhi] = ds as [Diff, Diff, Diff];
  const [vx, vlo, vhi] = vs as [RowEvaluator, RowEvaluator, RowEvaluator];
  return (row, seed) => {
    const x = vx(row);
    const lo = vlo(row);
    const hi = vhi(row);
    const m = Math.max(x, lo);
    if (x === lo || m === hi) kinks.count++;
    if (hi < m) dhi(row, seed);
    else if (x >= lo) dx(row, seed);
    else dlo(row, seed);
    return clip(x, lo, hi);
  };
}

/** `min`/`max` as Python picks (the first of equal items): the derivative of the one picked. */
function extremum(
  kind: 'min' | 'max',
  ds: readonly Diff[],
  vs: readonly RowEvaluator[],
  kinks: KinkCounter,
): Diff {
  const values = new Float64Array(vs.length);
  return (row, seed) => {
    let pick = 0;
    values[0] = vs[0]!(row);
    for (let i = 1; i < vs.length; i++) {
      const v = vs[i]!(row);
      values[i] = v;
      const better = kind === 'min' ? v < values[pick]! : v > values[pick]!;
      if (better) pick = i;
    }
    for (let i = 0; i < vs.length; i++) if (i !== pick && values[i] === values[pick]) kinks.count++;
    return ds[pick]!(row, seed);
  };
}
