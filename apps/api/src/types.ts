import type { StrategySource as CoreStrategySource, Logger, ModelFileReader } from '@po/core';
import type { CompiledStrategy } from '@po/rto-engine';
import type { CycleExecutor } from './pool/pool.ts';
import type { Feedback, StoredResult } from './schemas.ts';

export type { SourceStatus } from '@po/core';

/**
 * What the API needs of a strategy: the `CompiledStrategy` subset it calls. A strategy
 * compiled on this thread fits, and so does `pooledStrategy(pool, bundle)`, which runs every
 * cycle in the worker pool (what production should use: cycles then never block HTTP).
 */
export type RunnableStrategy = Pick<
  CompiledStrategy,
  'optimize' | 'simulate' | 'monitor' | 'spec' | 'warnings' | 'decisionVariables' | 'modelFiles'
>;

/**
 * The deployed strategy the API serves: `@po/core`'s `StrategySource` of `RunnableStrategy`s
 * (the runner reads the same source). `current()` resolves to undefined when nothing is
 * deployed (503); `status()` is what `/health` reports.
 */
export type StrategySource = CoreStrategySource<RunnableStrategy>;

/**
 * Stored cycle results (implemented by @po/db). Every method may reject when the database is
 * unreachable; the API then answers 503.
 */
export interface ResultsStore {
  /** Newest first, at most `limit`, only those at or after `since` when given. */
  recent(query: { since?: Date | undefined; limit: number }): Promise<readonly StoredResult[]>;
  /** One result, or undefined when there is none with this id. */
  get(id: string): Promise<StoredResult | undefined>;
  /** Records feedback; resolves to what was stored, or undefined when the result does not exist (404). */
  addFeedback(id: string, feedback: Feedback): Promise<unknown>;
}

/**
 * The artifact cache (implemented by @po/cache). `stats()` is returned as is by `GET /cache/stats`
 * (the predecessor's passthrough); when it has `kinds.<kind>.hits/misses` they are also exported
 * as metrics. `clear(kind)` clears one kind, or all without one.
 */
export interface CacheControl {
  stats(): unknown;
  clear(kind?: string): unknown;
  /** Drops expired entries (`POST /cache/cleanup`); optional. */
  cleanup?(): unknown;
}

/** Settings of the HTTP layer. */
export interface ApiSettings {
  /** When set, every route but `/health` and `/metrics` needs `Authorization: Bearer <token>`. */
  apiToken?: string | undefined;
  /** Largest request body, in bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /**
   * Time limit of one optimization request, in ms, queue time included. The optimizer gets
   * this budget (and returns its best point so far, flagged `timed_out`); a task that overruns
   * it by `max(1 s, 50 %)` is aborted (504). Default 10 s.
   */
  requestTimeoutMs?: number;
}

/** Options of `createApp`. */
export interface AppOptions {
  /** The deployed strategy (used by `POST /optimize` and `/simulate` without `config`). */
  strategies: StrategySource;
  /** Runs ad-hoc strategies (`config` in a request) and validation off the event loop. */
  executor: CycleExecutor;
  /**
   * Reads model, scaler and metadata files by the path a strategy names, for strategies sent
   * in requests (`config`). Without it such strategies may not use InferenceModel skills, and
   * `/strategies/validate` checks schema and semantics only.
   */
  readModelFile?: ModelFileReader;
  /** Stored results and feedback; without it `/results` answers 501. */
  results?: ResultsStore;
  /** The artifact cache behind `/cache/stats` and `/cache/clear`. */
  cache?: CacheControl;
  /** A fleet's units (`/units`, per-unit metrics); without it `/units` answers 501. */
  units?: UnitsView;
  /**
   * Extra `/health` sections (runner status, database reachability), called on every health
   * check and bounded to 250 ms. A section `{ ok: false, reason? }` makes the status `degraded`.
   */
  health?: () => Promise<Record<string, unknown>>;
  settings?: ApiSettings;
  /** pino or any `Logger` of @po/core. Default: silent. */
  logger?: Logger;
}

/** A fleet's units as the API reads them (the CLI adapts @po/fleet to it). */
export interface UnitsView {
  /** Every unit's state (state, last cycle, lag, failures). */
  list(): Promise<({ id: string } & Record<string, unknown>)[]>;
  /** One unit's state, or undefined when there is no such unit. */
  get(id: string): Promise<({ id: string } & Record<string, unknown>) | undefined>;
  /** This process's counters per unit, for Prometheus (since start). */
  counters(): ReadonlyMap<string, UnitCounterSnapshot>;
}

/** What a fleet worker counted for one unit. */
export interface UnitCounterSnapshot {
  cycles: { ok: number; skipped: number; failed: number };
  droppedLate: number;
  retried: number;
  durationMs: { sum: number; count: number };
  lastDelayS: number | null;
}
