/**
 * Polls `check` until it returns something other than `false`, `undefined` or `null`, and
 * returns that; rejects naming `what` after `timeoutMs`. For conditions a test cannot await
 * directly (a child process's output, a runner's status).
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<Exclude<T, false | undefined | null>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== false && value !== undefined && value !== null) {
      return value as Exclude<T, false | undefined | null>;
    }
    if (Date.now() >= until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
