import { DbError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import { defaultTableNames, migrate, type TableNames } from './migrations.ts';
import type { Database, Queryable } from './types.ts';

export type CycleStatus = 'ok' | 'skipped' | 'failed';
export type FeedbackDecision = 'accepted' | 'rejected' | 'modified';
const DECISIONS: readonly FeedbackDecision[] = ['accepted', 'rejected', 'modified'];

/** One cycle, as the runner records it. JSON fields are stored as jsonb. */
export interface CycleRecord {
  /** Timestamp of the plant row the cycle ran on; with the data table, the cycle's identity. */
  dataTimestamp: Date;
  /** The data table the row came from. Default: the store's `dataTable`. */
  dataTable?: string;
  /** The fleet unit the cycle ran for (`@po/fleet`); '' (the default) is the single-unit service. */
  unit?: string;
  status: CycleStatus;
  /** Why a cycle was skipped or failed (an error message, never a stack). */
  reason?: string | null;
  strategyVersion?: string | null;
  /** Model file path -> SHA-256, for provenance. */
  modelChecksums?: Record<string, string> | null;
  mode?: 'advisory' | 'monitor' | null;
  costAtCurrent?: number | null;
  costRecommended?: number | null;
  setpoints?: unknown;
  predictions?: unknown;
  constraintScores?: unknown;
  optimizer?: unknown;
  /** Input validation: readings replaced by their last good value, and the rules that skipped the cycle. */
  substitutions?: unknown;
  /** Newer rows than the last processed one that this cycle did not run on (it takes the newest). */
  skippedRows?: number;
  durationMs?: number | null;
}

/** A stored cycle result. */
export interface StoredResult {
  id: number;
  /** The fleet unit, '' for the single-unit service. */
  unit: string;
  dataTable: string;
  dataTimestamp: Date;
  status: CycleStatus;
  reason: string | null;
  strategyVersion: string | null;
  modelChecksums: Record<string, string> | null;
  mode: string | null;
  costAtCurrent: number | null;
  costRecommended: number | null;
  setpoints: unknown;
  predictions: unknown;
  constraintScores: unknown;
  optimizer: unknown;
  substitutions: unknown;
  skippedRows: number;
  durationMs: number | null;
  createdAt: Date;
}

export interface FeedbackInput {
  decision: FeedbackDecision;
  operator?: string | null;
  reason?: string | null;
  /** The values the operator applied (for `modified`), tag -> value. */
  values?: Record<string, number> | null;
}

export interface StoredFeedback {
  id: number;
  resultId: number;
  decision: FeedbackDecision;
  operator: string | null;
  reason: string | null;
  values: Record<string, number> | null;
  createdAt: Date;
}

export interface ResultStoreOptions {
  /** Table names (results: `PO_RESULTS_TABLE`). */
  tables?: Partial<TableNames>;
  /** The data table whose progress `lastProcessed()` reports by default. Default `process_data`. */
  dataTable?: string;
  /** Run the migrations first. Default true. */
  migrate?: boolean;
}

/** Cycle results, operator feedback and the runner's progress. Safe for concurrent use. */
export interface ResultStore {
  /**
   * Inserts the result row and advances `runner_state.last_timestamp` in one transaction.
   * A second record of the same (unit, data table, data timestamp) is a no-op: returns false.
   * With `tx`, the writes join that open transaction (the fleet completes its job in it)
   * instead of opening one; a unit's record leaves `runner_state` alone (per data table only).
   */
  recordCycle(record: CycleRecord, tx?: Queryable): Promise<boolean>;
  /** The newest data timestamp recorded for the data table (default: the store's), or undefined. */
  lastProcessed(dataTable?: string): Promise<Date | undefined>;
  /** Results, newest data first. `since`: data timestamps at or after it. `limit` default 50, at most 1000. */
  recent(options?: RecentFilter): Promise<StoredResult[]>;
  /** One result with its feedback, or undefined. */
  get(id: number | string): Promise<(StoredResult & { feedback: StoredFeedback[] }) | undefined>;
  /** Records an operator's decision on a result; an unknown id is a DbError (UNKNOWN_RESULT). */
  addFeedback(id: number | string, feedback: FeedbackInput): Promise<StoredFeedback>;
}

/** Which results `recent` returns. */
export interface RecentFilter {
  since?: Date;
  limit?: number;
  status?: CycleStatus;
  /** Only this fleet unit's results ('' = the single-unit service's). */
  unit?: string;
}

const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toResult(r: Record<string, unknown>): StoredResult {
  return {
    id: Number(r.id),
    unit: (r.unit as string | undefined) ?? '',
    dataTable: r.data_table as string,
    dataTimestamp: r.data_timestamp as Date,
    status: r.status as CycleStatus,
    reason: (r.reason as string | null) ?? null,
    strategyVersion: (r.strategy_version as string | null) ?? null,
    modelChecksums: (r.model_checksums as Record<string, string> | null) ?? null,
    mode: (r.mode as string | null) ?? null,
    costAtCurrent: num(r.cost_at_current),
    costRecommended: num(r.cost_recommended),
    setpoints: r.setpoints ?? null,
    predictions: r.predictions ?? null,
    constraintScores: r.constraint_scores ?? null,
    optimizer: r.optimizer ?? null,
    substitutions: r.substitutions ?? null,
    skippedRows: Number(r.skipped_rows ?? 0),
    durationMs: num(r.duration_ms),
    createdAt: r.created_at as Date,
  };
}

function toFeedback(r: Record<string, unknown>): StoredFeedback {
  return {
    id: Number(r.id),
    resultId: Number(r.result_id),
    decision: r.decision as FeedbackDecision,
    operator: (r.operator as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    values: (r.values as Record<string, number> | null) ?? null,
    createdAt: r.created_at as Date,
  };
}

function resultId(id: number | string): number {
  const n = typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) {
    throw new DbError('INVALID_ARGUMENT', `Result id '${String(id)}' is not a positive integer.`);
  }
  return n;
}

/** po's tables, validated and quoted once. */
interface Tables {
  readonly names: TableNames;
  readonly results: string;
  readonly feedback: string;
  readonly state: string;
}

/** Opens the result store (running the migrations unless told not to). */
export async function createResultStore(
  db: Database,
  options: ResultStoreOptions = {},
): Promise<ResultStore> {
  const names: TableNames = { ...defaultTableNames, ...options.tables };
  const tables: Tables = {
    names,
    results: quoteIdent(names.results, 'results table'),
    feedback: quoteIdent(names.feedback, 'feedback table'),
    state: quoteIdent(names.runnerState, 'runner state table'),
  };
  const defaultDataTable = options.dataTable ?? 'process_data';
  if (options.migrate !== false) await migrate(db, names);

  return {
    recordCycle: (record, tx) => {
      const dataTable = record.dataTable ?? defaultDataTable;
      return tx
        ? writeCycle(tx, tables, record, dataTable)
        : db.transaction((t) => writeCycle(t, tables, record, dataTable));
    },
    async lastProcessed(dataTable = defaultDataTable) {
      const r = await db.query<{ last_timestamp: Date | null }>(
        `SELECT last_timestamp FROM ${tables.state} WHERE data_table = $1`,
        [dataTable],
      );
      return r.rows[0]?.last_timestamp ?? undefined;
    },
    recent: (filter = {}) => recentResults(db, tables, filter),
    async get(id) {
      const n = resultId(id);
      const r = await db.query(`SELECT * FROM ${tables.results} WHERE id = $1`, [n]);
      const row = r.rows[0];
      if (!row) return undefined;
      const f = await db.query(`SELECT * FROM ${tables.feedback} WHERE result_id = $1 ORDER BY id`, [n]);
      return { ...toResult(row), feedback: f.rows.map(toFeedback) };
    },
    addFeedback: (id, input) => addFeedback(db, tables, id, input),
  };
}

/** The result row and the runner's progress, in the caller's transaction; false when the cycle was recorded before. */
async function writeCycle(
  tx: Queryable,
  tables: Tables,
  record: CycleRecord,
  dataTable: string,
): Promise<boolean> {
  const at = record.dataTimestamp;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new DbError('INVALID_ARGUMENT', 'recordCycle needs a valid dataTimestamp (a Date).');
  }
  const { results, state } = tables;
  const unit = record.unit ?? '';
  const inserted = await tx.query(
    `INSERT INTO ${results} (data_table, data_timestamp, strategy_version, model_checksums, status, reason,
       mode, cost_at_current, cost_recommended, setpoints, predictions, constraint_scores, optimizer,
       substitutions, skipped_rows, duration_ms, unit)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12::jsonb, $13::jsonb,
       $14::jsonb, $15, $16, $17)
     ON CONFLICT (unit, data_table, data_timestamp) DO NOTHING
     RETURNING id`,
    [
      dataTable,
      at,
      record.strategyVersion ?? null,
      json(record.modelChecksums),
      record.status,
      record.reason ?? null,
      record.mode ?? null,
      finiteOrNull(record.costAtCurrent),
      finiteOrNull(record.costRecommended),
      json(record.setpoints),
      json(record.predictions),
      json(record.constraintScores),
      json(record.optimizer),
      json(record.substitutions),
      record.skippedRows ?? 0,
      finiteOrNull(record.durationMs),
      unit,
    ],
  );
  if (unit !== '') return inserted.rows.length > 0;
  // Advanced even when the row existed (a retry after a lost COMMIT acknowledgement); never moves back.
  await tx.query(
    `INSERT INTO ${state} (data_table, last_timestamp, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (data_table) DO UPDATE
       SET last_timestamp = GREATEST(${state}.last_timestamp, EXCLUDED.last_timestamp), updated_at = now()`,
    [dataTable, at],
  );
  return inserted.rows.length > 0;
}

async function recentResults(db: Database, tables: Tables, filter: RecentFilter): Promise<StoredResult[]> {
  const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 50), 1), 1000);
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.since) {
    params.push(filter.since);
    where.push(`data_timestamp >= $${params.length}`);
  }
  if (filter.status) {
    params.push(filter.status);
    where.push(`status = $${params.length}`);
  }
  if (filter.unit !== undefined) {
    params.push(filter.unit);
    where.push(`unit = $${params.length}`);
  }
  params.push(limit);
  const r = await db.query(
    `SELECT * FROM ${tables.results} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY data_timestamp DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return r.rows.map(toResult);
}

async function addFeedback(
  db: Database,
  tables: Tables,
  id: number | string,
  input: FeedbackInput,
): Promise<StoredFeedback> {
  const n = resultId(id);
  if (!DECISIONS.includes(input.decision)) {
    throw new DbError(
      'INVALID_ARGUMENT',
      `Feedback decision '${String(input.decision)}' is not one of ${DECISIONS.join(', ')}.`,
    );
  }
  const r = await db.query(
    `INSERT INTO ${tables.feedback} (result_id, decision, operator, reason, "values")
     SELECT $1, $2, $3, $4, $5::jsonb WHERE EXISTS (SELECT 1 FROM ${tables.results} WHERE id = $1)
     RETURNING *`,
    [n, input.decision, input.operator ?? null, input.reason ?? null, json(input.values)],
  );
  const row = r.rows[0];
  if (!row) {
    throw new DbError(
      'UNKNOWN_RESULT',
      `No result with id ${n} in "${tables.names.results}": feedback needs an existing result id.`,
    );
  }
  return toFeedback(row);
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
