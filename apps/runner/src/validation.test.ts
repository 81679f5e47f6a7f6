import type { StrategySpec } from '@po/rto-engine';
import { describe, expect, it } from 'vitest';
import { InputValidator } from './validation.ts';

// The validator reads only `variables` and `input_validation` of a strategy: a two-variable one.
const spec = {
  variables: { Feed: { type: 'Operative' }, Temp: { type: 'Operative', critical: true } },
  skills: {},
} as unknown as StrategySpec;
const columns = ['Feed', 'Temp'];
const now = new Date('2026-03-01T06:00:30Z');
const row = (minute: number, values: Record<string, unknown>) => ({
  timestamp: new Date(Date.parse('2026-03-01T06:00:00Z') + minute * 60_000),
  values,
});

describe('InputValidator readings', () => {
  it('reads decimal numerals only: the string 0x10 is refused by name, not read as 16', () => {
    const v = new InputValidator();
    expect(v.check(spec, columns, row(0, { Feed: '12.5', Temp: '1e3' }), now)).toEqual({
      values: { Feed: 12.5, Temp: 1000 },
      issues: [],
    });
    const out = v.check(spec, columns, row(1, { Feed: '0x10', Temp: ' 0b11 ' }), now);
    expect(out.values).toEqual({ Feed: 12.5 });
    expect(out.issues).toEqual([
      {
        variable: 'Feed',
        value: '0x10',
        rule: 'not_a_number',
        detail: "'0x10' is not a decimal number",
        action: 'substituted',
        substitutedWith: 12.5,
        heldCycles: 1,
      },
      {
        variable: 'Temp',
        value: ' 0b11 ',
        rule: 'not_a_number',
        detail: "' 0b11 ' is not a decimal number",
        action: 'skipped',
      },
    ]);
    expect(out.skipReason).toBe(
      "bad input: Temp= 0b11  ' 0b11 ' is not a decimal number (not_a_number; critical variable)",
    );
  });

  it('records NaN and Infinity as what they are (never null), naming the variable', () => {
    const v = new InputValidator();
    v.check(spec, columns, row(0, { Feed: 10, Temp: 900 }), now);
    const out = v.check(spec, columns, row(1, { Feed: Number.NaN, Temp: 'Infinity' }), now);
    expect(out.issues.map((i) => [i.variable, i.value, i.detail, i.action])).toEqual([
      ['Feed', 'NaN', 'NaN is not a finite number', 'substituted'],
      ['Temp', 'Infinity', 'Infinity is not a finite number', 'skipped'],
    ]);
    // As stored (jsonb): the values survive JSON.
    expect(JSON.parse(JSON.stringify(out.issues)).map((i: { value: unknown }) => i.value)).toEqual([
      'NaN',
      'Infinity',
    ]);
    expect(out.skipReason).toContain('Temp=Infinity Infinity is not a finite number');
  });
});
