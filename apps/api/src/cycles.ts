/** Runs cycles for the routes: the strategy, the time limit, the metrics and the last cycle. */
import type { CycleResult, PlantState } from '@po/rto-engine';
import { type ApiError, httpError, type StrategyOrigin, toApiError } from './errors.ts';
import type { ApiMetrics } from './metrics.ts';
import type { CycleExecutor, StrategyBundle } from './pool/index.ts';
import type { CycleOutcome, LastCycle } from './schemas.ts';
import type { Deployed, StrategyInput } from './strategy-sources.ts';

/** What a cycle route asks for. */
export interface CycleRequest {
  state: PlantState;
  /** A strategy sent in the request; the deployed one without it. */
  config?: StrategyInput | undefined;
  /** For `simulate`: decision variable -> value. */
  decisions?: Readonly<Record<string, number>> | undefined;
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
  requestBundle: (config: StrategyInput) => Promise<StrategyBundle>;
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
    cycle: (limits: Limits) => Promise<CycleResult>,
  ) =>
    runCycle(mode, origin, cycle, options, (record) => {
      last = record;
    });

  return {
    optimize: ({ state, config }) =>
      config
        ? run('optimize', 'request', async ({ maxTimeMs, deadline, signal }) =>
            executor.run(
              { kind: 'optimize', bundle: await requestBundle(config), state, maxTimeMs, deadline },
              { signal },
            ),
          )
        : run('optimize', 'deployed', async ({ maxTimeMs, signal }) =>
            (await deployed()).strategy.optimize(state, { maxTimeMs, signal }),
          ),
    simulate: ({ state, config, decisions }) =>
      config
        ? run('simulate', 'request', async ({ signal }) =>
            executor.run(
              {
                kind: 'simulate',
                bundle: await requestBundle(config),
                state,
                ...(decisions ? { decisions } : {}),
              },
              { signal },
            ),
          )
        : run('simulate', 'deployed', async () => (await deployed()).strategy.simulate(state, decisions)),
    last: () => last,
  };
}

/**
 * Runs one cycle with the time limit: the optimizer gets `timeoutMs` (and answers its best point
 * so far, flagged `timed_out`); a cycle that overruns it by `max(1 s, 50 %)` is aborted (504).
 * Records the metrics and the last cycle whatever happens.
 */
async function runCycle(
  mode: 'optimize' | 'simulate',
  origin: StrategyOrigin,
  cycle: (limits: Limits) => Promise<CycleResult>,
  { timeoutMs, metrics }: CyclesOptions,
  record: (last: LastCycle) => void,
): Promise<CycleResult> {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(
    () => {
      const reason = new Error(
        `the ${mode} request overran its time limit of ${timeoutMs} ms and was stopped; retry, or raise api.request_timeout_ms (PO_REQUEST_TIMEOUT_MS)`,
      );
      reason.name = 'TimeoutError';
      controller.abort(reason);
    },
    timeoutMs + Math.max(1000, timeoutMs / 2),
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
      ? httpError.timeout((controller.signal.reason as Error).message)
      : toApiError(e, origin);
    outcome = outcomeOf(mapped);
    // Hono only handles Error instances; anything else thrown becomes a plain 500.
    throw mapped ?? (e instanceof Error ? e : new Error(String(e)));
  } finally {
    clearTimeout(timer);
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
