/**
 * Strategy texts that probe the bounds on what a request may make po do (`limits.*`): many
 * legitimate aliases, the billion laughs, and brackets nested past any parser's stack.
 */

/** A valid strategy whose `count` Informative variables share one aliased unit (`count` aliases). */
export function aliasedStrategy(count: number): string {
  const lines = ['variables:', '  feed: { type: Operative, threshold: 1, units: &u t/h }'];
  for (let i = 0; i < count; i++) lines.push(`  info_${i}: { type: Informative, units: *u }`);
  lines.push(
    '  out: { type: Calculated }',
    'skills:',
    '  mf: { class: MathFunction, inputs: [feed], outputs: [out], config: { formula: "feed * 2" } }',
    'tasks:',
    '  - { name: t, skill_sequence: [mf] }',
  );
  return `${lines.join('\n')}\n`;
}

/** The billion laughs: each of `levels` levels refers to the one below ten times. */
export function aliasBomb(levels = 9): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= levels; i++) {
    lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

/** `depth` opening brackets then as many closing ones (300k: the ~600 KB body of issue 9). */
export function nestedBrackets(depth = 300_000): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}
