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
