import { describeError, isPoError } from '@po/core';
import { PoError as EnginePoError } from '@po/rto-engine';
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
 * Error bases that do not extend @po/core's `PoError` yet. Each package moves its base onto
 * `PoError` (issue 8); until then they are what they will be: problems with the user's files,
 * data or services. Delete each entry once its class extends `PoError`.
 */
const NOT_YET_PO_ERRORS: readonly (abstract new (...args: never[]) => Error)[] = [EnginePoError];

/** A po error: a problem with a strategy, a model, a setting, a store or a database, named by its message. */
function isProblem(error: unknown): boolean {
  return isPoError(error) || NOT_YET_PO_ERRORS.some((base) => error instanceof base);
}

/**
 * The one place a thrown value becomes an exit code: 0 for `--help`/`--version`, 2 for wrong
 * usage, 1 for a po error (a problem with the user's files, data or services), 70 for anything
 * else (a bug).
 */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof CliError) return error.exitCode;
  return isProblem(error) ? 1 : 70;
}

/**
 * What the user is told about a thrown value: the message of a po error (which names the object
 * and the fix), the stack of anything else. Undefined when there is nothing to add (commander
 * has printed its usage error already).
 */
export function errorReport(error: unknown): string | undefined {
  if (error instanceof CommanderError) return undefined;
  if (error instanceof CliError) return error.message || undefined;
  if (isProblem(error)) return describeError(error);
  return `[po] unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
}
