import type { StrategySpec, VariableSpec } from '@po/rto-engine';
import type { InputIssue } from './types.ts';

/** Variables the strategy reads from the plant: Operative or Informative inputs of any skill, in declaration order. */
export function plantColumns(spec: StrategySpec): string[] {
  const read = new Set<string>();
  for (const skill of Object.values(spec.skills)) for (const v of skill.inputs) read.add(v);
  // Columns that measure a prediction (model-plant mismatch) are read too.
  for (const v of Object.values(spec.variables)) if (v.measured_by !== undefined) read.add(v.measured_by);
  return Object.entries(spec.variables)
    .filter(([name, v]) => read.has(name) && (v.type === 'Operative' || v.type === 'Informative'))
    .map(([name]) => name);
}

interface History {
  lastGood?: number;
  lastGoodAt?: number;
  held: number;
  lastReading?: number;
  identical: number;
}

export interface ValidationOutcome {
  /** Values to run the cycle on (readings, or substitutes). */
  values: Record<string, number>;
  issues: InputIssue[];
  /** Set when the cycle must be skipped: the reason, naming variable, value and rule. */
  skipReason?: string;
}

/** A decimal numeral (`12`, `-0.5`, `1e3`), or PostgreSQL's text of a non-finite `numeric` (`NaN`, `Infinity`). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** A reading as a number; `not_decimal` for a string that is not a decimal numeral (`'0x10'` is not 16). */
const toNumber = (v: unknown): number | 'not_decimal' | undefined => {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const text = v.trim();
  if (text in NON_FINITE) return NON_FINITE[text];
  return DECIMAL.test(text) ? Number(text) : 'not_decimal';
};

/** A reading as recorded: JSON has no NaN or Infinity (they would become null), so those are kept as text. */
const recordable = (v: unknown): unknown =>
  typeof v === 'number' && !Number.isFinite(v) ? String(v) : (v ?? null);

/**
 * Input validation before each cycle, per variable (keys in the strategy: `valid_min`,
 * `valid_max`, `max_rate` per minute against the last good reading, `frozen_after`
 * identical readings, `stale_after_s` of the row against the clock, `critical`). A missing
 * or non-numeric reading is always bad. A bad non-critical reading is replaced by its last
 * good value for at most `input_validation.hold_max_cycles` consecutive cycles (default
 * 3), then the cycle is skipped; a bad critical one skips the cycle at once.
 *
 * Stateful (last good values, runs of identical readings): one validator per runner, fed
 * rows in time order. The state lives in memory, so after a restart the first bad
 * reading has no good value to hold and skips its cycle.
 */
export class InputValidator {
  private readonly history = new Map<string, History>();

  check(
    spec: StrategySpec,
    columns: readonly string[],
    row: { timestamp: Date; values: Record<string, unknown> },
    now: Date,
  ): ValidationOutcome {
    const holdMax = spec.input_validation?.hold_max_cycles ?? 3;
    const at = row.timestamp.getTime();
    const ageS = (now.getTime() - at) / 1000;
    const values: Record<string, number> = {};
    const issues: InputIssue[] = [];
    const skips: string[] = [];

    for (const name of columns) {
      const spec_ = spec.variables[name] as VariableSpec;
      const raw = row.values[name];
      const h = this.history.get(name) ?? { held: 0, identical: 0 };
      this.history.set(name, h);
      const read = toNumber(raw);
      const v = read === 'not_decimal' ? undefined : read;
      const bad: [string, string] | undefined =
        read === 'not_decimal'
          ? ['not_a_number', `'${String(raw)}' is not a decimal number`]
          : v === undefined
            ? ['missing', 'no reading']
            : this.rule(spec_, v, at, ageS, h);
      if (v !== undefined) {
        h.identical = h.lastReading === v ? h.identical + 1 : 1;
        h.lastReading = v;
      }
      if (!bad) {
        values[name] = v!;
        h.lastGood = v!;
        h.lastGoodAt = at;
        h.held = 0;
        continue;
      }
      const [rule, detail] = bad;
      const issue = { variable: name, value: recordable(raw), rule, detail };
      if (!spec_.critical && h.lastGood !== undefined && h.held < holdMax) {
        h.held++;
        values[name] = h.lastGood;
        issues.push({ ...issue, action: 'substituted', substitutedWith: h.lastGood, heldCycles: h.held });
        continue;
      }
      const why = spec_.critical
        ? 'critical variable'
        : h.lastGood === undefined
          ? 'no good value to hold'
          : `already held for ${h.held} cycle${h.held === 1 ? '' : 's'} (hold_max_cycles ${holdMax})`;
      issues.push({ ...issue, action: 'skipped' });
      skips.push(`${name}=${formatValue(raw)} ${detail} (${rule}; ${why})`);
    }
    return skips.length > 0
      ? { values, issues, skipReason: `bad input: ${skips.join('; ')}` }
      : { values, issues };
  }

  private rule(
    spec: VariableSpec,
    v: number,
    at: number,
    ageS: number,
    h: History,
  ): [string, string] | undefined {
    if (!Number.isFinite(v)) return ['not_a_number', `${v} is not a finite number`];
    if (spec.valid_min !== undefined && v < spec.valid_min)
      return ['valid_min', `below valid_min ${spec.valid_min}`];
    if (spec.valid_max !== undefined && v > spec.valid_max)
      return ['valid_max', `above valid_max ${spec.valid_max}`];
    if (spec.stale_after_s !== undefined && ageS > spec.stale_after_s)
      return ['stale', `is ${Math.round(ageS)} s old (stale_after_s ${spec.stale_after_s})`];
    if (
      spec.max_rate !== undefined &&
      h.lastGood !== undefined &&
      h.lastGoodAt !== undefined &&
      at > h.lastGoodAt
    ) {
      const rate = Math.abs(v - h.lastGood) / ((at - h.lastGoodAt) / 60_000);
      if (rate > spec.max_rate)
        return ['max_rate', `changed ${round(rate)}/min from ${h.lastGood} (max_rate ${spec.max_rate})`];
    }
    if (spec.frozen_after !== undefined && h.lastReading === v && h.identical + 1 >= spec.frozen_after)
      return ['frozen', `unchanged for ${h.identical + 1} readings (frozen_after ${spec.frozen_after})`];
    return undefined;
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;
const formatValue = (v: unknown) => (v === undefined || v === null ? 'null' : String(v));
