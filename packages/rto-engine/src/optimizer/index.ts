import { OptimizerError } from '../errors.ts';
import { AUTO_NAME, createAuto } from './auto.ts';
import { createDifferentialEvolution, DE_NAME } from './differential-evolution.ts';
import { createProjectedBfgs, PROJECTED_BFGS_NAME } from './projected-bfgs.ts';
import { createQuasiNewton, QUASI_NEWTON_NAME } from './projected-quasi-newton.ts';
import type { Optimizer } from './types.ts';

export type { AutoOptions } from './auto.ts';
export { AUTO_DEFAULTS, AUTO_NAME, createAuto } from './auto.ts';
export {
  createDifferentialEvolution,
  DE_DEFAULTS,
  DE_NAME,
  dePopulationSize,
} from './differential-evolution.ts';
export { validateProblem } from './problem.ts';
export { createProjectedBfgs, PROJECTED_BFGS_NAME } from './projected-bfgs.ts';
export type { QuasiNewtonOptions } from './projected-quasi-newton.ts';
export { createQuasiNewton, QUASI_NEWTON_DEFAULTS, QUASI_NEWTON_NAME } from './projected-quasi-newton.ts';
export type { BoundedProblem, Optimizer, OptimizerOptions, OptimizerResult } from './types.ts';

/** The optimizers by the names they are registered under. */
const factories: Record<string, () => Optimizer> = {
  [PROJECTED_BFGS_NAME]: () => createProjectedBfgs(),
  [QUASI_NEWTON_NAME]: () => createQuasiNewton(),
  [DE_NAME]: () => createDifferentialEvolution(),
  [AUTO_NAME]: () => createAuto(),
};

/**
 * Names predecessor strategies use, and the method that runs for them: with bounds only, SLSQP
 * and L-BFGS-B are what a projected quasi-Newton method does; `projected-bfgs` does it on exact
 * gradients (and falls back to `projected-quasi-newton` for a problem without them).
 */
const aliases: Record<string, string> = {
  SLSQP: PROJECTED_BFGS_NAME,
  'L-BFGS-B': PROJECTED_BFGS_NAME,
};

/** The names `createOptimizer` accepts (case-insensitive): the methods, then the aliases. */
export const optimizerNames: readonly string[] = [...Object.keys(factories), ...Object.keys(aliases)];

const byLowerCase = new Map(
  optimizerNames.map((name) => [name.toLowerCase(), aliases[name] ?? name] as const),
);

/** Whether a strategy may name this optimizer (`config.algorithm`, case-insensitive). */
export function isOptimizerName(name: string): boolean {
  return byLowerCase.has(String(name).toLowerCase());
}

/** The known names in words, for messages: `'projected-quasi-newton', 'DE', 'auto' (aliases 'SLSQP', 'L-BFGS-B')`. */
export function describeOptimizerNames(): string {
  const quote = (names: string[]) => names.map((n) => `'${n}'`).join(', ');
  return `${quote(Object.keys(factories))} (aliases ${quote(Object.keys(aliases))})`;
}

/** The optimizer a strategy names (a method or an alias); throws `OptimizerError` for an unknown name. */
export function createOptimizer(name: string): Optimizer {
  const method = byLowerCase.get(String(name).trim().toLowerCase());
  if (method === undefined) {
    throw new OptimizerError(
      `unknown optimizer '${name}'; use one of ${describeOptimizerNames()} (case-insensitive).`,
    );
  }
  return factories[method]!();
}
