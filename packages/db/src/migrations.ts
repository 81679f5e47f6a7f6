import { quoteIdent } from './identifiers.ts';
import type { Database } from './types.ts';

/** Names of po's tables; each is validated and quoted. */
export interface TableNames {
  /** Cycle results. Default `optimization_results` (`PO_RESULTS_TABLE`). */
  results: string;
  /** Operator feedback on results. Default `result_feedback`. */
  feedback: string;
  /** Last processed data timestamp per data table. Default `runner_state`. */
  runnerState: string;
  /** Replays over history: window, strategy, status, counts. Default `replays`. */
  replays: string;
  /** One cycle per (replay, data timestamp). Default `replay_results`. */
  replayResults: string;
  /** Who did what when: every deploy and every feedback from the dashboard or the API. Default `po_audit`. */
  audit: string;
  /** A fleet's model-plant mismatch tracker per unit, after each cycle. Default `po_unit_mismatch`. */
  unitMismatch: string;
}

export const defaultTableNames: Readonly<TableNames> = {
  results: 'optimization_results',
  feedback: 'result_feedback',
  runnerState: 'runner_state',
  replays: 'replays',
  replayResults: 'replay_results',
  audit: 'po_audit',
  unitMismatch: 'po_unit_mismatch',
};

/** The table recording which migrations ran (per results table, so that several table sets can share a schema). */
export const MIGRATIONS_TABLE = 'po_migrations';

interface Migration {
  id: string;
  statements: (t: Record<keyof TableNames, string>, raw: TableNames) => string[];
}

const migrations: Migration[] = [
  {
    id: '001_results_feedback_state',
    statements: (t, raw) => [
      `CREATE TABLE IF NOT EXISTS ${t.results} (
        id bigserial PRIMARY KEY,
        data_table text NOT NULL,
        data_timestamp timestamptz NOT NULL,
        strategy_version text,
        model_checksums jsonb,
        status text NOT NULL CHECK (status IN ('ok', 'skipped', 'failed')),
        reason text,
        mode text,
        cost_at_current double precision,
        cost_recommended double precision,
        setpoints jsonb,
        predictions jsonb,
        constraint_scores jsonb,
        optimizer jsonb,
        substitutions jsonb,
        skipped_rows integer NOT NULL DEFAULT 0,
        duration_ms double precision,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (data_table, data_timestamp)
      )`,
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${raw.results}_created_at_idx`.slice(0, 63))} ON ${t.results} (created_at)`,
      `CREATE TABLE IF NOT EXISTS ${t.feedback} (
        id bigserial PRIMARY KEY,
        result_id bigint NOT NULL REFERENCES ${t.results} (id) ON DELETE CASCADE,
        decision text NOT NULL CHECK (decision IN ('accepted', 'rejected', 'modified')),
        operator text,
        reason text,
        "values" jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${raw.feedback}_result_id_idx`.slice(0, 63))} ON ${t.feedback} (result_id)`,
      `CREATE TABLE IF NOT EXISTS ${t.runnerState} (
        data_table text PRIMARY KEY,
        last_timestamp timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
    ],
  },
  {
    // Model trust (training domains, model-plant mismatch, bias correction) of each cycle.
    id: '002_results_model_trust',
    statements: (t) => [`ALTER TABLE ${t.results} ADD COLUMN IF NOT EXISTS model_trust jsonb`],
  },
  {
    // Replays (issue 10): a strategy run over a window of plant history, each cycle stored once.
    id: '003_replays',
    statements: (t, raw) => [
      `CREATE TABLE IF NOT EXISTS ${t.replays} (
        id text PRIMARY KEY,
        data_table text NOT NULL,
        window_from timestamptz NOT NULL,
        window_to timestamptz NOT NULL,
        every integer NOT NULL CHECK (every >= 1),
        strategy_version text,
        strategy_source text,
        strategy_key text NOT NULL,
        status text NOT NULL CHECK (status IN ('running', 'interrupted', 'done', 'failed')),
        reason text,
        rows_in_window integer,
        counts jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE IF NOT EXISTS ${t.replayResults} (
        replay_id text NOT NULL REFERENCES ${t.replays} (id) ON DELETE CASCADE,
        data_timestamp timestamptz NOT NULL,
        status text NOT NULL CHECK (status IN ('ok', 'skipped', 'failed')),
        reason text,
        mode text,
        held boolean,
        cost_at_current double precision,
        cost_recommended double precision,
        decisions jsonb,
        setpoints jsonb,
        predictions jsonb,
        constraint_scores jsonb,
        optimizer jsonb,
        substitutions jsonb,
        models jsonb,
        duration_ms double precision,
        PRIMARY KEY (replay_id, data_timestamp)
      )`,
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${raw.replays}_created_at_idx`.slice(0, 63))} ON ${t.replays} (created_at)`,
    ],
  },
  {
    // The dashboard's Now view shows bounds and why each variable sits where it does; every deploy and
    // feedback is audited.
    id: '004_decisions_explanation_audit',
    statements: (t, raw) => [
      `ALTER TABLE ${t.results} ADD COLUMN IF NOT EXISTS decision_variables jsonb`,
      `ALTER TABLE ${t.results} ADD COLUMN IF NOT EXISTS explanation jsonb`,
      `CREATE TABLE IF NOT EXISTS ${t.audit} (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        role text NOT NULL,
        action text NOT NULL,
        target text NOT NULL,
        detail jsonb
      )`,
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${raw.audit}_at_idx`.slice(0, 63))} ON ${t.audit} (at)`,
    ],
  },
  {
    // The fleet (@po/fleet): a result belongs to a unit; each (unit, data table, data timestamp) is recorded once.
    // Single-unit results keep unit '' and stay unique per (data table, data timestamp) as before.
    id: '005_results_unit',
    statements: (t, raw) => [
      `ALTER TABLE ${t.results} ADD COLUMN IF NOT EXISTS unit text NOT NULL DEFAULT ''`,
      `CREATE UNIQUE INDEX IF NOT EXISTS ${quoteIdent(`${raw.results}_unit_cycle_key`.slice(0, 63))}
         ON ${t.results} (unit, data_table, data_timestamp)`,
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${raw.results}_unit_idx`.slice(0, 63))}
         ON ${t.results} (unit, data_timestamp DESC)`,
      `DO $$ DECLARE c text; BEGIN
         SELECT conname INTO c FROM pg_constraint
          WHERE conrelid = '${t.results.replace(/'/g, "''")}'::regclass AND contype = 'u'
            AND pg_get_constraintdef(oid) = 'UNIQUE (data_table, data_timestamp)';
         IF c IS NOT NULL THEN EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', '${t.results.replace(/'/g, "''")}', c); END IF;
       END $$`,
    ],
  },
  {
    // Replay reports compare each prediction with what the plant did next (issue 10): the readings of the
    // measuring columns per replayed cycle, and per replay which predictions are compared and how.
    id: '006_replay_prediction_error',
    statements: (t) => [
      `ALTER TABLE ${t.replayResults} ADD COLUMN IF NOT EXISTS measured jsonb`,
      `ALTER TABLE ${t.replays} ADD COLUMN IF NOT EXISTS prediction_checks jsonb`,
    ],
  },
  {
    // The fleet's model-plant mismatch tracker per unit (issue 12 with issue 10): its state after each of
    // the unit's cycles, written in the transaction that records the cycle (insert only: no lock between
    // units or cycles), so that the next cycle continues from it on any worker and a retried job does not
    // advance it twice. The worker prunes states no cycle can need any more.
    id: '007_fleet_unit_mismatch',
    statements: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.unitMismatch} (
        unit text NOT NULL,
        data_timestamp timestamptz NOT NULL,
        strategy_version text,
        tracker jsonb NOT NULL,
        models jsonb NOT NULL,
        forced_monitor text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (unit, data_timestamp)
      )`,
    ],
  },
];

/**
 * Creates or upgrades po's tables. Idempotent; each migration runs once per results table
 * and is recorded in `po_migrations`; concurrent callers are serialized by an advisory lock.
 * Returns the ids of the migrations that ran now.
 */
export async function migrate(db: Database, names: Partial<TableNames> = {}): Promise<string[]> {
  const raw: TableNames = { ...defaultTableNames, ...names };
  const t = {
    results: quoteIdent(raw.results, 'results table'),
    feedback: quoteIdent(raw.feedback, 'feedback table'),
    runnerState: quoteIdent(raw.runnerState, 'runner state table'),
    replays: quoteIdent(raw.replays, 'replays table'),
    replayResults: quoteIdent(raw.replayResults, 'replay results table'),
    audit: quoteIdent(raw.audit, 'audit table'),
    unitMismatch: quoteIdent(raw.unitMismatch, 'unit mismatch table'),
  };
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('po/db migrations'))");
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const ran: string[] = [];
    for (const m of migrations) {
      const id = `${raw.results}/${m.id}`;
      const done = await tx.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE id = $1`, [id]);
      if (done.rows.length > 0) continue;
      for (const sql of m.statements(t, raw)) await tx.query(sql);
      await tx.query(`INSERT INTO ${MIGRATIONS_TABLE} (id) VALUES ($1)`, [id]);
      ran.push(id);
    }
    return ran;
  });
}
