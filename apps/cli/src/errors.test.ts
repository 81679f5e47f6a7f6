import { describe, expect, it } from 'vitest';
import { escapeControl } from './errors.ts';
import type { Output } from './io.ts';
import { main } from './main.ts';

describe('CLI messages with control characters', () => {
  it('escapes a NUL (and other control characters) echoed from a path, keeping one line', async () => {
    // In process: an argument with a NUL cannot be passed to a child process (exec refuses it).
    const err: string[] = [];
    const output: Output = { out: () => {}, err: (t) => err.push(t), isTTY: false };
    const code = await main(['validate', 'plant\u0000\u001b[2J.yaml'], output);
    expect(code).toBe(1);
    expect(err.join('')).toContain('plant\\0\\x1b[2J.yaml');
    expect(err.join('')).not.toContain('\u0000');
    expect(err.join('')).not.toContain('\u001b');
  });

  it('keeps line breaks and tabs, escapes C1 controls', () => {
    expect(escapeControl('a\n\tb\u009bc\u007f')).toBe('a\n\tb\\u009bc\\x7f');
  });
});
