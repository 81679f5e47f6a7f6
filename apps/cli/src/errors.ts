import { describeError, isPoError } from '@po/core';
import { CommanderError } from 'commander';

/**
 * A problem the CLI itself finds (a flag, a file the user named): printed without a stack, exit
 * `exitCode` (1 by default, 2 for wrong usage).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * The one place a thrown value becomes an exit code: 0 for `--help`/`--version`, 2 for wrong
 * usage, 1 for a po error (a problem with the user's files, data or services), 70 for anything
 * else (a bug).
 */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof CliError) return error.exitCode;
  return isPoError(error) ? 1 : 70;
}

/**
 * What the user is told about a thrown value: the message of a po error (which names the object
 * and the fix), the stack of anything else. Undefined when there is nothing to add (commander
 * has printed its usage error already).
 */
export function errorReport(error: unknown): string | undefined {
  if (error instanceof CommanderError) return undefined;
  if (error instanceof CliError) return escapeControl(error.message) || undefined;
  if (isPoError(error)) return escapeControl(describeError(error));
  return escapeControl(
    `[po] unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
}

/**
 * Control characters a message may echo from a name the user gave (a NUL in a path), escaped
 * (`\0`, `\x1b`, `\u009b`) so that they neither cut the line nor drive the terminal; line breaks and tabs stay.
 */
export function escapeControl(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const code = c.charCodeAt(0);
    if (code === 0) return '\\0';
    return code < 0x80
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
