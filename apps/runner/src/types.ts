import type { CompiledStrategy, MismatchStatus, ModelValues, PlantState } from '@po/rto-engine';

/**
 * The part of a compiled strategy a cycle calls: a `CompiledStrategy` from `@po/rto-engine`,
 * a cache-backed deployment or a worker-pool proxy all fit (the HTTP API's `RunnableStrategy`
 * is a wider view of the same object). `optimize` and `monitor` may run concurrently with
 * other callers (the runner runs one cycle at a time itself). `options.signal` asks the
 * optimizer to stop early (on shutdown).
 */
export type CycleStrategy = Pick<CompiledStrategy, 'spec' | 'optimize' | 'monitor' | 'modelFiles'> &
  /** Model-plant mismatch monitoring feeds the models what the plant did through it; without it there is none. */
  Partial<Pick<CompiledStrategy, 'simulate'>> &
  /** The variable values alone (no result built): a replay's mismatch observations use it when there. */
  Partial<Pick<CompiledStrategy, 'modelValues'>> & {
    /**
     * Several `monitor`/`simulate` evaluations at once, reduced to the values of the variables
     * `names` as `modelValues` gives them, each settled on its own as the strategy's own call would
     * settle (a worker-pool strategy: one task). Optional: without it a replay makes the calls
     * one by one.
     */
    evaluateMany?(
      evaluations: readonly ModelEvaluation[],
      names: readonly string[],
    ): Promise<PromiseSettledResult<ModelValues>[]>;
  };

/** One model evaluation: the models at a plant state holding the setpoints (`monitor`), or with given decision values (`simulate`). */
export type ModelEvaluation =
  | { mode: 'monitor'; state: PlantState }
  | { mode: 'simulate'; state: PlantState; decisions?: Readonly<Record<string, number>> };

/** One plant row. */
export interface PlantRow {
  /** The time the readings were taken, to the millisecond. */
  timestamp: Date;
  /** The same exactly, as the database keeps it (ISO 8601 UTC, microseconds): the row's identity when given. */
  time?: string;
  /** Variable -> reading (numbers, or numeric strings; null or absent when missing). */
  values: Record<string, unknown>;
  /** Newer rows than the last processed one that this row supersedes (only the newest is run). */
  skippedRows?: number;
}

/**
 * Plant data. `next(after, columns)` returns the newest row strictly after `after`
 * (`undefined` = from the beginning), or undefined when there is none (idle).
 * `columns` are the variables the strategy reads; a source that knows its columns rejects
 * with an error naming the missing ones (code MISSING_COLUMNS). Rejections for a lost
 * connection are retried by the runner on its next attempt. `@po/db`'s
 * `createProcessDataSource` implements it.
 */
export interface DataSource {
  next(after: Date | string | undefined, columns: readonly string[]): Promise<PlantRow | undefined>;
}

/** One cycle, as recorded: the results store's record (the runner writes it, @po/db stores it). */
export type { CycleRecord } from '@po/db';

import type { CycleRecord } from '@po/db';

/**
 * Where results go, and where the runner resumes from. `recordCycle` must store the result
 * and the new last-processed timestamp atomically and be a no-op (resolving false) for a
 * data timestamp already recorded: that is what makes a retried or restarted cycle count
 * once. `lastProcessed` is read before every cycle. `@po/db`'s `createResultStore` implements it.
 */
export interface ResultSink {
  recordCycle(record: CycleRecord): Promise<boolean>;
  /** The last processed row's timestamp: exact text (microseconds) when the sink has it, else a Date. */
  lastProcessed(): Promise<Date | string | undefined>;
}

/** Time source (tests may pin it); used for staleness and the status, not for sleeping. */
export interface Clock {
  now(): Date;
}

/** One input-validation finding. */
export interface InputIssue {
  variable: string;
  /** The reading as it came (null when missing). */
  value: unknown;
  /** The rule it broke: missing, not_a_number, valid_min, valid_max, max_rate, frozen, stale. */
  rule: string;
  /** What the rule says, e.g. `above valid_max 12`. */
  detail: string;
  /** substituted: the last good value was used; skipped: the cycle did not run because of it. */
  action: 'substituted' | 'skipped';
  /** The value used instead (substituted). */
  substitutedWith?: number;
  /** Consecutive cycles this variable has been held so far (substituted). */
  heldCycles?: number;
}

export interface RunnerStatus {
  state: 'idle' | 'running' | 'stopping' | 'stopped';
  /** Nothing degraded, and the last successful check is recent (see `RunnerOptions.staleAfterMs`). */
  healthy: boolean;
  /** Why the runner is degraded (`data: ...`, `results: ...`, `strategy: ...`, `stalled: ...`), empty when healthy. */
  degraded: string[];
  /** Failed attempts in a row (unreachable services or failed cycles); 0 after a good one. */
  consecutiveFailures: number;
  lastCycle?: {
    at: Date;
    dataTimestamp: Date;
    status: CycleRecord['status'];
    strategyVersion: string | null;
    reason: string | null;
    durationMs: number;
  };
  /** When the runner last looked for data. */
  lastCheckAt?: Date;
  /** When an attempt last read the runner's progress and the plant data (the database answered). */
  lastSuccessAt?: Date;
  cycles: { ok: number; skipped: number; failed: number };
  /** Model-plant mismatch per model, and why the strategy runs in monitor mode when a critical model is bad. */
  models?: ModelMismatchHealth;
}

/** What /health shows of model-plant mismatch. */
export interface ModelMismatchHealth {
  /** Per InferenceModel skill with a measured counterpart. */
  models: Record<string, MismatchStatus>;
  /** Why the strategy runs in monitor mode (a critical model is bad), or null. */
  forcedMonitor: string | null;
}
