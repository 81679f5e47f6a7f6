import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { aliasBomb, aliasedStrategy, nestedBrackets } from '@po/test-kit';
import { describe, expect, it } from 'vitest';
import { isLimitIssue, jsonNesting, strategyLimits, yamlNesting } from './limits.ts';
import { checkStrategy } from './validate.ts';

const predecessorYaml = readFileSync(
  fileURLToPath(new URL('../test/fixtures/compat/predecessor-strategy.yaml', import.meta.url)),
  'utf8',
);

describe('strategy limits', () => {
  it('accepts a strategy with 150 aliases, and refuses an alias bomb naming the limit', () => {
    const ok = checkStrategy(aliasedStrategy(150));
    expect(ok.errors).toEqual([]);
    const bomb = checkStrategy(aliasBomb(9));
    expect(bomb.strategy).toBeUndefined();
    expect(bomb.errors).toEqual([
      {
        path: '(yaml)',
        message: expect.stringMatching(/YAML aliases .* limit of 1000 .*PO_LIMIT_YAML_ALIASES/),
        code: 'LIMIT_EXCEEDED',
      },
    ]);
    // The bound is a setting: 150 aliases past a limit of 100 are refused the same way.
    expect(checkStrategy(aliasedStrategy(150), { limits: { maxAliases: 100 } }).errors[0]!.message).toMatch(
      /limit of 100/,
    );
  });

  it('refuses deep nesting before parsing: flow brackets and compact block entries', () => {
    const flow = nestedBrackets(300_000);
    const started = performance.now();
    const check = checkStrategy(flow);
    expect(check.errors).toEqual([
      {
        path: 'line 1',
        message: expect.stringMatching(/nesting depth 6\d is over the limit of 64 .*PO_LIMIT_NESTING/),
        code: 'LIMIT_EXCEEDED',
      },
    ]);
    expect(performance.now() - started).toBeLessThan(5_000); // a hang guard, not a timing claim
    expect(checkStrategy(`x:\n  ${'- '.repeat(100_000)}1\n`).errors[0]!.message).toMatch(/nesting depth/);
    expect(checkStrategy('a: 1\n'.repeat(10), { limits: { maxTextBytes: 10 } }).errors[0]!.message).toMatch(
      /strategy size \(bytes\) 50 is over the limit of 10/,
    );
  });

  it('counts nesting like a parser for real strategies', () => {
    expect(yamlNesting(predecessorYaml, 64).depth).toBeLessThan(10);
    expect(yamlNesting('a:\n  b:\n    c: [1, [2, {d: "[[["}]]\n', 64).depth).toBe(6);
    expect(jsonNesting('{"a": [1, {"b": "]]]["}]}', 64)).toBe(3);
    expect(jsonNesting('['.repeat(100_000), 64)).toBe(65);
  });

  it('refuses too many variables or skills, a long formula and unbounded optimizer options', () => {
    expect(checkStrategy(predecessorYaml).errors).toEqual([]);
    const few = strategyLimits({ maxVariables: 3, maxSkills: 2 });
    expect(checkStrategy(predecessorYaml, { limits: few }).errors.map((e) => e.path)).toEqual([
      'variables',
      'skills',
    ]);
    const long = aliasedStrategy(0).replace(
      'feed * 2',
      Array.from({ length: 30_000 }, () => 'feed').join(' + '),
    );
    const started = performance.now();
    expect(checkStrategy(long).errors).toEqual([
      {
        path: 'skills.mf.config.formula',
        message: expect.stringMatching(/formula length \(characters\) \d+ is over the limit of 10000/),
        code: 'LIMIT_EXCEEDED',
      },
    ]);
    expect(performance.now() - started).toBeLessThan(5_000); // a hang guard, not a timing claim
    const huge = predecessorYaml.replace(
      /algorithm: (\S+)/,
      'algorithm: $1\n      options: { population_size: 10000000, maxiter: 100000000, max_time_ms: 3600000 }',
    );
    expect(checkStrategy(huge).errors.every(isLimitIssue)).toBe(true);
    expect(checkStrategy(huge).errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/population_size 10000000 is over the limit of 1000/),
      expect.stringMatching(/maxiter 100000000 is over the limit of 10000/),
      expect.stringMatching(/max_time_ms 3600000 is over the limit of 60000/),
    ]);
  });

  it('tells a bound refused from a mistake by its code, not its words', () => {
    const mistake = checkStrategy(
      aliasedStrategy(0).replace(
        'skill_sequence: [mf]',
        'skill_sequence: [mf, "limits.nesting (PO_LIMIT_NESTING)"]',
      ),
    );
    // The mistake's message quotes the setting (the type it names), as a hostile text may.
    expect(mistake.errors.map((e) => e.message).join(' ')).toContain('limits.nesting (PO_LIMIT_NESTING)');
    expect(mistake.errors.some(isLimitIssue)).toBe(false);
    const refused = checkStrategy(aliasedStrategy(3), { limits: { maxVariables: 2 } });
    expect(refused.errors).toEqual([
      {
        path: 'variables',
        message: expect.stringMatching(/number of variables 5 is over the limit of 2 .*PO_LIMIT_VARIABLES/),
        code: 'LIMIT_EXCEEDED',
      },
    ]);
  });
});
