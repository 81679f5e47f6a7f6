import { DbError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import { defaultTableNames, migrate, type TableNames } from './migrations.ts';
import { type ExactTime, exactTimeSql, timeParameter } from './process-data.ts';
import type { Database, Queryable } from './types.ts';

export type CycleStatus = 'ok' | 'skipped' | 'failed';
export type FeedbackDecision = 'accepted' | 'rejected' | 'modified';
const DECISIONS: readonly FeedbackDecision[] = ['accepted', 'rejected', 'modified'];

/** One cycle, as the runner records it. JSON fields are stored as jsonb. */
export interface CycleRecord {
  /** Timestamp of the plant row the cycle ran on, to the millisecond (`dataTime` when known is exact). */
  dataTimestamp: Date;
  /** The plant row's timestamp exactly (microseconds); with the data table, the cycle's identity. Stored instead of `dataTimestamp` when given. */
  dataTime?: ExactTime | undefined;
  /** The data table the row came from. Default: the store's `dataTable`. */
  dataTable?: string;
  /** The fleet unit the cycle ran for (`@po/fleet`); '' (the default) is the single-unit service. */
  unit?: string;
  status: CycleStatus;
  /**
   * Why a cycle was skipped or failed (an error message, never a stack); for an ok cycle, why it
   * ran in monitor mode when a bad critical model forced it (model-plant mismatch), else none.
   */
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
  /** The decision variables: current, recommended, bounds of this cycle and the bound each sits on. */
  decisionVariables?: unknown;
  /** Why the recommendation is what it is (the engine's `explanation`). */
  explanation?: unknown;
  optimizer?: unknown;
  /** Input validation: readings replaced by their last good value, and the rules that skipped the cycle. */
  substitutions?: unknown;
  /** Newer rows than the last processed one that this cycle did not run on (it takes the newest). */
  skippedRows?: number;
  durationMs?: number | null;
  /** The cycle result's `model_trust` (training domains, model-plant mismatch, bias correction per model). */
  modelTrust?: unknown;
}

/** A stored cycle result. */
export interface StoredResult {
  id: number;
  /** The fleet unit, '' for the single-unit service. */
  unit: string;
  dataTable: string;
  dataTimestamp: Date;
  /** `data_timestamp` exactly (microseconds). */
  dataTime: ExactTime;
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
  decisionVariables: unknown;
  explanation: unknown;
  optimizer: unknown;
  substitutions: unknown;
  skippedRows: number;
  durationMs: number | null;
  /** The cycle result's `model_trust`, when the cycle ran. */
  modelTrust: unknown;
  createdAt: Date;
  /** The newest operator feedback on this result (in `recent`), or null. */
  lastFeedback?: { decision: FeedbackDecision; operator: string | null; reason: string | null } | null;
}

/** Who did what, when (every deploy and every feedback). */
export interface AuditEntry {
  /** The user's name, or the role when the token is a role token (`operator`), or `anonymous`. */
  actor: string;
  role: string;
  /** `feedback`, `deploy`, `rollback`. */
  action: string;
  /** What it was done to: `result 42`, `strategy 1.2.0`. */
  target: string;
  detail?: Record<string, unknown> | null;
}

export interface StoredAuditEntry extends AuditEntry {
  id: number;
  at: Date;
  detail: Record<string, unknown> | null;
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
  /** The same, exactly (microseconds): what the runner resumes after. */
  lastProcessedTime(dataTable?: string): Promise<ExactTime | undefined>;
  /**
   * Results, newest data first, each with its newest feedback. `since`/`until`: data timestamps at
   * or after / at or before. `limit` default 50, at most 20,000.
   */
  recent(options?: RecentQuery): Promise<StoredResult[]>;
  /** One result with its feedback, or undefined. */
  get(id: number | string): Promise<(StoredResult & { feedback: StoredFeedback[] }) | undefined>;
  /**
   * Records an operator's decision on a result; an unknown id is a DbError (UNKNOWN_RESULT). With
   * `by`, an audit entry is written in the same transaction.
   */
  addFeedback(id: number | string, feedback: FeedbackInput, by?: Actor): Promise<StoredFeedback>;
  /** Writes an audit entry (a deploy, a rollback). */
  audit(entry: AuditEntry): Promise<StoredAuditEntry>;
  /** The newest audit entries first, at most `limit` (default 100, at most 1000). */
  auditLog(limit?: number): Promise<StoredAuditEntry[]>;
}

/** Who acts, for the audit log. */
export interface Actor {
  actor: string;
  role: string;
}

/** Which results `recent` returns. */
export interface RecentQuery {
  since?: Date;
  until?: Date;
  limit?: number;
  status?: CycleStatus;
  /** Only this fleet unit's results ('' = the single-unit service's). */
  unit?: string;
}

/** Every column, and `data_timestamp` exactly as text. */
const RESULT_COLUMNS = `*, ${exactTimeSql('data_timestamp')} AS po_data_time`;

const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toResult(r: Record<string, unknown>): StoredResult {
  return {
    id: Number(r.id),
    unit: (r.unit as string | undefined) ?? '',
    dataTable: r.data_table as string,
    dataTimestamp: r.data_timestamp as Date,
    dataTime: r.po_data_time as string,
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
    decisionVariables: r.decision_variables ?? null,
    explanation: r.explanation ?? null,
    optimizer: r.optimizer ?? null,
    substitutions: r.substitutions ?? null,
    skippedRows: Number(r.skipped_rows ?? 0),
    durationMs: num(r.duration_ms),
    modelTrust: r.model_trust ?? null,
    createdAt: r.created_at as Date,
    ...(r.feedback_decision !== undefined
      ? {
          lastFeedback: r.feedback_decision
            ? {
                decision: r.feedback_decision as FeedbackDecision,
                operator: (r.feedback_operator as string | null) ?? null,
                reason: (r.feedback_reason as string | null) ?? null,
              }
            : null,
        }
      : {}),
  };
}

function toAudit(r: Record<string, unknown>): StoredAuditEntry {
  return {
    id: Number(r.id),
    at: r.at as Date,
    actor: r.actor as string,
    role: r.role as string,
    action: r.action as string,
    target: r.target as string,
    detail: (r.detail as Record<string, unknown> | null) ?? null,
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
  readonly audit: string;
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
    audit: quoteIdent(names.audit, 'audit table'),
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
    async lastProcessedTime(dataTable = defaultDataTable) {
      const r = await db.query<{ t: string | null }>(
        `SELECT ${exactTimeSql('last_timestamp')} AS t FROM ${tables.state} WHERE data_table = $1`,
        [dataTable],
      );
      return r.rows[0]?.t ?? undefined;
    },
    recent: (filter = {}) => recentResults(db, tables, filter),
    async get(id) {
      const n = resultId(id);
      const r = await db.query(`SELECT ${RESULT_COLUMNS} FROM ${tables.results} WHERE id = $1`, [n]);
      const row = r.rows[0];
      if (!row) return undefined;
      const f = await db.query(`SELECT * FROM ${tables.feedback} WHERE result_id = $1 ORDER BY id`, [n]);
      return { ...toResult(row), feedback: f.rows.map(toFeedback) };
    },
    addFeedback: (id, input, by) => addFeedback(db, tables, id, input, by),
    audit: (entry) => writeAudit(db, tables, entry),
    async auditLog(limit = 100) {
      const n = Math.min(Math.max(Math.trunc(limit), 1), 1000);
      const r = await db.query(`SELECT * FROM ${tables.audit} ORDER BY at DESC, id DESC LIMIT $1`, [n]);
      return r.rows.map(toAudit);
    },
  };
}

/** The result row and the runner's progress, in the caller's transaction; false when the cycle was recorded before. */
async function writeCycle(
  tx: Queryable,
  tables: Tables,
  record: CycleRecord,
  dataTable: string,
): Promise<boolean> {
  if (!(record.dataTimestamp instanceof Date) || Number.isNaN(record.dataTimestamp.getTime())) {
    throw new DbError('INVALID_ARGUMENT', 'recordCycle needs a valid dataTimestamp (a Date).');
  }
  const at =
    record.dataTime === undefined ? record.dataTimestamp : timeParameter(record.dataTime, 'dataTime');
  const { results, state } = tables;
  const unit = record.unit ?? '';
  const inserted = await tx.query(
    `INSERT INTO ${results} (data_table, data_timestamp, strategy_version, model_checksums, status, reason,
       mode, cost_at_current, cost_recommended, setpoints, predictions, constraint_scores, optimizer,
       substitutions, skipped_rows, duration_ms, model_trust, decision_variables, explanation, unit)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12::jsonb, $13::jsonb,
       $14::jsonb, $15, $16, $17::jsonb, $18::jsonb, $19::jsonb, $20)
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
      json(record.modelTrust),
      json(record.decisionVariables),
      json(record.explanation),
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

async function recentResults(db: Database, tables: Tables, filter: RecentQuery): Promise<StoredResult[]> {
  const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 50), 1), 20_000);
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.since) {
    params.push(filter.since);
    where.push(`data_timestamp >= $${params.length}`);
  }
  if (filter.until) {
    params.push(filter.until);
    where.push(`data_timestamp <= $${params.length}`);
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
    `SELECT r.*, ${exactTimeSql('r.data_timestamp')} AS po_data_time, f.decision AS feedback_decision, f.operator AS feedback_operator, f.reason AS feedback_reason
     FROM ${tables.results} r
     LEFT JOIN LATERAL (SELECT decision, operator, reason FROM ${tables.feedback} WHERE result_id = r.id
       ORDER BY id DESC LIMIT 1) f ON true
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
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
  by?: Actor,
): Promise<StoredFeedback> {
  const n = resultId(id);
  if (!DECISIONS.includes(input.decision)) {
    throw new DbError(
      'INVALID_ARGUMENT',
      `Feedback decision '${String(input.decision)}' is not one of ${DECISIONS.join(', ')}.`,
    );
  }
  return db.transaction(async (tx) => {
    const r = await tx.query(
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
    const feedback = toFeedback(row);
    if (by) {
      await writeAudit(tx, tables, {
        ...by,
        action: 'feedback',
        target: `result ${n}`,
        detail: { decision: feedback.decision, reason: feedback.reason, feedback_id: feedback.id },
      });
    }
    return feedback;
  });
}

async function writeAudit(db: Queryable, tables: Tables, entry: AuditEntry): Promise<StoredAuditEntry> {
  for (const key of ['actor', 'role', 'action', 'target'] as const) {
    if (typeof entry[key] !== 'string' || entry[key].trim() === '') {
      throw new DbError('INVALID_ARGUMENT', `Audit entry needs a non-empty ${key}.`);
    }
  }
  const r = await db.query(
    `INSERT INTO ${tables.audit} (actor, role, action, target, detail) VALUES ($1, $2, $3, $4, $5::jsonb)
     RETURNING *`,
    [entry.actor, entry.role, entry.action, entry.target, json(entry.detail)],
  );
  return toAudit(r.rows[0]!);
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
