import { availableParallelism } from 'node:os';
import { errorCode } from '@po/core';
import type { StrategyLimits } from '@po/rto-engine';
import { Piscina } from 'piscina';
import type { PoolStats } from '../schemas.ts';
import type { StrategyBundle } from './bundle.ts';
import {
  type CycleTask,
  CycleTaskError,
  GATE_CLOSED,
  NOT_COMPILED,
  type PooledTask,
  type TaskOutcome,
  type TaskResults,
} from './protocol.ts';
import type { CycleWorkerData } from './worker.ts';

/** Options of one `run`. */
export interface RunOptions {
  /** Aborts the task: a queued task is dropped, a running one ends its worker (which is replaced). */
  signal?: AbortSignal;
}

/**
 * Runs CPU-bound strategy work off the calling thread. Implementations must be safe to call
 * concurrently; results and errors are plain data (`CycleTaskError` carries code and issues).
 */
export interface CycleExecutor {
  run<K extends CycleTask['kind']>(
    task: Extract<CycleTask, { kind: K }>,
    options?: RunOptions,
  ): Promise<TaskResults[K]>;
  /** Load figures for health and metrics. */
  stats(): PoolStats;
}

export type { PoolStats };

/** Options of `createCyclePool`. */
export interface CyclePoolOptions {
  /** Worker threads. Default: available CPUs - 1 (at least 1). */
  threads?: number;
  /** Ms an idle worker above `minThreads` lives. Default 60 s. */
  idleTimeout?: number;
  /** Workers kept alive (and warm) even when idle. Default `threads`. */
  minThreads?: number;
  /** Tasks allowed to wait for a worker; past it `run` rejects with `POOL_BUSY`. Default: unbounded. */
  maxQueue?: number;
  /** Compiled strategies each worker keeps. Default 4. */
  compiledCacheSize?: number;
  /** Bounds on the strategies the workers check and compile (default: `DEFAULT_STRATEGY_LIMITS`). */
  limits?: Partial<StrategyLimits>;
  /**
   * Heap of one worker, in MiB: a task that needs more ends its worker (`WORKER_MEMORY`), which
   * is replaced, instead of exhausting the process. Default: Node's.
   */
  workerMemoryMb?: number;
  /**
   * The worker module. Default: `worker.js` next to the built bundle, or the TypeScript worker
   * (through tsx) when running from sources. An app that bundles @po/api must ship the worker and
   * point here.
   */
  workerFile?: string | URL;
}

/** A maintained worker-thread pool that compiles and runs strategies (shared by the API and the runner). */
export interface CyclePool extends CycleExecutor {
  /** Compiles the bundle in every worker, so the first requests do not pay for it. */
  warm(bundle: StrategyBundle): Promise<void>;
  /** Waits for running tasks and stops the workers. */
  close(): Promise<void>;
}

/** The worker file for how this module is loaded: sources (tsx/vitest) or the built bundle. */
function defaultWorkerFile(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('./worker-loader.mjs', import.meta.url)
    : new URL('./worker.js', import.meta.url);
}

/** Creates the pool. Workers compile lazily; call `warm` to compile a deployed strategy ahead. */
export function createCyclePool(options: CyclePoolOptions = {}): CyclePool {
  const threads = Math.max(1, options.threads ?? Math.max(1, availableParallelism() - 1));
  const workerData: CycleWorkerData = {
    compiledCacheSize: options.compiledCacheSize ?? 4,
    limits: options.limits ?? {},
  };
  const piscina = new Piscina({
    filename: String(options.workerFile ?? defaultWorkerFile()),
    minThreads: Math.min(threads, options.minThreads ?? threads),
    maxThreads: threads,
    idleTimeout: options.idleTimeout ?? 60_000,
    // One cycle at a time per worker: a cycle is CPU-bound from start to end.
    concurrentTasksPerWorker: 1,
    ...(options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {}),
    ...(options.workerMemoryMb !== undefined
      ? { resourceLimits: { maxOldGenerationSizeMb: options.workerMemoryMb } }
      : {}),
    workerData,
  });
  let closed = false;
  let inFlight = 0;

  const run = async <K extends CycleTask['kind']>(
    task: Extract<CycleTask, { kind: K }>,
    runOptions: RunOptions = {},
  ): Promise<TaskResults[K]> => {
    if (closed)
      throw new CycleTaskError({ name: 'PoolError', code: 'POOL_CLOSED', message: 'the pool is closed' });
    const { signal } = runOptions;
    if (signal?.aborted) throw poolError(signal.reason, signal);
    // A task that runs a compiled strategy goes with its bundle's key alone first; a worker
    // that has not compiled that bundle says so, and the task goes again in full.
    let outcome = keyOnlyKinds.has(task.kind)
      ? await post({ ...task, bundle: keyOf((task as { bundle: StrategyBundle }).bundle) }, signal, true)
      : undefined;
    if (!outcome || (!outcome.ok && outcome.error.code === NOT_COMPILED)) outcome = await post(task, signal);
    if (!outcome.ok) throw new CycleTaskError(outcome.error);
    return outcome.result as TaskResults[K];
  };

  const post = async (task: CycleTask, signal: AbortSignal | undefined, keyOnly = false) => {
    if (signal?.aborted) throw poolError(signal.reason, signal);
    const pooled: PooledTask = {
      task,
      gate: new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT),
      ...(keyOnly ? { keyOnly } : {}),
    };
    // The caller's abort answers at once; the worker is ended (piscina terminates it) only
    // once its gate is closed, never inside an ONNX Runtime call.
    const end = new AbortController();
    inFlight++;
    const running = (piscina.run(pooled, { signal: end.signal }) as Promise<TaskOutcome>).finally(() => {
      inFlight--;
    });
    try {
      return signal ? await untilAborted(running, signal, () => endWorker(pooled.gate, end)) : await running;
    } catch (e) {
      throw poolError(e, signal);
    }
  };

  return {
    run,
    stats(): PoolStats {
      return {
        threads,
        queued: piscina.queueSize,
        running: Math.max(0, inFlight - piscina.queueSize),
        completed: piscina.completed,
        utilization: piscina.utilization,
      };
    },
    async warm(bundle) {
      // One describe per worker: with one task per worker at a time, `threads` concurrent
      // tasks land on distinct workers.
      await Promise.all(Array.from({ length: threads }, () => run({ kind: 'describe', bundle })));
    },
    async close() {
      if (closed) return;
      closed = true;
      await piscina.close();
    },
  };
}

/** The task kinds that only run a compiled strategy (`describe` and `validate` compile). */
const keyOnlyKinds = new Set<CycleTask['kind']>([
  'optimize',
  'optimizeEach',
  'simulate',
  'monitor',
  'evaluate',
]);

/** A bundle's identity alone: what a worker finds its compiled strategy by. */
function keyOf(bundle: StrategyBundle): StrategyBundle {
  return { key: bundle.key, text: '', files: {}, version: bundle.version ?? null };
}

/** `running`, or a rejection as soon as `signal` aborts (then `onAbort` runs, once). */
function untilAborted<T>(running: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      reject(signal.reason);
      onAbort();
    };
    signal.addEventListener('abort', abort, { once: true });
    running.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** How often a worker inside a native call is asked again to stop, in ms. */
const GATE_POLL_MS = 1;

/**
 * Closes a task's gate as soon as no ONNX Runtime call is in flight, then ends the task (its
 * worker is terminated and replaced). A native call runs to its end first: ending the thread
 * inside one would abort the process. The task's own answer, when it comes, is dropped.
 */
function endWorker(shared: SharedArrayBuffer, end: AbortController): void {
  const gate = new Int32Array(shared);
  const attempt = () => {
    const inFlight = Atomics.compareExchange(gate, 0, 0, GATE_CLOSED);
    if (inFlight === 0 || inFlight === GATE_CLOSED) end.abort();
    else setTimeout(attempt, GATE_POLL_MS);
  };
  attempt();
}

function poolError(e: unknown, signal: AbortSignal | undefined): CycleTaskError {
  if (signal?.aborted) {
    const reason = signal.reason;
    const timedOut =
      reason instanceof Error && (reason.name === 'TimeoutError' || errorCode(reason) === 'TIMEOUT');
    return new CycleTaskError(
      timedOut
        ? { name: 'TimeoutError', code: 'TIMEOUT', message: reason.message }
        : { name: 'AbortError', code: 'ABORTED', message: 'the task was aborted' },
      { cause: e },
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  if (errorCode(e) === 'ERR_WORKER_OUT_OF_MEMORY') {
    return new CycleTaskError(
      {
        name: 'PoolError',
        code: 'WORKER_MEMORY',
        message:
          'the request needed more memory than a worker may use (limits.worker_memory_mb, PO_LIMIT_WORKER_MEMORY_MB); the worker was replaced. Send a smaller strategy or smaller optimizer options',
      },
      { cause: e },
    );
  }
  if (/queue is at limit/i.test(message)) {
    return new CycleTaskError(
      {
        name: 'PoolError',
        code: 'POOL_BUSY',
        message: 'every worker is busy and the queue is full; retry later',
      },
      { cause: e },
    );
  }
  return new CycleTaskError(
    { name: 'PoolError', code: 'INTERNAL', message: `worker failed: ${message}` },
    { cause: e },
  );
}
