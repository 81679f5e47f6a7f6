/** Runs the built `po` binary as a child process (build first: `pnpm --filter @po/cli build`). */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'apps/cli/dist/bin.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function po(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: options.cwd ?? root, env: { ...process.env, NO_COLOR: '1', ...options.env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A long-running `po` child (a service, a feeder) and everything it wrote, stdout and stderr. */
export interface PoChild {
  name: string;
  child: ChildProcess;
  log: string;
}

/** Starts the built `po` with `args` in `cwd`, collecting its output in `log`. */
export function spawnPo(
  name: string,
  args: readonly string[],
  options: { cwd: string; env: Record<string, string> },
): PoChild {
  const c: PoChild = {
    name,
    child: spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
    }),
    log: '',
  };
  const collect = (b: Buffer) => {
    c.log += b.toString();
  };
  c.child.stdout!.on('data', collect);
  c.child.stderr!.on('data', collect);
  return c;
}

/**
 * Deploys the demo as `scripts/setup_and_run.sh` does, in `dir` (its local store): the models,
 * the strategy as 1.0.0, and the pointer. Throws with the CLI's output when a step fails.
 */
export async function deployDemo(dir: string): Promise<void> {
  const demo = join(root, 'config/demo');
  for (const args of [
    ['upload-models', '--data-dir', join(demo, 'models')],
    ['upload-config', '--config', join(demo, 'strategy.yaml'), '--version', '1.0.0'],
    ['deploy', '1.0.0'],
  ]) {
    const run = await po(args, { cwd: dir });
    if (run.code !== 0) throw new Error(`po ${args.join(' ')} exited ${run.code}:\n${run.stderr}`);
  }
}
