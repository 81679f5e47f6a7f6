import type { StrategySource as CoreStrategySource, Logger, ModelFileReader, UnitCounters } from '@po/core';
import type {
  CompiledStrategy,
  CycleResult,
  MismatchStatus,
  PlantState,
  StrategyLimits,
} from '@po/rto-engine';
import type { ReplayReport } from '@po/runner';
import type { AccessSettings } from './middleware/auth.ts';
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
  'optimize' | 'monitor' | 'spec' | 'warnings' | 'decisionVariables' | 'modelFiles'
> & {
  /** `CompiledStrategy.simulate`; `signal` stops it (a pooled strategy ends its task). */
  simulate(
    state: PlantState,
    decisions?: Readonly<Record<string, number>>,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<CycleResult>;
};

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
  /**
   * Records feedback; resolves to what was stored, or undefined when the result does not exist
   * (404). `by` is who gave it: the store writes an audit entry with it, in the same transaction.
   */
  addFeedback(id: string, feedback: Feedback, by?: AuditActor): Promise<unknown>;
}

/** Who acts, as the audit log names them. */
export interface AuditActor {
  actor: string;
  role: string;
}

/** One audit entry: who did what, when. */
export interface AuditRecord extends AuditActor {
  id: number | string;
  at: Date | string;
  action: string;
  target: string;
  detail: Record<string, unknown> | null;
}

/** The dashboard's reading side of the database (implemented with @po/db). Every method may reject (503). */
export interface DashboardData {
  /** Results with data timestamps in [since, until], newest first, with their newest feedback. */
  results(query: {
    since?: Date;
    until?: Date;
    limit: number;
    status?: 'ok' | 'skipped' | 'failed';
  }): Promise<readonly StoredResult[]>;
  /** The plant data table's columns (without the time column). */
  columns(): Promise<string[]>;
  /** Plant values of `columns` in [since, until], oldest first, as column arrays (`times` in ms). */
  plant(
    columns: readonly string[],
    window: { since: Date; until?: Date; limit?: number },
  ): Promise<{ times: number[]; values: Record<string, (number | null)[]> }>;
  /** Writes an audit entry (deploy, rollback). */
  audit(
    entry: AuditActor & { action: string; target: string; detail?: Record<string, unknown> },
  ): Promise<unknown>;
  /** The newest audit entries first. */
  auditLog(limit: number): Promise<readonly AuditRecord[]>;
}

/** Strategy versions in the store and the deploy pointer (implemented by the service). */
export interface StrategyVersions {
  /** Every version in the store, in semantic order (oldest first). */
  list(): Promise<readonly { version: string; key: string }[]>;
  /** The deployed version, or undefined. */
  deployed(): Promise<string | undefined>;
  /** The YAML text of one version; an unknown version rejects with a PoError (404). */
  read(version: string): Promise<string>;
  /**
   * Deploys a version: refused (PoError) unless it validates and every model loads; then writes
   * the deploy pointer and loads it, so the API and the runner serve it.
   */
  deploy(version: string): Promise<void>;
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

/** A replay an HTTP client asks for (`POST /replays`). */
export interface ReplayRequest {
  from: Date;
  to: Date;
  /** Every Nth row. */
  every: number;
  /** A store version; undefined: the deployed one. */
  strategy?: string | undefined;
}

/**
 * Replays over plant history (implemented by the service with @po/runner and @po/db). `start`
 * checks the request and the strategy, then runs the replay in the background and resolves with
 * its id; it rejects with a `PoError` of code `REPLAY_INVALID` (400: an unknown version, a window
 * over the limit) or `REPLAY_BUSY` (409: one is running). `report` is undefined for an unknown id.
 * Other rejections (the database) answer 503.
 */
export interface ReplayService {
  start(request: ReplayRequest): Promise<{ id: string; rows: number }>;
  report(id: string): Promise<ReplayReport | undefined>;
}

/** Settings of the HTTP layer. */
export interface ApiSettings extends AccessSettings {
  /** Largest request body, in bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /**
   * Time limit of every request, in ms, queue time included: past it the request answers 504
   * and its pool task is stopped. The optimizer gets this budget (and returns its best point so
   * far, flagged `timed_out`); an optimization that overruns it by `max(1 s, 50 %)` is stopped.
   * Default 10 s.
   */
  requestTimeoutMs?: number;
  /**
   * Bounds on request strategies and JSON bodies (nesting, checked on this thread before
   * parsing); the pool's workers check the rest with their own `limits`. Default: `DEFAULT_STRATEGY_LIMITS`.
   */
  limits?: Partial<StrategyLimits>;
}

/** Options of `createApp`. */
/** Model-plant mismatch as a runner reports it: per model, and why a critical bad model forces monitor mode. */
export interface ModelMismatchReport {
  models: Readonly<Record<string, MismatchStatus>>;
  forcedMonitor: string | null;
}

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
  /** Replays over plant history; without it `/replays` answers 501. */
  replays?: ReplayService;
  /** A fleet's units (`/units`, per-unit metrics); without it `/units` answers 501. */
  units?: UnitsView;
  /**
   * Extra `/health` sections (runner status, database reachability), called on every health
   * check and bounded to 250 ms. A section `{ ok: false, reason? }` makes the status `degraded`.
   */
  health?: () => Promise<Record<string, unknown>>;
  /**
   * Model-plant mismatch per model (the runner's, when it runs in this process), read when
   * Prometheus scrapes `/metrics`: one gauge set per model.
   */
  modelMismatch?: () => ModelMismatchReport | undefined;
  settings?: ApiSettings;
  /** What the dashboard reads (results with feedback, plant data, audit); without it the dashboard shows what the API knows. */
  dashboard?: DashboardData;
  /** Strategy versions and deploys (the dashboard's Strategy and Deploy views, `POST /strategies/deploy`). */
  versions?: StrategyVersions;
  /** The service's mode (`hybrid`, `api`), shown on the dashboard's status bar. */
  serviceMode?: string;
  /** Seconds between the runner's cycles: a newest cycle older than three of them is stale (red). Default 60. */
  cycleIntervalS?: number;
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
  counters(): ReadonlyMap<string, UnitCounters>;
  /**
   * Each unit's model-plant mismatch per model (the fleet's trackers in the database, whichever
   * worker ran the cycles), read when Prometheus scrapes: one gauge set per unit and model.
   */
  modelMismatch?(): Promise<ReadonlyMap<string, ModelMismatchReport>>;
  /**
   * What the dashboard opens for one unit (`/dashboard/units/<id>`), or undefined when there is no
   * such unit. Without it the dashboard lists the units but opens none.
   */
  scope?(id: string): Promise<UnitScope | undefined>;
}

/** One unit's side of the dashboard: its results and plant data, and the strategy its pointer deploys. */
export interface UnitScope {
  /** What operators call the unit. */
  name: string;
  /** Seconds between the unit's cycles (a newest cycle older than three is stale). */
  intervalS: number;
  /** Results of this unit only, plant data of its table and filter; the audit log is the service's. */
  data: DashboardData;
  /** The strategy the unit's deploy pointer names, as its cycles run it. */
  strategies: StrategySource;
}
