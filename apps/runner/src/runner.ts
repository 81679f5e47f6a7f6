import type { CycleResult, StrategySpec } from '@po/rto-engine';
import type {
  Clock,
  CycleRecord,
  DataSource,
  PlantRow,
  ResultSink,
  RunnableStrategy,
  RunnerLogger,
  RunnerStatus,
  StrategySource,
} from './types.ts';
import { InputValidator, plantColumns } from './validation.ts';

export interface RunnerOptions {
  strategies: StrategySource;
  data: DataSource;
  results: ResultSink;
  /** pino-compatible. Default silent. */
  logger?: RunnerLogger;
  /** Default the system clock. */
  clock?: Clock;
  /** Time between looks for new data, ms. Default 60000 (the predecessor's minute). */
  intervalMs?: number;
  /** Overrides the strategy's `mode`: advisory (optimize, the default) or monitor (predictions and scores only). */
  mode?: 'advisory' | 'monitor';
  /** After a failed attempt (unreachable database or strategy store) the next comes after minRetryMs, doubling up to intervalMs. Default 1000. */
  minRetryMs?: number;
  /** Cache statistics (or anything worth a periodic line), logged every `statsEvery` recorded cycles. */
  stats?: () => unknown;
  /** Default 10. */
  statsEvery?: number;
}

/** What one attempt did. */
export type TickOutcome = 'ok' | 'skipped' | 'failed' | 'idle' | 'unavailable';

export interface Runner {
  /** Starts the loop (returns at once). */
  start(): void;
  /** One attempt now: read the newest row after the last processed, validate, run, record. Never rejects. */
  runOnce(): Promise<TickOutcome>;
  /**
   * Stops taking work, lets the cycle in progress finish and be recorded, and resolves
   * within `timeoutMs` (default 30000). Past half of it, the optimizer is asked to stop
   * early (it returns its best point so far).
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  status(): RunnerStatus;
}

const silent: RunnerLogger = { debug() {}, info() {}, warn() {}, error() {} };
const systemClock: Clock = { now: () => new Date() };
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
const errorCode = (e: unknown) => (e as { code?: unknown } | null)?.code;

/**
 * The continuous loop: every `intervalMs`, the newest plant row after the last processed
 * one (read from the result sink, so a restart resumes exactly) is validated and run, and
 * the result recorded; ok, skipped and failed cycles alike are rows. A cycle error never
 * ends the loop; an unreachable service marks the runner degraded and is retried.
 */
export function createRunner(options: RunnerOptions): Runner {
  const logger = options.logger ?? silent;
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? 60_000;
  const minRetryMs = Math.min(options.minRetryMs ?? 1000, intervalMs);
  const statsEvery = options.statsEvery ?? 10;
  const validator = new InputValidator();
  const columnsOf = new WeakMap<StrategySpec, string[]>();
  const degraded = new Map<'strategy' | 'data' | 'results', string>();
  const status: Omit<RunnerStatus, 'healthy' | 'degraded'> = {
    state: 'idle',
    consecutiveFailures: 0,
    cycles: { ok: 0, skipped: 0, failed: 0 },
  };
  let strategy: { version: string | null; strategy: RunnableStrategy } | undefined;
  let recorded = 0;
  let inFlight: Promise<TickOutcome> | undefined;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  const shutdown = new AbortController();

  const setDegraded = (what: 'strategy' | 'data' | 'results', error: unknown) => {
    const reason = `${what}: ${messageOf(error)}`;
    if (degraded.get(what) !== reason)
      logger.warn({ component: what, err: messageOf(error) }, '[po/runner] degraded');
    degraded.set(what, reason);
  };
  const clear = (what: 'strategy' | 'data' | 'results') => {
    if (degraded.delete(what)) logger.info({ component: what }, '[po/runner] recovered');
  };

  async function loadStrategy() {
    try {
      const next = await options.strategies.current();
      if (strategy && next.version !== strategy.version)
        logger.info({ from: strategy.version, to: next.version }, '[po/runner] strategy version changed');
      strategy = next;
      clear('strategy');
    } catch (e) {
      setDegraded('strategy', e);
      if (!strategy) throw e;
      // Keep running the strategy we have.
    }
    return strategy;
  }

  async function tick(): Promise<TickOutcome> {
    status.lastCheckAt = clock.now();
    let current: { version: string | null; strategy: RunnableStrategy };
    let after: Date | undefined;
    let row: PlantRow | undefined;
    try {
      current = await loadStrategy();
    } catch {
      return unavailable();
    }
    const spec = current.strategy.spec;
    let columns = columnsOf.get(spec);
    if (!columns) columnsOf.set(spec, (columns = plantColumns(spec)));
    try {
      after = await options.results.lastProcessed();
      clear('results');
    } catch (e) {
      setDegraded('results', e);
      return unavailable();
    }
    try {
      row = await options.data.next(after, columns);
      clear('data');
    } catch (e) {
      setDegraded('data', e);
      if (errorCode(e) === 'MISSING_COLUMNS')
        logger.error({ err: messageOf(e) }, '[po/runner] data table lacks columns');
      return unavailable();
    }
    if (!row) {
      if (status.consecutiveFailures > 0 && degraded.size === 0) status.consecutiveFailures = 0;
      return 'idle';
    }

    const record = await runCycle(current, columns, row);
    try {
      const isNew = await options.results.recordCycle(record);
      clear('results');
      if (!isNew)
        logger.warn({ dataTimestamp: row.timestamp }, '[po/runner] cycle already recorded (a retry)');
    } catch (e) {
      // Not recorded: the row stays unprocessed and the next attempt runs it again (the unique key keeps it once).
      setDegraded('results', e);
      return unavailable();
    }
    status.cycles[record.status]++;
    status.consecutiveFailures = record.status === 'failed' ? status.consecutiveFailures + 1 : 0;
    status.lastCycle = {
      at: clock.now(),
      dataTimestamp: row.timestamp,
      status: record.status,
      strategyVersion: record.strategyVersion ?? null,
      reason: record.reason ?? null,
      durationMs: record.durationMs ?? 0,
    };
    const log =
      record.status === 'failed' ? logger.error : record.status === 'skipped' ? logger.warn : logger.info;
    log.call(
      logger,
      {
        dataTimestamp: row.timestamp.toISOString(),
        status: record.status,
        version: record.strategyVersion,
        mode: record.mode,
        durationMs: record.durationMs,
        skippedRows: record.skippedRows,
        ...(record.reason ? { reason: record.reason } : {}),
      },
      '[po/runner] cycle',
    );
    if (options.stats && ++recorded % statsEvery === 0) {
      try {
        logger.info({ stats: options.stats() }, '[po/runner] cache statistics');
      } catch (e) {
        logger.warn({ err: messageOf(e) }, '[po/runner] stats() failed');
      }
    }
    return record.status;
  }

  function unavailable(): TickOutcome {
    status.consecutiveFailures++;
    return 'unavailable';
  }

  async function runCycle(
    current: { version: string | null; strategy: RunnableStrategy },
    columns: readonly string[],
    row: PlantRow,
  ): Promise<CycleRecord> {
    const started = performance.now();
    const { strategy: s, version } = current;
    const mode = options.mode ?? s.spec.mode ?? 'advisory';
    const base: CycleRecord = {
      dataTimestamp: row.timestamp,
      status: 'ok',
      strategyVersion: version,
      modelChecksums: Object.fromEntries(s.modelFiles.map((f) => [f.path, f.sha256])),
      mode,
      skippedRows: row.skippedRows ?? 0,
    };
    const done = (r: Partial<CycleRecord>): CycleRecord => ({
      ...base,
      ...r,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    });
    const missing = columns.filter((c) => !(c in row.values));
    if (missing.length > 0) {
      return done({ status: 'skipped', reason: `missing columns: ${missing.join(', ')}` });
    }
    const checked = validator.check(s.spec, columns, row, clock.now());
    const substitutions = checked.issues;
    if (checked.skipReason) return done({ status: 'skipped', reason: checked.skipReason, substitutions });
    try {
      const state = { ...row.values, ...checked.values };
      const result =
        mode === 'monitor' ? await s.monitor(state) : await s.optimize(state, { signal: shutdown.signal });
      return done({ ...summarize(result, mode), substitutions });
    } catch (e) {
      return done({ status: 'failed', reason: messageOf(e), substitutions });
    }
  }

  function runOnce(): Promise<TickOutcome> {
    const p = tick().catch((e: unknown) => {
      logger.error({ err: messageOf(e) }, '[po/runner] unexpected error in a cycle');
      return unavailable();
    });
    inFlight = p;
    return p.finally(() => {
      if (inFlight === p) inFlight = undefined;
    });
  }

  async function run(): Promise<void> {
    while (status.state === 'running') {
      const outcome = await runOnce();
      if (status.state !== 'running') break;
      const delay =
        outcome === 'unavailable'
          ? Math.min(minRetryMs * 2 ** Math.min(status.consecutiveFailures - 1, 20), intervalMs)
          : intervalMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  return {
    start() {
      if (status.state === 'running') return;
      status.state = 'running';
      logger.info({ intervalMs, mode: options.mode ?? 'per strategy' }, '[po/runner] started');
      loop = run();
    },
    runOnce,
    async stop({ timeoutMs = 30_000 } = {}) {
      if (status.state === 'stopped') return;
      status.state = 'stopping';
      wake?.();
      const hurry = setTimeout(() => shutdown.abort(), timeoutMs / 2);
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), timeoutMs);
      });
      const finished = await Promise.race([Promise.all([inFlight, loop]).then(() => 'done' as const), bound]);
      clearTimeout(hurry);
      clearTimeout(timer);
      if (finished === 'timeout')
        logger.warn({ timeoutMs }, '[po/runner] stop: the cycle in progress did not finish in time');
      status.state = 'stopped';
      logger.info({}, '[po/runner] stopped');
    },
    status: () => ({
      ...status,
      cycles: { ...status.cycles },
      healthy: degraded.size === 0,
      degraded: [...degraded.values()],
    }),
  };
}

function pick(
  variables: CycleResult['variables'],
): Record<string, { at_current: number | null; recommended: number | null }> {
  return Object.fromEntries(
    Object.entries(variables).map(([name, v]) => [
      name,
      { at_current: v.value_at_current ?? v.user_input_value, recommended: v.optimizer_suggested_value },
    ]),
  );
}

/** The parts of an engine result a cycle row keeps. */
function summarize(result: CycleResult, mode: 'advisory' | 'monitor'): Partial<CycleRecord> {
  return {
    status: 'ok',
    costAtCurrent: result.cost_at_current,
    costRecommended: mode === 'monitor' ? null : result.cost_function_value,
    setpoints: mode === 'monitor' ? null : result.setpoints,
    predictions: pick(result.predicted_variables),
    constraintScores: pick(result.constraint_variables),
    optimizer: result.optimizer,
  };
}
