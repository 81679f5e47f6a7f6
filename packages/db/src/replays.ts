import { randomUUID } from 'node:crypto';
import { DbError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import { defaultTableNames, migrate, type TableNames } from './migrations.ts';
import { type ExactTime, exactTime, exactTimeSql, timeParameter } from './process-data.ts';
import type { CycleRecord } from './results.ts';
import type { Database } from './types.ts';

export type ReplayStatus = 'running' | 'interrupted' | 'done' | 'failed';

/** A replay: a strategy run over a window of plant history. */
export interface Replay {
  id: string;
  dataTable: string;
  from: Date;
  to: Date;
  /** Every Nth row of the window is run (1: every row). */
  every: number;
  strategyVersion: string | null;
  /** Where the strategy came from: a store version, or a strategy file. */
  strategySource: string | null;
  /** Content hash of the strategy and its model files; a resume must run the same one. */
  strategyKey: string;
  status: ReplayStatus;
  /** Why it failed or was interrupted. */
  reason: string | null;
  /** Plant rows in the window when the replay started. */
  rowsInWindow: number | null;
  /** Cycle counts at the last update (`ok`, `skipped`, `failed`, ...). */
  counts: Record<string, number> | null;
  /** Which predictions the report compares with the plant, and how; null for a replay made before it was recorded. */
  predictionChecks: ReplayPredictionChecks | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a new replay is. */
export type ReplayInput = Pick<Replay, 'dataTable' | 'from' | 'to' | 'every' | 'strategyKey'> &
  Partial<Pick<Replay, 'strategyVersion' | 'strategySource' | 'rowsInWindow' | 'predictionChecks'>>;

/**
 * The strategy's predictions a replay report compares with what the plant did next: per
 * Predicted variable, the model behind it and the plant-data column that measures it (null:
 * none), and how far ahead a prediction is judged.
 */
export interface ReplayPredictionChecks {
  /** Seconds ahead a prediction is judged (the strategy's `models.mismatch.horizon_s`); 0: the next replayed row. */
  horizon_s: number;
  outputs: Record<
    string,
    {
      /** The InferenceModel skill behind the prediction; null when it cannot be told. */
      model: string | null;
      /** The plant-data column that measures the variable; null when none does. */
      measured_by: string | null;
      /** True when `measured_by` was inferred (the delta-model pattern), not declared. */
      inferred: boolean;
      /** Why there is no model or no measured column, in words. */
      note?: string;
    }
  >;
}

/**
 * One replayed cycle: the runner's cycle record plus what the replay report reads. `decisions`:
 * per decision variable its current value, recommendation, this cycle's bounds and `at_bound`;
 * `models`: the per-model figures of the cycle result (extrapolation, predictions) when the
 * engine reports them.
 */
export interface ReplayCycleRecord extends CycleRecord {
  held?: boolean | null;
  decisions?: Record<string, ReplayDecision> | null;
  models?: unknown;
  /**
   * The plant's readings of the columns that measure a prediction, at this row: a number, or
   * null when the reading is missing or the input validation did not pass it.
   */
  measured?: Record<string, number | null> | null;
}

/** A decision variable in one replayed cycle. */
export interface ReplayDecision {
  current: number | null;
  recommended: number | null;
  lower_bound: number | null;
  upper_bound: number | null;
  at_bound: 'lower' | 'upper' | null;
}

/** A stored replayed cycle. */
export interface StoredReplayCycle {
  /** The plant row's timestamp to the millisecond (`dataTime` is exact). */
  dataTimestamp: Date;
  /** The plant row's timestamp exactly (microseconds): the cycle's identity in the replay. */
  dataTime: ExactTime;
  status: CycleRecord['status'];
  reason: string | null;
  mode: string | null;
  held: boolean | null;
  costAtCurrent: number | null;
  costRecommended: number | null;
  decisions: Record<string, ReplayDecision> | null;
  setpoints: unknown;
  predictions: Record<string, { at_current: number | null; recommended: number | null }> | null;
  constraintScores: Record<string, { at_current: number | null; recommended: number | null }> | null;
  optimizer: unknown;
  substitutions: unknown;
  models: unknown;
  measured: Record<string, number | null> | null;
  durationMs: number | null;
}

/**
 * What the cycle counts read of a stored cycle (`outcomes`): its outcome, without the figures.
 * `models` keeps each model's `bias_correction` alone.
 */
export type ReplayCycleOutcome = Pick<
  StoredReplayCycle,
  'status' | 'reason' | 'mode' | 'held' | 'substitutions' | 'models'
>;

export interface ReplayStoreOptions {
  tables?: Partial<TableNames>;
  /** Run the migrations first. Default true. */
  migrate?: boolean;
}

/** Replays and their cycles. Safe for concurrent use. */
export interface ReplayStore {
  /** Creates a replay (status `running`) with a new id. */
  create(input: ReplayInput): Promise<Replay>;
  /** A replay, or undefined. */
  get(id: string): Promise<Replay | undefined>;
  /** Replays, newest first (at most `limit`, default 50). */
  list(limit?: number): Promise<Replay[]>;
  /** Sets the status (and reason, counts); an unknown id is a DbError (UNKNOWN_REPLAY). */
  update(
    id: string,
    patch: { status: ReplayStatus; reason?: string | null; counts?: Record<string, number> },
  ): Promise<void>;
  /**
   * Stores cycles under their exact data time (`dataTime`, microseconds; else `dataTimestamp`);
   * a data time already stored for the replay is left as it is (stored once). Returns how many
   * were new.
   */
  record(id: string, cycles: readonly ReplayCycleRecord[]): Promise<number>;
  /** Data times already stored for the replay, exactly (`ExactTime` as `exactTime` writes it). */
  recorded(id: string): Promise<Set<ExactTime>>;
  /** Every stored cycle of the replay, in time order (microseconds). */
  cycles(id: string): Promise<StoredReplayCycle[]>;
  /** Every stored cycle's outcome, in time order: a small part of `cycles`, to count them. */
  outcomes(id: string): Promise<ReplayCycleOutcome[]>;
}

const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const COLUMNS = [
  'replay_id',
  'data_timestamp',
  'status',
  'reason',
  'mode',
  'held',
  'cost_at_current',
  'cost_recommended',
  'decisions',
  'setpoints',
  'predictions',
  'constraint_scores',
  'optimizer',
  'substitutions',
  'models',
  'measured',
  'duration_ms',
] as const;

function cycleParams(id: string, c: ReplayCycleRecord): unknown[] {
  return [
    id,
    // The exact time when known: two rows within one millisecond are two cycles.
    c.dataTime === undefined ? c.dataTimestamp : timeParameter(c.dataTime, 'dataTime'),
    c.status,
    c.reason ?? null,
    c.mode ?? null,
    c.held ?? null,
    finiteOrNull(c.costAtCurrent),
    finiteOrNull(c.costRecommended),
    json(c.decisions),
    json(c.setpoints),
    json(c.predictions),
    json(c.constraintScores),
    json(c.optimizer),
    json(c.substitutions),
    json(c.models),
    json(c.measured),
    c.durationMs ?? null,
  ];
}

/** NaN costs (a strategy without an optimization) are stored as NULL. */
const finiteOrNull = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? null : v;

function toReplay(r: Record<string, unknown>): Replay {
  return {
    id: r.id as string,
    dataTable: r.data_table as string,
    from: r.window_from as Date,
    to: r.window_to as Date,
    every: Number(r.every),
    strategyVersion: (r.strategy_version as string | null) ?? null,
    strategySource: (r.strategy_source as string | null) ?? null,
    strategyKey: r.strategy_key as string,
    status: r.status as ReplayStatus,
    reason: (r.reason as string | null) ?? null,
    rowsInWindow: num(r.rows_in_window),
    counts: (r.counts as Record<string, number> | null) ?? null,
    predictionChecks: (r.prediction_checks as ReplayPredictionChecks | null) ?? null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

function toCycle(r: Record<string, unknown>): StoredReplayCycle {
  return {
    dataTimestamp: r.data_timestamp as Date,
    dataTime: r.po_data_time as ExactTime,
    status: r.status as CycleRecord['status'],
    reason: (r.reason as string | null) ?? null,
    mode: (r.mode as string | null) ?? null,
    held: (r.held as boolean | null) ?? null,
    costAtCurrent: num(r.cost_at_current),
    costRecommended: num(r.cost_recommended),
    decisions: (r.decisions as StoredReplayCycle['decisions']) ?? null,
    setpoints: r.setpoints ?? null,
    predictions: (r.predictions as StoredReplayCycle['predictions']) ?? null,
    constraintScores: (r.constraint_scores as StoredReplayCycle['constraintScores']) ?? null,
    optimizer: r.optimizer ?? null,
    substitutions: r.substitutions ?? null,
    models: r.models ?? null,
    measured: (r.measured as StoredReplayCycle['measured']) ?? null,
    durationMs: num(r.duration_ms),
  };
}

/** The replay store over `replays` and `replay_results` (created by the migrations). */
export async function createReplayStore(
  db: Database,
  options: ReplayStoreOptions = {},
): Promise<ReplayStore> {
  const names: TableNames = { ...defaultTableNames, ...options.tables };
  const replays = quoteIdent(names.replays, 'replays table');
  const results = quoteIdent(names.replayResults, 'replay results table');
  if (options.migrate !== false) await migrate(db, names);
  const width = COLUMNS.length;
  const chunk = Math.floor(30_000 / width);

  return {
    async create(input) {
      if (!Number.isInteger(input.every) || input.every < 1)
        throw new DbError(
          'INVALID_ARGUMENT',
          `[po/db] a replay's every must be a whole number >= 1, got ${input.every}`,
        );
      const r = await db.query(
        `INSERT INTO ${replays} (id, data_table, window_from, window_to, every, strategy_version, strategy_source, strategy_key, status, rows_in_window, prediction_checks)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9, $10) RETURNING *`,
        [
          randomUUID(),
          input.dataTable,
          input.from,
          input.to,
          input.every,
          input.strategyVersion ?? null,
          input.strategySource ?? null,
          input.strategyKey,
          input.rowsInWindow ?? null,
          json(input.predictionChecks),
        ],
      );
      return toReplay(r.rows[0]!);
    },
    async get(id) {
      const r = await db.query(`SELECT * FROM ${replays} WHERE id = $1`, [id]);
      return r.rows[0] ? toReplay(r.rows[0]) : undefined;
    },
    async list(limit = 50) {
      const r = await db.query(`SELECT * FROM ${replays} ORDER BY created_at DESC LIMIT $1`, [
        Math.max(1, Math.min(limit, 1000)),
      ]);
      return r.rows.map(toReplay);
    },
    async update(id, patch) {
      const r = await db.query(
        `UPDATE ${replays} SET status = $2, reason = $3, counts = COALESCE($4::jsonb, counts), updated_at = now() WHERE id = $1`,
        [id, patch.status, patch.reason ?? null, json(patch.counts)],
      );
      if (r.rowCount === 0) throw new DbError('UNKNOWN_REPLAY', `[po/db] no replay with id '${id}'`);
    },
    async record(id, cycles) {
      let inserted = 0;
      for (let start = 0; start < cycles.length; start += chunk) {
        const part = cycles.slice(start, start + chunk);
        const params = part.flatMap((c) => cycleParams(id, c));
        const tuples = part.map((_, i) => `(${COLUMNS.map((_, j) => `$${i * width + j + 1}`).join(', ')})`);
        const r = await db.query(
          `INSERT INTO ${results} (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`,
          params,
        );
        inserted += r.rowCount;
      }
      return inserted;
    },
    async recorded(id) {
      const r = await db.query<{ t: string }>(
        `SELECT ${exactTimeSql('data_timestamp')} AS t FROM ${results} WHERE replay_id = $1`,
        [id],
      );
      return new Set(r.rows.map((x) => exactTime(x.t)));
    },
    async cycles(id) {
      const r = await db.query(
        `SELECT *, ${exactTimeSql('data_timestamp')} AS po_data_time FROM ${results} WHERE replay_id = $1 ORDER BY data_timestamp`,
        [id],
      );
      return r.rows.map(toCycle);
    },
    async outcomes(id) {
      // Per model its bias correction alone: the rest of `models` is most of the row.
      const r = await db.query(
        `SELECT status, reason, mode, held, substitutions,
           CASE WHEN jsonb_typeof(models -> 'models') = 'object' THEN (
             SELECT jsonb_build_object('models', jsonb_object_agg(skill, jsonb_build_object('bias_correction', trust -> 'bias_correction')))
             FROM jsonb_each(models -> 'models') AS m(skill, trust)
           ) END AS models
         FROM ${results} WHERE replay_id = $1 ORDER BY data_timestamp`,
        [id],
      );
      return r.rows.map((row) => ({
        status: row.status as CycleRecord['status'],
        reason: (row.reason as string | null) ?? null,
        mode: (row.mode as string | null) ?? null,
        held: (row.held as boolean | null) ?? null,
        substitutions: row.substitutions ?? null,
        models: row.models ?? null,
      }));
    },
  };
}
