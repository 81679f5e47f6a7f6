import { type Logger, type StrategySource, silentLogger } from '@po/core';
import { messageOf } from './cycle.ts';
import { MismatchTracker } from './mismatch.ts';
import { RunnerHealth, type TickOutcome } from './status.ts';
import { createTick } from './tick.ts';
import type { Clock, CycleStrategy, DataSource, ResultSink, RunnerStatus } from './types.ts';
import { InputValidator } from './validation.ts';

export type { TickOutcome } from './status.ts';

export interface RunnerOptions {
  /** The deployed strategy; asked before every cycle. Undefined (nothing deployed) or a rejection marks the runner degraded, and it keeps running the last strategy it had. */
  strategies: StrategySource<CycleStrategy>;
  data: DataSource;
  results: ResultSink;
  /** Default silent. */
  logger?: Logger;
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
  /**
   * The runner reports itself unhealthy (`stalled`) when no attempt has read the database for
   * this long, ms, whatever the reason (a hung read, a half-open link). Default 3 intervals, at least 10 s.
   */
  staleAfterMs?: number;
}

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

const systemClock: Clock = { now: () => new Date() };

/**
 * The continuous loop: every `intervalMs`, the newest plant row after the last processed
 * one (read from the result sink, so a restart resumes exactly) is validated and run, and
 * the result recorded; ok, skipped and failed cycles alike are rows. A cycle error never
 * ends the loop; an unreachable service marks the runner degraded and is retried.
 */
export function createRunner(options: RunnerOptions): Runner {
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? 60_000;
  const minRetryMs = Math.min(options.minRetryMs ?? 1000, intervalMs);
  const health = new RunnerHealth(logger, clock, options.staleAfterMs ?? Math.max(3 * intervalMs, 10_000));
  const mismatch = new MismatchTracker(logger);
  const shutdown = new AbortController();
  const stopping = new AbortController();
  const tick = createTick({
    strategies: options.strategies,
    data: options.data,
    results: options.results,
    logger,
    clock,
    health,
    cycle: { validator: new InputValidator(), clock, mode: options.mode, signal: shutdown.signal, mismatch },
    stats: options.stats,
    statsEvery: options.statsEvery ?? 10,
    stopping: stopping.signal,
  });
  let inFlight: Promise<TickOutcome> | undefined;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;

  function runOnce(): Promise<TickOutcome> {
    const p = tick().catch((e: unknown) => {
      logger.error({ err: messageOf(e) }, '[po/runner] unexpected error in a cycle');
      return health.unavailable();
    });
    inFlight = p;
    return p.finally(() => {
      if (inFlight === p) inFlight = undefined;
    });
  }

  async function run(): Promise<void> {
    while (health.loop === 'running') {
      const outcome = await runOnce();
      if (health.loop !== 'running') break;
      const delay =
        outcome === 'unavailable'
          ? Math.min(minRetryMs * 2 ** Math.min(health.consecutiveFailures - 1, 20), intervalMs)
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
      if (health.loop === 'running') return;
      health.loop = 'running';
      logger.info({ intervalMs, mode: options.mode ?? 'per strategy' }, '[po/runner] started');
      loop = run();
    },
    runOnce,
    async stop({ timeoutMs = 30_000 } = {}) {
      if (health.loop === 'stopped') return;
      health.loop = 'stopping';
      stopping.abort();
      wake?.();
      // A cycle in progress is awaited (to be recorded); a pending read is not (its row stays unprocessed).
      if (health.phase !== 'cycle') {
        logger.info({}, '[po/runner] stopped');
        health.loop = 'stopped';
        return;
      }
      const hurry = setTimeout(() => shutdown.abort(), timeoutMs / 2);
      const finished = await settleWithin(Promise.all([inFlight, loop]), timeoutMs);
      clearTimeout(hurry);
      if (!finished)
        logger.warn({ timeoutMs }, '[po/runner] stop: the cycle in progress did not finish in time');
      health.loop = 'stopped';
      logger.info({}, '[po/runner] stopped');
    },
    status: () => ({ ...health.snapshot(), models: mismatch.health() }),
  };
}

/** Whether `work` settled within `ms`. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), bound]);
  } finally {
    clearTimeout(timer);
  }
}
