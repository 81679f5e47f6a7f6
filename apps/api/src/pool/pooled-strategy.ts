import type { CycleOptions, CycleResult, ModelValues, PlantState, StrategySpec } from '@po/rto-engine';
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
  /**
   * `optimize` calls without a budget (`maxTimeMs`) gathered into one `optimizeEach` task, up to
   * this many: those made before the event loop turns go together (a replay's many rows, whose
   * cycles cost little more than the messages). Each answers on its own; a call whose signal
   * aborted rejects (ABORTED) when its task answers, and its result is dropped. Default 1: a task per call.
   */
  cyclesPerTask?: number;
}

/** An `optimize` call waiting for its `optimizeEach` task. */
interface GatheredCycle {
  cycle: { state: PlantState; modelBias?: Readonly<Record<string, number>> };
  resolve: (result: CycleResult) => void;
  reject: (error: unknown) => void;
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
  const gather = gatherCycles(executor, bundle, omit, Math.max(1, options.cyclesPerTask ?? 1));
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
      if (gather && options.maxTimeMs === undefined) return gather(state, options);
      return executor.run(
        {
          kind: 'optimize',
          bundle,
          state,
          ...omit,
          ...(options.maxTimeMs !== undefined ? { maxTimeMs: options.maxTimeMs } : {}),
          ...(options.modelBias ? { modelBias: options.modelBias } : {}),
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

/**
 * `optimize` through `optimizeEach` tasks of up to `size` cycles (undefined when `size` is 1):
 * calls gather until `size` wait or the event loop turns.
 */
function gatherCycles(
  executor: CycleExecutor,
  bundle: StrategyBundle,
  omit: { omit?: readonly OmittedResultMap[] },
  size: number,
): ((state: PlantState, options: CycleOptions) => Promise<CycleResult>) | undefined {
  if (size <= 1) return undefined;
  let waiting: GatheredCycle[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const send = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    const part = waiting;
    waiting = [];
    executor.run({ kind: 'optimizeEach', bundle, cycles: part.map((g) => g.cycle), ...omit }).then(
      (outcomes) =>
        part.forEach((g, i) => {
          const o = outcomes[i]!;
          if (o.ok) g.resolve(o.result);
          else g.reject(new CycleTaskError(o.error));
        }),
      // The task itself failed (a worker lost): each call fails as its own task would.
      (error: unknown) => {
        for (const g of part) g.reject(error);
      },
    );
  };
  return (state, options) =>
    new Promise<CycleResult>((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) return reject(abortedError());
      waiting.push({
        cycle: { state, ...(options.modelBias ? { modelBias: options.modelBias } : {}) },
        // No listener per call (a replay passes one signal to every cycle): checked on the answer.
        resolve: (result) => (signal?.aborted ? reject(abortedError()) : resolve(result)),
        reject,
      });
      if (waiting.length >= size) send();
      else scheduled ??= setImmediate(send);
    });
}

function abortedError(): CycleTaskError {
  return new CycleTaskError({ name: 'AbortError', code: 'ABORTED', message: 'the task was aborted' });
}
