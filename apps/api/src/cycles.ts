/** Runs cycles for the routes: the strategy, the time limit, the metrics and the last cycle. */
import type { CycleResult, PlantState } from '@po/rto-engine';
import { type ApiError, httpError, type StrategyOrigin, toApiError } from './errors.ts';
import type { ApiMetrics } from './metrics.ts';
import { optimizeGrace } from './middleware/request-limits.ts';
import type { CycleExecutor } from './pool/index.ts';
import type { CycleOutcome, LastCycle } from './schemas.ts';
import type { Deployed, RequestBundle, StrategyInput } from './strategy-sources.ts';

/** What a cycle route asks for. */
export interface CycleRequest {
  state: PlantState;
  /** A strategy sent in the request; the deployed one without it. */
  config?: StrategyInput | undefined;
  /** For `simulate`: decision variable -> value. */
  decisions?: Readonly<Record<string, number>> | undefined;
  /** The request's deadline (`timeLimit`); aborting it stops the cycle. */
  deadline?: AbortSignal | undefined;
}

/** The cycles the API runs. */
export interface Cycles {
  optimize(request: CycleRequest): Promise<CycleResult>;
  simulate(request: CycleRequest): Promise<CycleResult>;
  /** The last cycle run (for `/health`), or null before the first. */
  last(): LastCycle | null;
}

interface Limits {
  maxTimeMs: number;
  deadline: number;
  signal: AbortSignal;
}

export interface CyclesOptions {
  deployed: () => Promise<Deployed>;
  requestBundle: RequestBundle;
  executor: CycleExecutor;
  metrics: ApiMetrics;
  /** The time limit of one request, in ms (the optimizer's budget). */
  timeoutMs: number;
}

export function createCycles(options: CyclesOptions): Cycles {
  const { deployed, requestBundle, executor } = options;
  let last: LastCycle | null = null;
  const run = (
    mode: 'optimize' | 'simulate',
    origin: StrategyOrigin,
    request: CycleRequest,
    cycle: (limits: Limits) => Promise<CycleResult>,
  ) =>
    runCycle(mode, origin, request.deadline, cycle, options, (record) => {
      last = record;
    });

  return {
    optimize: (request) => {
      const { state, config } = request;
      return config
        ? run('optimize', 'request', request, async ({ maxTimeMs, deadline, signal }) =>
            executor.run(
              { kind: 'optimize', bundle: await requestBundle(config, signal), state, maxTimeMs, deadline },
              { signal },
            ),
          )
        : run('optimize', 'deployed', request, async ({ maxTimeMs, signal }) =>
            (await deployed()).strategy.optimize(state, { maxTimeMs, signal }),
          );
    },
    simulate: (request) => {
      const { state, config, decisions } = request;
      return config
        ? run('simulate', 'request', request, async ({ signal }) =>
            executor.run(
              {
                kind: 'simulate',
                bundle: await requestBundle(config, signal),
                state,
                ...(decisions ? { decisions } : {}),
              },
              { signal },
            ),
          )
        : run('simulate', 'deployed', request, async ({ signal }) =>
            (await deployed()).strategy.simulate(state, decisions, { signal }),
          );
    },
    last: () => last,
  };
}

/**
 * Runs one cycle with the time limit: the optimizer gets `timeoutMs` (and answers its best point
 * so far, flagged `timed_out`); a simulation is stopped at `timeoutMs`, an optimization that
 * overruns it by `optimizeGrace` (504). The request's `deadline` (the `timeLimit` middleware)
 * does the same for a request; without one (a direct call) the cycle keeps its own.
 * Records the metrics and the last cycle whatever happens.
 */
async function runCycle(
  mode: 'optimize' | 'simulate',
  origin: StrategyOrigin,
  deadline: AbortSignal | undefined,
  cycle: (limits: Limits) => Promise<CycleResult>,
  { timeoutMs, metrics }: CyclesOptions,
  record: (last: LastCycle) => void,
): Promise<CycleResult> {
  const started = performance.now();
  const controller = new AbortController();
  const stop = () => controller.abort(deadline?.reason);
  deadline?.addEventListener('abort', stop, { once: true });
  const timer = setTimeout(
    () => {
      controller.abort(
        httpError.timeout(
          `the ${mode} request overran its time limit of ${timeoutMs} ms and was stopped; retry, or raise api.request_timeout_ms (PO_REQUEST_TIMEOUT_MS)`,
        ),
      );
    },
    mode === 'optimize' ? timeoutMs + optimizeGrace(timeoutMs) : timeoutMs,
  );
  let outcome: CycleOutcome = 'error';
  let result: CycleResult | undefined;
  try {
    result = await cycle({
      maxTimeMs: timeoutMs,
      deadline: Date.now() + timeoutMs,
      signal: controller.signal,
    });
    outcome = result.optimizer.timed_out ? 'timed_out' : 'success';
    return result;
  } catch (e) {
    const mapped = controller.signal.aborted
      ? httpError.timeout(
          (controller.signal.reason as Error | undefined)?.message ?? 'the request was stopped',
        )
      : toApiError(e, origin);
    outcome = outcomeOf(mapped);
    // Hono only handles Error instances; anything else thrown becomes a plain 500.
    throw mapped ?? (e instanceof Error ? e : new Error(String(e)));
  } finally {
    clearTimeout(timer);
    deadline?.removeEventListener('abort', stop);
    const seconds = (performance.now() - started) / 1000;
    metrics.cycle(mode, outcome, seconds, result);
    record({
      at: new Date().toISOString(),
      mode,
      status: outcome,
      duration_ms: Math.round(seconds * 1000),
      config_version: result?.config_version ?? null,
      source: origin,
    });
  }
}

/** The metric label of a failed cycle, by the status it answers. */
function outcomeOf(error: ApiError | undefined): CycleOutcome {
  if (!error) return 'error';
  if (error.status === 504) return 'timeout';
  if (error.status === 503) return 'unavailable';
  if (error.status === 422) return 'failed';
  return 'invalid';
}
