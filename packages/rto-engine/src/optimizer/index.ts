import { OptimizerError } from '../errors.ts';
import { AUTO_NAME, createAuto } from './auto.ts';
import { createDifferentialEvolution, DE_NAME } from './differential-evolution.ts';
import { createSlsqp, SLSQP_NAME } from './slsqp.ts';
import type { Optimizer } from './types.ts';

export type { AutoOptions } from './auto.ts';
export { AUTO_DEFAULTS, AUTO_NAME, createAuto } from './auto.ts';
export {
  createDifferentialEvolution,
  DE_DEFAULTS,
  DE_NAME,
  dePopulationSize,
} from './differential-evolution.ts';
export { mulberry32, validateProblem } from './problem.ts';
export type { SlsqpOptions } from './slsqp.ts';
export { createSlsqp, SLSQP_DEFAULTS, SLSQP_NAME } from './slsqp.ts';
export type { BoundedProblem, Optimizer, OptimizerOptions, OptimizerResult } from './types.ts';

const factories: Record<string, () => Optimizer> = {
  slsqp: () => createSlsqp(),
  // Bounded quasi-Newton is what L-BFGS-B names too; strategies may use either name.
  'l-bfgs-b': () => createSlsqp(),
  de: () => createDifferentialEvolution(),
  auto: () => createAuto(),
};

/** The names `createOptimizer` accepts (case-insensitive). */
export const optimizerNames: readonly string[] = [SLSQP_NAME, 'L-BFGS-B', DE_NAME, AUTO_NAME];

/** The optimizer a strategy names; throws `OptimizerError` for an unknown name. */
export function createOptimizer(name: string): Optimizer {
  const factory = factories[String(name).trim().toLowerCase()];
  if (!factory) {
    throw new OptimizerError(
      `unknown optimizer '${name}'; use one of ${optimizerNames.map((n) => `'${n}'`).join(', ')} (case-insensitive).`,
    );
  }
  return factory();
}
