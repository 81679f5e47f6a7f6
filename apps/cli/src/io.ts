/** Where a command writes; the real process streams in `po`, buffers in tests. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether `out` is a terminal (colours, progress bars). */
  readonly isTTY: boolean;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
};

/** An error the user can fix; the CLI prints its message (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
