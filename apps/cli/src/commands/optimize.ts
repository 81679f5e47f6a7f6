import type { CycleResult } from '@po/rto-engine';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import type { StoreFlags } from './context.ts';
import { formatResult } from './format.ts';
import { loadStrategy, readPlantState } from './load.ts';

interface CycleCommandOptions extends StoreFlags {
  config?: string;
  modelsDir?: string;
  input: string;
  versionLabel?: string;
  json?: boolean;
}

export async function runOptimize(
  opts: CycleCommandOptions & { maxTimeMs?: number },
  output: Output,
): Promise<void> {
  const state = await readPlantState(opts.input);
  const strategy = await loadStrategy(opts);
  try {
    const result = await strategy.optimize(state, opts.maxTimeMs ? { maxTimeMs: opts.maxTimeMs } : {});
    print(result, opts, output);
  } finally {
    await strategy.dispose();
  }
}

export async function runSimulate(
  opts: CycleCommandOptions & { set: string[] },
  output: Output,
): Promise<void> {
  const decisions: Record<string, number> = {};
  for (const assignment of opts.set) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(assignment);
    const value = m ? Number(m[2]) : Number.NaN;
    if (!m || !Number.isFinite(value)) {
      throw new CliError(`[po] --set expects VAR=NUMBER, got '${assignment}'`, 2);
    }
    decisions[m[1]!] = value;
  }
  const state = await readPlantState(opts.input);
  const strategy = await loadStrategy(opts);
  try {
    print(await strategy.simulate(state, decisions), opts, output);
  } finally {
    await strategy.dispose();
  }
}

function print(result: CycleResult, opts: { json?: boolean }, output: Output): void {
  output.out(opts.json ? JSON.stringify(result, null, 2) : formatResult(result, output.isTTY));
}
