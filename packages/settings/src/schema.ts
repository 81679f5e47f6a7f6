import { availableParallelism } from 'node:os';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().positive();
const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be a SQL identifier (letters, digits, _)' });
const optionalText = z
  .string()
  .transform((s) => (s.trim() === '' ? undefined : s))
  .nullish()
  .transform((s) => s ?? undefined);

/** A positive whole-number bound with its default. */
const count = (fallback: number, description: string) =>
  z.coerce.number().int().positive().default(fallback).describe(description);
/** Worker threads by default: one per CPU but one (the event loop's), at least one. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Every setting of the po service; defaults are the embedded demo's. */
export const settingsSchema = z
  .object({
    mode: z
      .enum(['hybrid', 'api', 'continuous', 'worker'])
      .default('hybrid')
      .describe('What `po start` runs (worker: fleet cycles only, needs PostgreSQL).'),
    api: z
      .object({
        host: z.string().min(1).default('127.0.0.1').describe('Address the HTTP API listens on.'),
        port: port.default(5000).describe('Port of the HTTP API (the predecessor used 5000).'),
        token: optionalText.describe(
          'When set, every route but /health and /metrics needs Authorization: Bearer <token>.',
        ),
        viewer_token: optionalText.describe(
          'Token of the viewer role: reads the dashboard and the API (GET) only. Bearer token or dashboard login.',
        ),
        operator_token: optionalText.describe(
          'Token of the operator role: viewer rights plus accepting or rejecting recommendations (feedback).',
        ),
        engineer_token: optionalText.describe(
          'Token of the engineer role: operator rights plus deploying strategy versions. api.token has these rights too.',
        ),
        users: z
          .array(
            z
              .object({
                name: z.string().min(1).max(80).describe('Shown in the audit log as who did it.'),
                role: z.enum(['viewer', 'operator', 'engineer']).describe('What this user may do.'),
                token: z
                  .string()
                  .min(16)
                  .describe("This user's token (at least 16 characters; never printed)."),
              })
              .strict(),
          )
          .default([])
          .describe(
            'Named users, each with a role and a token (config/app.yaml only), so the audit log names people.',
          ),
        body_limit_bytes: z.coerce
          .number()
          .int()
          .positive()
          .default(1_048_576)
          .describe('Largest request body.'),
        request_timeout_ms: positive.default(10_000).describe('Time limit of one optimization request.'),
        threads: z.coerce
          .number()
          .int()
          .min(1)
          .max(64)
          .default(() => defaultThreads())
          .describe(
            'Worker threads that run cycles. Default: CPUs - 1 (at least 1), leaving one to the event loop.',
          ),
      })
      .prefault({}),
    limits: z
      .object({
        strategy_bytes: count(1_048_576, 'Largest strategy text (YAML or JSON), in bytes.'),
        nesting: count(64, 'Deepest nesting of mappings and sequences in a strategy or a JSON body.'),
        yaml_aliases: count(1_000, 'Most YAML aliases resolved in a strategy (an alias bomb is refused).'),
        variables: count(1_000, 'Most variables in a strategy.'),
        skills: count(1_000, 'Most skills in a strategy.'),
        formula_chars: count(10_000, 'Longest formula, in characters (refused before it is compiled).'),
        population: count(1_000, 'Largest optimizer population_size.'),
        iterations: count(10_000, 'Largest optimizer maxiter.'),
        evaluations: count(1_000_000, 'Largest optimizer max_evaluations.'),
        optimizer_time_ms: count(60_000, 'Largest optimizer max_time_ms.'),
        worker_memory_mb: count(
          1_024,
          'Heap of one worker thread, in MiB; a task past it ends its worker (422) instead of the process.',
        ),
      })
      .prefault({})
      .describe('Bounds on what one request or strategy can make po do.'),
    runner: z
      .object({
        cycle_interval_s: positive.default(60).describe('Seconds between cycles.'),
        data_table: identifier.default('process_data').describe('Table with the plant data (wide format).'),
        results_table: identifier
          .default('optimization_results')
          .describe('Table where every cycle is recorded.'),
        mode: z
          .enum(['advisory', 'monitor'])
          .optional()
          .describe("Overrides the strategy's mode: advisory (recommend) or monitor (predictions only)."),
      })
      .prefault({}),
    database: z
      .object({
        url: optionalText.describe('PostgreSQL URL; unset: embedded PGlite under pglite_dir.'),
        pglite_dir: z.string().min(1).default('data/pglite').describe('Folder of the embedded database.'),
        query_timeout_ms: positive
          .default(30_000)
          .describe(
            'Longest SQL statement (PostgreSQL statement_timeout); a connection silent 1 s longer (a half-open link) is dropped and replaced.',
          ),
        connect_timeout_ms: positive.default(5_000).describe('Time to wait for a new PostgreSQL connection.'),
        connect_retries: z.coerce
          .number()
          .int()
          .min(0)
          .max(100)
          .default(4)
          .describe(
            'Retries of an unreachable database (backoff 0.1 s doubling up to 2 s) before a call fails; at start, po then exits 1.',
          ),
        schema: identifier
          .default('public')
          .describe("Schema of po's tables on PostgreSQL (created when missing)."),
      })
      .prefault({}),
    fleet: z
      .object({
        enabled: z
          .union([z.boolean(), z.enum(['true', 'false'])])
          .default(false)
          .transform((v) => v === true || v === 'true')
          .describe(
            'Run the fleet of units (config/units.yaml) instead of the single runner; needs PostgreSQL.',
          ),
        units_file: z
          .string()
          .min(1)
          .default('config/units.yaml')
          .describe('Units file, loaded into the database when a fleet worker starts (when it exists).'),
        concurrency: z.coerce
          .number()
          .int()
          .min(1)
          .max(256)
          .default(4)
          .describe('Cycles one fleet worker runs at once.'),
        max_late_s: positive
          .default(300)
          .describe('A cycle whose data is older than this when taken is dropped and counted, not run.'),
        expire_s: z.coerce
          .number()
          .int()
          .min(1)
          .default(30)
          .describe(
            'Seconds before a cycle taken by a dead worker goes to another (also the longest cycle).',
          ),
        queue_schema: identifier.default('pgboss').describe("Schema of pg-boss's job tables."),
      })
      .prefault({}),
    store: z
      .object({
        kind: z.enum(['local', 's3']).default('local').describe('Where strategies and models are stored.'),
        local_dir: z
          .string()
          .min(1)
          .default('store')
          .describe('Folder of the local store (laid out like the bucket).'),
        bucket: z.string().min(3).default('process-optimization').describe('S3 bucket.'),
        s3_endpoint: optionalText.describe('S3 endpoint, e.g. http://127.0.0.1:9000 (MinIO).'),
        s3_access_key: optionalText.describe('S3 access key.'),
        s3_secret_key: optionalText.describe('S3 secret key (never printed).'),
        s3_region: z.string().min(1).default('us-east-1').describe('S3 region.'),
      })
      .prefault({}),
    strategy: z
      .object({
        file: optionalText.describe(
          "A strategy YAML on disk, served and run as the deployed strategy instead of the store's deployed version (reloaded when it changes).",
        ),
        models_dir: optionalText.describe(
          "Folder the strategy file's model paths resolve against (laid out like the bucket). Default: the strategy file's folder.",
        ),
        version: optionalText.describe(
          "Version reported for the strategy file. Default: the file's `version` key, else sha256:<12 hex> of its text.",
        ),
      })
      .prefault({}),
    metadata_dir: z
      .string()
      .min(1)
      .default('metadata')
      .describe('Folder of deployed_config_version.yaml and last_run_timestamp.yaml.'),
    log: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info')
          .describe('Lowest level logged.'),
        pretty: z
          .enum(['auto', 'true', 'false'])
          .default('auto')
          .describe('Human-readable logs (auto: on a terminal).'),
        dir: optionalText.describe(
          'When set, also write daily log files here (as the predecessor did under logs/).',
        ),
      })
      .prefault({}),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;

/** Environment variables and the setting each one overrides. */
export const ENVIRONMENT: readonly (readonly [string, string])[] = [
  ['PO_MODE', 'mode'],
  ['PO_HOST', 'api.host'],
  ['PO_PORT', 'api.port'],
  ['PO_API_TOKEN', 'api.token'],
  ['PO_VIEWER_TOKEN', 'api.viewer_token'],
  ['PO_OPERATOR_TOKEN', 'api.operator_token'],
  ['PO_ENGINEER_TOKEN', 'api.engineer_token'],
  ['PO_BODY_LIMIT_BYTES', 'api.body_limit_bytes'],
  ['PO_REQUEST_TIMEOUT_MS', 'api.request_timeout_ms'],
  ['PO_THREADS', 'api.threads'],
  ['PO_LIMIT_STRATEGY_BYTES', 'limits.strategy_bytes'],
  ['PO_LIMIT_NESTING', 'limits.nesting'],
  ['PO_LIMIT_YAML_ALIASES', 'limits.yaml_aliases'],
  ['PO_LIMIT_VARIABLES', 'limits.variables'],
  ['PO_LIMIT_SKILLS', 'limits.skills'],
  ['PO_LIMIT_FORMULA_CHARS', 'limits.formula_chars'],
  ['PO_LIMIT_POPULATION', 'limits.population'],
  ['PO_LIMIT_ITERATIONS', 'limits.iterations'],
  ['PO_LIMIT_EVALUATIONS', 'limits.evaluations'],
  ['PO_LIMIT_OPTIMIZER_TIME_MS', 'limits.optimizer_time_ms'],
  ['PO_LIMIT_WORKER_MEMORY_MB', 'limits.worker_memory_mb'],
  ['PO_CYCLE_INTERVAL_S', 'runner.cycle_interval_s'],
  ['PO_DATA_TABLE', 'runner.data_table'],
  ['PO_RESULTS_TABLE', 'runner.results_table'],
  ['PO_RUNNER_MODE', 'runner.mode'],
  ['DATABASE_URL', 'database.url'],
  ['PO_PGLITE_DIR', 'database.pglite_dir'],
  ['PO_DB_QUERY_TIMEOUT_MS', 'database.query_timeout_ms'],
  ['PO_DB_CONNECT_TIMEOUT_MS', 'database.connect_timeout_ms'],
  ['PO_DB_CONNECT_RETRIES', 'database.connect_retries'],
  ['PO_DATABASE_SCHEMA', 'database.schema'],
  ['PO_FLEET', 'fleet.enabled'],
  ['PO_UNITS_FILE', 'fleet.units_file'],
  ['PO_FLEET_CONCURRENCY', 'fleet.concurrency'],
  ['PO_FLEET_MAX_LATE_S', 'fleet.max_late_s'],
  ['PO_FLEET_EXPIRE_S', 'fleet.expire_s'],
  ['PO_FLEET_QUEUE_SCHEMA', 'fleet.queue_schema'],
  ['PO_STORE', 'store.kind'],
  ['PO_LOCAL_STORE_DIR', 'store.local_dir'],
  ['PO_BUCKET', 'store.bucket'],
  ['PO_S3_ENDPOINT', 'store.s3_endpoint'],
  ['AWS_ACCESS_KEY_ID', 'store.s3_access_key'],
  ['PO_S3_ACCESS_KEY', 'store.s3_access_key'],
  ['AWS_SECRET_ACCESS_KEY', 'store.s3_secret_key'],
  ['PO_S3_SECRET_KEY', 'store.s3_secret_key'],
  ['PO_S3_REGION', 'store.s3_region'],
  ['PO_STRATEGY_FILE', 'strategy.file'],
  ['PO_MODELS_DIR', 'strategy.models_dir'],
  ['PO_STRATEGY_VERSION', 'strategy.version'],
  ['PO_METADATA_DIR', 'metadata_dir'],
  ['PO_LOG_LEVEL', 'log.level'],
  ['PO_LOG_PRETTY', 'log.pretty'],
  ['PO_LOG_DIR', 'log.dir'],
];

/**
 * Old names that still work, each with the variable that replaces it. Each one read gives a
 * warning naming the new one; when both are set, the new one wins.
 */
export const DEPRECATED_ENVIRONMENT: readonly (readonly [string, string])[] = [
  ['PO_STRATEGY', 'PO_STRATEGY_FILE'],
  ['PO_DATA_DIR', 'PO_PGLITE_DIR'],
  ['PO_API_HOST', 'PO_HOST'],
  ['PO_API_PORT', 'PO_PORT'],
  ['PO_API_THREADS', 'PO_THREADS'],
  ['PO_API_BODY_LIMIT_BYTES', 'PO_BODY_LIMIT_BYTES'],
  ['PO_API_REQUEST_TIMEOUT_MS', 'PO_REQUEST_TIMEOUT_MS'],
];

/** Settings never printed. */
export const SECRETS: readonly string[] = [
  'api.token',
  'api.viewer_token',
  'api.operator_token',
  'api.engineer_token',
  'api.users',
  'store.s3_secret_key',
  'database.url',
];
