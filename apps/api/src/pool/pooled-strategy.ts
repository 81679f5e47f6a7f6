import type { CycleOptions, ModelValues, PlantState, StrategySpec } from '@po/rto-engine';
import type { ModelEvaluation } from '@po/runner';
import type { RunnableStrategy } from '../types.ts';
import type { StrategyBundle } from './bundle.ts';
import type { CycleExecutor } from './pool.ts';
import { CycleTaskError, type OmittedResultMap } from './protocol.ts';

/** A `RunnableStrategy` whose cycles run in the pool; `bundle` is what it was compiled from. */
export interface PooledStrategy extends RunnableStrategy {
  readonly version: string | null;
  readonly bundle: StrategyBundle;
  /** Several evaluations in one pool task (`evaluate`), reduced to `names`' values, each settled on its own. */
  evaluateMany(
    evaluations: readonly ModelEvaluation[],
    names: readonly string[],
  ): Promise<PromiseSettledResult<ModelValues>[]>;
}

/** Options of `pooledStrategy`. */
export interface PooledStrategyOptions {
  /** Maps of `optimize`'s results answered empty, for a caller that never reads them (a replay). */
  omit?: readonly OmittedResultMap[];
}

/**
 * Compiles the bundle in a worker (which keeps it) and returns a strategy that runs every
 * cycle in the pool. Rejects with a `CycleTaskError` (`STRATEGY_INVALID` with every issue)
 * when the bundle does not compile.
 */
export async function pooledStrategy(
  executor: CycleExecutor,
  bundle: StrategyBundle,
  options: PooledStrategyOptions = {},
): Promise<PooledStrategy> {
  const omit = options.omit?.length ? { omit: options.omit } : {};
  const described = await executor.run({ kind: 'describe', bundle });
  const deadline = (ms: number | undefined) => (ms === undefined ? {} : { deadline: Date.now() + ms });
  return {
    version: described.version,
    bundle,
    spec: described.spec as StrategySpec,
    warnings: described.warnings,
    decisionVariables: described.decisionVariables,
    modelFiles: described.modelFiles as RunnableStrategy['modelFiles'],
    optimize(state: PlantState, options: CycleOptions = {}) {
      return executor.run(
        {
          kind: 'optimize',
          bundle,
          state,
          ...omit,
          ...(options.maxTimeMs !== undefined ? { maxTimeMs: options.maxTimeMs } : {}),
          ...deadline(options.maxTimeMs),
        },
        options.signal ? { signal: options.signal } : {},
      );
    },
    simulate(state: PlantState, decisions?: Readonly<Record<string, number>>, options = {}) {
      const { signal } = options as { signal?: AbortSignal };
      return executor.run(
        { kind: 'simulate', bundle, state, ...(decisions ? { decisions } : {}) },
        signal ? { signal } : {},
      );
    },
    monitor(state: PlantState) {
      return executor.run({ kind: 'monitor', bundle, state });
    },
    async evaluateMany(evaluations: readonly ModelEvaluation[], names: readonly string[]) {
      const outcomes = await executor.run({ kind: 'evaluate', bundle, evaluations, names });
      return outcomes.map(
        (o): PromiseSettledResult<ModelValues> =>
          o.ok
            ? { status: 'fulfilled', value: o.result }
            : { status: 'rejected', reason: new CycleTaskError(o.error) },
      );
    },
  };
}
