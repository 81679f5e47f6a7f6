/**
 * The pool's worker: compiles strategies from bundles (cached per bundle, LRU) and runs
 * cycles. It answers with plain data and never throws, so error codes and issues survive
 * the thread boundary.
 */
import { workerData } from 'node:worker_threads';
import { createModelProvider, guardOnnxRuntimeCalls } from '@po/models';
import {
  type CompiledStrategy,
  type CycleResult,
  checkStrategy,
  checkStrategyText,
  compileStrategy,
  type StrategyLimits,
  strategyLimits,
} from '@po/rto-engine';
import { LRUCache } from 'lru-cache';
import { type StrategyBundle, strategyFilePaths } from './bundle.ts';
import {
  type CycleTask,
  type EachOutcome,
  type Evaluation,
  type EvaluationOutcome,
  GATE_CLOSED,
  NOT_COMPILED,
  type PooledTask,
  type StrategyDescription,
  serializeError,
  type TaskOutcome,
  type ValidationReport,
} from './protocol.ts';

/** What the pool passes to each worker. */
export interface CycleWorkerData {
  /** Compiled strategies kept per worker (least recently used goes first). */
  compiledCacheSize: number;
  /** Bounds on the strategies checked and compiled here. */
  limits: Partial<StrategyLimits>;
}

const settings: CycleWorkerData = {
  compiledCacheSize: 4,
  limits: {},
  ...((workerData as Partial<CycleWorkerData> | undefined) ?? {}),
};
const limits = strategyLimits(settings.limits);

/** The gate of the task running on this thread (see `PooledTask`). */
let gate: Int32Array | undefined;

guardOnnxRuntimeCalls(async (call) => {
  const held = gate;
  if (held !== undefined) {
    for (;;) {
      const inFlight = Atomics.load(held, 0);
      if (inFlight === GATE_CLOSED) {
        throw Object.assign(new Error('the task was stopped by the pool'), { code: 'ABORTED' });
      }
      if (Atomics.compareExchange(held, 0, inFlight, inFlight + 1) === inFlight) break;
    }
  }
  try {
    return await call();
  } finally {
    if (held !== undefined) Atomics.sub(held, 0, 1);
  }
});

/** Compiled strategies by bundle key and version; the least recently used is disposed first. */
const compiled = new LRUCache<string, Promise<CompiledStrategy>>({
  max: Math.max(1, settings.compiledCacheSize),
  dispose(evicted, _key, reason) {
    if (reason === 'evict') evicted.then((s) => s.dispose()).catch(() => {});
  },
});

function bundleReader(bundle: StrategyBundle) {
  return async (path: string): Promise<Uint8Array> => {
    const bytes = bundle.files[path];
    if (!bytes) {
      throw new Error(
        `file '${path}' is not in the models folder the API reads; put it there or correct the path in the strategy`,
      );
    }
    // A plain copy: the bundle may be shared memory, which native code should not hold on to.
    return new Uint8Array(bytes);
  };
}

/** Thrown for a `keyOnly` task whose bundle is not compiled here: the pool posts it again in full. */
class NotCompiledError extends Error {
  readonly code = NOT_COMPILED;
}

async function strategyFor(
  bundle: StrategyBundle,
  keyOnly = false,
): Promise<{ strategy: CompiledStrategy; cached: boolean }> {
  const key = `${bundle.key}\0${bundle.version ?? ''}`;
  const hit = compiled.get(key);
  if (hit) return { strategy: await hit, cached: true };
  if (keyOnly) throw new NotCompiledError('the worker has not compiled this bundle');
  const pending = compileStrategy(bundle.text, {
    limits,
    modelProvider: createModelProvider({ readFile: bundleReader(bundle) }),
    ...(bundle.version ? { version: bundle.version } : {}),
  });
  compiled.set(key, pending);
  // A strategy that does not compile is not kept.
  pending.catch(() => {
    if (compiled.peek(key) === pending) compiled.delete(key);
  });
  return { strategy: await pending, cached: false };
}

/** The optimizer's budget: the request's, less the time spent waiting for a worker (at least 1 ms). */
function budget(maxTimeMs: number | undefined, deadline: number | undefined): number | undefined {
  const limits = [maxTimeMs, deadline === undefined ? undefined : deadline - Date.now()].filter(
    (t): t is number => t !== undefined,
  );
  return limits.length === 0 ? undefined : Math.max(1, Math.min(...limits));
}

async function validate(bundle: StrategyBundle, models: boolean): Promise<ValidationReport> {
  const check = checkStrategy(bundle.text, { limits });
  if (!check.strategy || !models)
    return { valid: check.strategy !== undefined, errors: check.errors, warnings: check.warnings };
  try {
    const { strategy } = await strategyFor(bundle);
    return { valid: true, errors: [], warnings: [...strategy.warnings] };
  } catch (e) {
    const error = serializeError(e);
    if (!error.issues) throw e;
    return { valid: false, errors: error.issues, warnings: check.warnings };
  }
}

function describe(strategy: CompiledStrategy): StrategyDescription {
  return {
    version: strategy.version,
    spec: strategy.spec,
    warnings: [...strategy.warnings],
    decisionVariables: [...strategy.decisionVariables],
    modelFiles: strategy.modelFiles.map((f) => ({
      skill: f.skill,
      role: f.role,
      path: f.path,
      sha256: f.sha256,
    })),
  };
}

async function evaluate(
  strategy: CompiledStrategy,
  evaluations: readonly Evaluation[],
  names: readonly string[],
): Promise<EvaluationOutcome[]> {
  const outcomes: EvaluationOutcome[] = [];
  for (const e of evaluations) {
    try {
      const result = await strategy.modelValues(
        e.state,
        names,
        e.mode === 'monitor' ? undefined : e.decisions,
      );
      outcomes.push({ ok: true, result });
    } catch (error) {
      outcomes.push({ ok: false, error: serializeError(error) });
    }
  }
  return outcomes;
}

async function optimizeEach(
  strategy: CompiledStrategy,
  task: Extract<CycleTask, { kind: 'optimizeEach' }>,
): Promise<EachOutcome<CycleResult>[]> {
  const outcomes: EachOutcome<CycleResult>[] = [];
  for (const cycle of task.cycles) {
    try {
      const result = await strategy.optimize(
        cycle.state,
        cycle.modelBias ? { modelBias: cycle.modelBias } : {},
      );
      for (const map of task.omit ?? []) result[map] = {};
      outcomes.push({ ok: true, result });
    } catch (error) {
      outcomes.push({ ok: false, error: serializeError(error) });
    }
  }
  return outcomes;
}

/** Runs one task. Piscina calls this with the task posted by the pool. */
export default async function runPooledTask({
  task,
  gate: shared,
  keyOnly,
}: PooledTask): Promise<TaskOutcome> {
  gate = new Int32Array(shared);
  try {
    return await runTask(task, keyOnly === true);
  } finally {
    gate = undefined;
  }
}

async function runTask(task: CycleTask, keyOnly: boolean): Promise<TaskOutcome> {
  try {
    if (task.kind === 'validate')
      return { ok: true, result: await validate(task.bundle, task.models !== false), compiled: 'compiled' };
    if (task.kind === 'files') {
      // A text past the bounds names no file; compiling it reports why.
      const paths =
        checkStrategyText(task.text, limits).length > 0
          ? []
          : strategyFilePaths(task.text, limits.maxAliases);
      return { ok: true, result: paths, compiled: 'compiled' };
    }
    const { strategy, cached } = await strategyFor(task.bundle, keyOnly);
    const compiledHow = cached ? 'cached' : 'compiled';
    switch (task.kind) {
      case 'describe':
        return { ok: true, result: describe(strategy), compiled: compiledHow };
      case 'optimize': {
        // Past the deadline the optimizer still answers (its first point, flagged timed_out);
        // the caller aborts tasks that overrun by a margin.
        const maxTimeMs = budget(task.maxTimeMs, task.deadline);
        const result = await strategy.optimize(task.state, {
          ...(maxTimeMs === undefined ? {} : { maxTimeMs }),
          ...(task.modelBias ? { modelBias: task.modelBias } : {}),
        });
        for (const map of task.omit ?? []) result[map] = {};
        return { ok: true, result, compiled: compiledHow };
      }
      case 'optimizeEach':
        return { ok: true, result: await optimizeEach(strategy, task), compiled: compiledHow };
      case 'simulate':
        return {
          ok: true,
          result: await strategy.simulate(task.state, task.decisions),
          compiled: compiledHow,
        };
      case 'monitor':
        return { ok: true, result: await strategy.monitor(task.state), compiled: compiledHow };
      case 'evaluate':
        return {
          ok: true,
          result: await evaluate(strategy, task.evaluations, task.names),
          compiled: compiledHow,
        };
    }
  } catch (e) {
    return { ok: false, error: serializeError(e) };
  }
}
