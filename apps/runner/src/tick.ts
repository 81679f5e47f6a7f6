import { errorCode, type Logger, type StrategySource } from '@po/core';
import type { StrategySpec } from '@po/rto-engine';
import { type CycleContext, type LoadedStrategy, messageOf, runCycle } from './cycle.ts';
import type { RunnerHealth, TickOutcome } from './status.ts';
import type { Clock, CycleRecord, CycleStrategy, DataSource, PlantRow, ResultSink } from './types.ts';
import { plantColumns } from './validation.ts';

/** What an attempt reads from and writes to. */
export interface TickOptions {
  strategies: StrategySource<CycleStrategy>;
  data: DataSource;
  results: ResultSink;
  logger: Logger;
  clock: Clock;
  health: RunnerHealth;
  cycle: CycleContext;
  stats: (() => unknown) | undefined;
  statsEvery: number;
  /** Aborted when the runner stops: a row read after that is left for the next start. */
  stopping: AbortSignal;
}

/**
 * One attempt, as a function: the strategy (keeping the last good one), the newest row after
 * the last processed one, the cycle, the record. An unreachable service makes it `unavailable`
 * (and the runner degraded) without running anything.
 */
export function createTick(options: TickOptions): () => Promise<TickOutcome> {
  const { health, logger } = options;
  const strategy = lastGoodStrategy(options.strategies, health, logger);
  const columnsOf = new WeakMap<StrategySpec, string[]>();
  const columnsFor = (spec: StrategySpec) => {
    let columns = columnsOf.get(spec);
    if (!columns) columnsOf.set(spec, (columns = plantColumns(spec)));
    return columns;
  };
  const record = recorder(options);

  return async function tick(): Promise<TickOutcome> {
    health.checked(options.clock.now());
    try {
      health.phase = 'reading';
      const loaded = await strategy();
      if (!loaded) return health.unavailable();
      const columns = columnsFor(loaded.strategy.spec);
      const row = await nextRow(options, columns);
      if (row === 'unavailable') return health.unavailable();
      health.reached(options.clock.now());
      if (!row || options.stopping.aborted) return health.idle();
      health.phase = 'cycle';
      return await record(row, await runCycle(loaded, columns, row, options.cycle));
    } finally {
      health.phase = 'waiting';
    }
  };
}

/** The source's strategy, or the last one it gave while it fails; undefined before it ever gave one. */
function lastGoodStrategy(
  source: StrategySource<CycleStrategy>,
  health: RunnerHealth,
  logger: Logger,
): () => Promise<LoadedStrategy | undefined> {
  let last: LoadedStrategy | undefined;
  return async () => {
    try {
      const next = await source.current();
      if (!next) {
        health.degrade(
          'strategy',
          `no strategy is deployed (${source.status().error ?? 'deploy one: po deploy <version>'})`,
        );
        return last;
      }
      if (last && next.version !== last.version)
        logger.info({ from: last.version, to: next.version }, '[po/runner] strategy version changed');
      last = next;
      health.recover('strategy');
    } catch (e) {
      health.degrade('strategy', messageOf(e));
    }
    return last;
  };
}

/** The newest row after the last processed one; `unavailable` when the results or the data cannot be read. */
async function nextRow(
  options: TickOptions,
  columns: readonly string[],
): Promise<PlantRow | undefined | 'unavailable'> {
  const { health } = options;
  let after: Date | string | undefined;
  try {
    after = await options.results.lastProcessed();
    health.recover('results');
  } catch (e) {
    health.degrade('results', messageOf(e));
    return 'unavailable';
  }
  try {
    const row = await options.data.next(after, columns);
    health.recover('data');
    return row;
  } catch (e) {
    health.degrade('data', messageOf(e));
    if (errorCode(e) === 'MISSING_COLUMNS')
      options.logger.error({ err: messageOf(e) }, '[po/runner] data table lacks columns');
    return 'unavailable';
  }
}

/** Records a cycle, then counts and logs it; `unavailable` when it could not be recorded. */
function recorder(options: TickOptions): (row: PlantRow, record: CycleRecord) => Promise<TickOutcome> {
  const { health, logger } = options;
  let recorded = 0;
  return async (row, record) => {
    try {
      const isNew = await options.results.recordCycle(record);
      health.recover('results');
      if (!isNew)
        logger.warn(
          { dataTimestamp: row.time ?? row.timestamp },
          '[po/runner] cycle already recorded (a retry)',
        );
    } catch (e) {
      // Not recorded: the row stays unprocessed and the next attempt runs it again (the unique key keeps it once).
      health.degrade('results', messageOf(e));
      return health.unavailable();
    }
    health.recorded(record, options.clock.now());
    logCycle(logger, record);
    if (options.stats && ++recorded % options.statsEvery === 0) {
      try {
        logger.info({ stats: options.stats() }, '[po/runner] cache statistics');
      } catch (e) {
        logger.warn({ err: messageOf(e) }, '[po/runner] stats() failed');
      }
    }
    return record.status;
  };
}

function logCycle(logger: Logger, record: CycleRecord): void {
  const level = record.status === 'failed' ? 'error' : record.status === 'skipped' ? 'warn' : 'info';
  logger[level](
    {
      dataTimestamp: record.dataTime ?? record.dataTimestamp.toISOString(),
      status: record.status,
      version: record.strategyVersion,
      mode: record.mode,
      durationMs: record.durationMs,
      skippedRows: record.skippedRows,
      ...(record.reason ? { reason: record.reason } : {}),
    },
    '[po/runner] cycle',
  );
}
