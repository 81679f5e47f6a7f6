import { type Logger, silentLogger } from '@po/core';
import {
  type ExactTime,
  exactTime,
  type ReplayCycleRecord,
  type ReplayDecision,
  type TimeWindow,
} from '@po/db';
import type { CycleResult } from '@po/rto-engine';
import { type CheckedRow, checkRow, type LoadedStrategy, type PreparedCycle, prepareCycle } from './cycle.ts';
import { MismatchTracker } from './mismatch.ts';
import { ObservationPrefetch } from './observation-prefetch.ts';
import { measuredReadings, measuringColumns, predictionChecks } from './prediction-error.ts';
import type { InputIssue, PlantRow } from './types.ts';
import { InputValidator, plantColumns } from './validation.ts';

/** Plant history in time order (`@po/db`'s process data source implements it). */
export interface ReplayData {
  between(
    window: TimeWindow,
    columns: readonly string[],
    page: { after?: Date | string; limit?: number },
  ): Promise<PlantRow[]>;
  countBetween(window: TimeWindow): Promise<number>;
}

/** Where replayed cycles go (`@po/db`'s replay store implements it): stored once per data timestamp. */
export interface ReplaySink {
  record(replayId: string, cycles: readonly ReplayCycleRecord[]): Promise<number>;
  /**
   * Data times already stored, exactly (microseconds, in `exactTime`'s form): a resumed replay
   * does not run them again.
   */
  recorded(replayId: string): Promise<Set<ExactTime>>;
}

export interface ReplayOptions {
  replayId: string;
  strategy: LoadedStrategy;
  data: ReplayData;
  sink: ReplaySink;
  window: TimeWindow;
  /** Run every Nth row of the window (the 1st, the N+1th, ...). Default 1. */
  every?: number;
  /**
   * Cycles handed to the strategy at once. With a worker-pool strategy, the pool's threads
   * plus a few queued keep every worker busy. Default 4.
   */
  concurrency?: number;
  /** Overrides the strategy's mode, as the runner's `mode` does. */
  mode?: 'advisory' | 'monitor';
  /** Stops handing out new cycles: the running ones finish and are stored, then the replay returns `interrupted`. */
  signal?: AbortSignal;
  /** Called after each stored batch of cycles. */
  onProgress?: (progress: ReplayProgress) => void;
  /** Rows read per query. Default 2000. */
  pageSize?: number;
  /** Cycles stored per write. Default 500. */
  batchSize?: number;
  /** Where the model-plant mismatch monitor says a critical model went bad or recovered. Default silent. */
  logger?: Logger;
  /**
   * Rows validated, and evaluated for the mismatch tracker, ahead of the cycles: the evaluations of
   * that many rows go to the strategy in a few batches (`CycleStrategy.evaluateMany`). Default 64.
   */
  lookahead?: number;
}

/** A selected row (with its exact time) after the column check and the input validation. */
interface CheckedReplayRow {
  row: PlantRow & { time: ExactTime };
  checked: CheckedRow;
}

export interface ReplayProgress {
  /** Plant rows in the window. */
  rowsInWindow: number;
  /** Rows the replay runs (every Nth). */
  selected: number;
  /** Selected rows stored so far (by earlier runs of this replay too). */
  stored: number;
  /** Stored by this run. */
  storedNow: number;
}

export interface ReplayOutcome extends ReplayProgress {
  /** Stored before this run (a resume). */
  storedBefore: number;
  /** True when `signal` stopped it before the end of the window. */
  interrupted: boolean;
}

/**
 * Runs a strategy over a window of plant history exactly as the runner would have, row by row:
 * the same column check and input validation (a stateful validator fed every selected row in
 * time order, with the row's own time as the clock, so `stale_after_s` never trips), the same
 * modes, the same cycle. Only the strategy runs of several rows overlap (`concurrency`).
 *
 * Model-plant mismatch as the runner has it (the same `MismatchTracker`, fed through
 * `prepareCycle`): the replay's own tracker is read and advanced row by row in data-time order
 * in this loop, and each cycle runs, possibly later and in parallel with others, with what the
 * tracker knew before its row (monitor mode forced by a bad critical model, the biases of
 * `models.bias_correction`) and the statuses after it (`model_trust`). What the tracker
 * evaluates depends on the rows alone (the models at the row, and at the horizon's reference row
 * with this row's decision values; never the biases, the mode or a cycle's result), so rows are
 * validated `lookahead` ahead and those evaluations made in batches (`ObservationPrefetch`,
 * through `CycleStrategy.evaluateMany` when the strategy has it), while the cycles of the rows
 * before run; the tracker then takes them in row order. Advancing costs no optimization, so the
 * state is not persisted: a resume advances it again over the stored rows.
 *
 * Resumable: rows already stored for `replayId` are validated again and observed by the
 * mismatch tracker (to rebuild both states) but not run, and the sink stores each data time
 * once, so a resumed replay ends with the table an uninterrupted one would have. A row's identity is its exact
 * time (microseconds), so two rows within one millisecond are two cycles. Each stored cycle
 * keeps the readings of the columns that measure a prediction (`measured`), for the report's
 * prediction error. Rejects when the data or the sink fails (what was stored stays).
 */
export async function runReplay(options: ReplayOptions): Promise<ReplayOutcome> {
  const { strategy, window, sink, replayId } = options;
  const every = options.every ?? 1;
  const columns = plantColumns(strategy.strategy.spec);
  const measuring = measuringColumns(predictionChecks(strategy.strategy.spec));
  const rowsInWindow = await options.data.countBetween(window);
  const selected = Math.ceil(rowsInWindow / every);
  const already = await sink.recorded(replayId);
  const validator = new InputValidator();
  const mismatch = new MismatchTracker(options.logger ?? silentLogger);
  const { spec } = strategy.strategy;
  const prefetch = mismatch.monitors(spec, strategy.version)
    ? new ObservationPrefetch(strategy.strategy)
    : undefined;
  const lookahead = Math.max(1, options.lookahead ?? 64);
  const progress = { rowsInWindow, selected, stored: 0, storedNow: 0 };
  const queue = cycleQueue(options, progress);
  let index = 0;
  let after: string | undefined; // exact text (microseconds): a page boundary loses no row
  let interrupted = false;

  /** Prepares, observes and queues checked rows in data-time order. */
  const feed = async (rows: readonly CheckedReplayRow[]) => {
    for (const { row, checked } of rows) {
      if (options.signal?.aborted) {
        interrupted = true;
        return;
      }
      const prepared = prepareCycle(
        strategy,
        columns,
        row,
        {
          validator,
          clock: { now: () => row.timestamp },
          mode: options.mode,
          mismatch,
          ...(prefetch ? { observationModels: prefetch } : {}),
        },
        checked,
      );
      // Before the next row is prepared, stored rows too: the tracker sees every row in order.
      if (!('record' in prepared)) await prepared.observe();
      if (already.has(row.time)) progress.stored++;
      else {
        const issues =
          'record' in prepared
            ? (prepared.record.substitutions as InputIssue[] | undefined)
            : prepared.issues;
        await queue.add(prepared, measuredReadings(measuring, row.values, issues));
      }
    }
  };
  // The rows checked last, with their mismatch evaluations under way: fed when the next rows are
  // checked (or at the end), so that the pool evaluates one batch while the cycles of the one
  // before run.
  let ahead: { rows: CheckedReplayRow[]; evaluated: Promise<void> } | undefined;
  const handOver = async (rows: CheckedReplayRow[]) => {
    const evaluated = prefetch
      ? prefetch.prefetch(
          rows.flatMap(({ row, checked }) =>
            'state' in checked ? [{ at: row.timestamp.getTime(), state: checked.state }] : [],
          ),
        )
      : Promise.resolve();
    const previous = ahead;
    ahead = { rows, evaluated };
    if (previous) {
      await previous.evaluated;
      await feed(previous.rows);
    }
  };
  let checking: CheckedReplayRow[] = [];
  try {
    for (;;) {
      const page = await options.data.between(window, columns, {
        ...(after ? { after } : {}),
        limit: options.pageSize ?? 2000,
      });
      if (page.length === 0) break;
      for (const plantRow of page) {
        if (index++ % every !== 0) continue;
        if (options.signal?.aborted) {
          interrupted = true;
          break;
        }
        const time = exactTime(
          plantRow.time ?? plantRow.timestamp,
          `plant row ${plantRow.time ?? plantRow.timestamp.toISOString()}`,
        );
        const row = { ...plantRow, time };
        // The input validation in time order, ahead of the tracker (it depends on the rows alone).
        const checked = checkRow(strategy, columns, row, { validator, clock: { now: () => row.timestamp } });
        checking.push({ row, checked });
        if (checking.length >= lookahead) {
          const rows = checking;
          checking = [];
          await handOver(rows);
          if (interrupted) break;
        }
      }
      if (interrupted) break;
      after = page[page.length - 1]!.time;
    }
    if (!interrupted) {
      await handOver(checking);
      if (!interrupted) await handOver([]);
    }
  } finally {
    await ahead?.evaluated;
    await queue.drain();
  }
  const storedBefore = progress.stored - progress.storedNow;
  return { ...progress, storedBefore, interrupted };
}

/** Runs prepared cycles `concurrency` at a time and stores them in batches. */
function cycleQueue(options: ReplayOptions, progress: ReplayProgress) {
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const batchSize = Math.max(1, options.batchSize ?? 500);
  // Cycles in flight are not aborted on interrupt: a cut-short cycle would be stored as failed.
  const never = new AbortController().signal;
  const running = new Set<Promise<void>>();
  let batch: ReplayCycleRecord[] = [];
  let failure: unknown;

  const flush = async () => {
    if (batch.length === 0) return;
    const cycles = batch;
    batch = [];
    const stored = await options.sink.record(options.replayId, cycles);
    progress.stored += stored;
    progress.storedNow += stored;
    options.onProgress?.({ ...progress });
  };
  const settle = async (prepared: PreparedCycle, measured: ReplayCycleRecord['measured']) => {
    if ('record' in prepared) return batch.push({ ...prepared.record, measured });
    const { record, result } = await prepared.run(never);
    batch.push(result ? { ...record, ...replayFigures(result), measured } : { ...record, measured });
  };
  return {
    async add(prepared: PreparedCycle, measured: ReplayCycleRecord['measured']) {
      if (failure) throw failure;
      const task = settle(prepared, measured).then(
        () => {
          running.delete(task);
        },
        (e: unknown) => {
          running.delete(task);
          failure ??= e;
        },
      );
      running.add(task);
      while (running.size >= concurrency) await Promise.race(running);
      if (batch.length >= batchSize) await flush();
    },
    async drain() {
      await Promise.all(running);
      await flush();
      if (failure) throw failure;
    },
  };
}

/** What a replay keeps of a cycle's result beyond the runner's record. */
export function replayFigures(result: CycleResult): Pick<ReplayCycleRecord, 'held' | 'decisions' | 'models'> {
  const decisions: Record<string, ReplayDecision> = {};
  for (const [name, v] of Object.entries(result.optimized_variables)) {
    decisions[name] = {
      current: v.user_input_value,
      recommended: result.mode === 'monitor' ? null : v.optimizer_suggested_value,
      lower_bound: v.lower_bound ?? null,
      upper_bound: v.upper_bound ?? null,
      at_bound: result.mode === 'monitor' ? null : (v.at_bound ?? null),
    };
  }
  return {
    held: result.mode === 'monitor' ? null : result.optimizer.held,
    decisions,
    // The cycle's model trust (each model's inputs against its training domain, at the plant's
    // values and at the recommendation): the report's per-model figures.
    models: result.model_trust,
  };
}
