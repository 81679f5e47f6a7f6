/**
 * Every request and response of the API as one zod schema each: requests are validated with them,
 * the OpenAPI document is generated from them, and the TypeScript types below are inferred from
 * them. (The cycle result's schema is `cycleResultSchema` of @po/rto-engine.)
 */
import type { SourceStatus } from '@po/core';
import type { StrategyIssue } from '@po/rto-engine';
import { z } from 'zod';

// --- Requests ---

/** A plant state: variable name -> number (numeric strings are accepted, as the predecessor did). */
export const plantStateSchema = z
  .record(z.string(), z.union([z.number(), z.string(), z.null()]))
  .describe('Plant state: variable name -> current value (numbers; numeric strings are accepted).');

/** A strategy in a request: YAML text, or the same structure as a JSON object. */
export const strategyInputSchema = z
  .union([z.string().min(1), z.record(z.string(), z.unknown())])
  .describe('A strategy: YAML text, or the same structure as a JSON object (variables, skills, tasks).');

export const optimizeRequestSchema = z
  .object({
    input_data: plantStateSchema,
    config: strategyInputSchema
      .optional()
      .describe('Run this strategy instead of the deployed one (compiled once per distinct content).'),
  })
  .describe('POST /optimize body (the predecessor’s).');

export const simulateRequestSchema = z
  .object({
    input_data: plantStateSchema,
    decisions: z
      .record(z.string(), z.number())
      .optional()
      .describe('Decision variable -> value to evaluate; the others hold their current values.'),
    config: strategyInputSchema.optional().describe('Evaluate this strategy instead of the deployed one.'),
  })
  .describe('POST /simulate body: a what-if evaluation without optimizing.');

export const feedbackRequestSchema = z
  .object({
    decision: z
      .enum(['accepted', 'rejected', 'modified'])
      .describe('What the operator did with the recommendation.'),
    operator: z.string().min(1).max(200).describe('Who decided (name or id).'),
    reason: z.string().max(2000).optional().describe('Why, in the operator’s words.'),
    values: z
      .record(z.string(), z.number())
      .optional()
      .describe('The setpoints actually applied (for `modified`).'),
  })
  .describe('POST /results/{id}/feedback body.');

export const resultsQuerySchema = z.object({
  since: z.iso.datetime({ offset: true }).optional().describe('Only results at or after this ISO 8601 time.'),
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('At most this many results (1-500).'),
});

export const cacheClearRequestSchema = z
  .object({
    kind: z.string().optional().describe('Clear only this kind (strategy, model, scaler, metadata).'),
    cache_type: z.string().optional().describe('Alias of `kind`.'),
  })
  .describe('POST /cache/clear body (optional).');

// --- Responses ---

/** One problem, with where it is (`skills.x.config.formula`, `input_data`). */
export const issueSchema = z.object({
  path: z.string(),
  message: z.string(),
  code: z
    .literal('LIMIT_EXCEEDED')
    .optional()
    .describe('Set when the strategy is refused for a bound (`limits.*`), not for a mistake in it.'),
});

export const errorResponseSchema = z
  .object({
    status: z.literal('error'),
    timestamp: z.string().describe('When the answer was made (ISO 8601; the predecessor’s field).'),
    error: z.string().describe('What went wrong and what to do.'),
    error_type: z.string().describe('The kind of failure (the predecessor’s field): the same as `code`.'),
    code: z.string().optional().describe('Stable machine-readable code (STRATEGY_INVALID, TIMEOUT, ...).'),
    details: z.array(issueSchema).optional().describe('Every problem, with where it is.'),
  })
  .describe('Every error response.');

export const validationResponseSchema = z
  .object({
    valid: z.boolean(),
    errors: z.array(issueSchema),
    warnings: z.array(issueSchema),
  })
  .describe('POST /strategies/validate answer: every error and warning.');

export const deployedResponseSchema = z
  .object({
    status: z.literal('success'),
    version: z.string().nullable(),
    decision_variables: z.array(z.string()),
    warnings: z.array(issueSchema),
    model_files: z.array(
      z.object({ skill: z.string(), role: z.string(), path: z.string(), sha256: z.string() }),
    ),
    source: z.string().nullable().describe('Where strategies come from (no secrets).'),
    loaded_at: z.string().nullable(),
  })
  .describe('GET /strategies/deployed answer.');

export const sourceStatusSchema = z
  .object({
    state: z
      .enum(['loaded', 'loading', 'none', 'error'])
      .describe(
        '`loaded`: a strategy is ready; `loading`: the first one is being fetched or compiled; `none`: nothing deployed; `error`: the last load failed.',
      ),
    version: z.string().nullable().describe('The deployed version, when known.'),
    source: z
      .string()
      .optional()
      .describe('Where strategies come from (`local:/srv/po/store`, `s3://bucket`); no secrets.'),
    loadedAt: z.string().optional().describe('ISO time the current strategy was loaded.'),
    error: z
      .string()
      .optional()
      .describe(
        'The last load error (message only). With `state: loaded` the previous strategy is still served.',
      ),
  })
  .describe('How the deployed strategy is.') satisfies z.ZodType<SourceStatus>;

export const poolStatsSchema = z
  .object({
    threads: z.number(),
    queued: z.number().describe('Tasks waiting for a worker.'),
    running: z.number().describe('Tasks being run.'),
    completed: z.number(),
    utilization: z.number().describe('Share of the time workers were busy since the pool started (0..1).'),
  })
  .describe('Load figures of the cycle pool.');

/** How a cycle ended, as a metric label and in `/health`. */
export const cycleOutcomeSchema = z.enum([
  'success',
  'timed_out',
  'invalid',
  'failed',
  'timeout',
  'unavailable',
  'error',
]);

export const lastCycleSchema = z.object({
  at: z.string(),
  mode: z.string(),
  status: cycleOutcomeSchema,
  duration_ms: z.number(),
  config_version: z.string().nullable(),
  source: z.enum(['deployed', 'request']),
});

export const healthResponseSchema = z
  .looseObject({
    status: z
      .enum(['healthy', 'degraded'])
      .describe(
        'healthy (the predecessor’s value; its clients test it) or degraded, with `degraded_reasons`.',
      ),
    timestamp: z.string(),
    cache_stats: z
      .object({
        config_version: z.string().nullable().describe('The deployed strategy version.'),
        cached_timestamp: z.string().nullable().describe('The last-run timestamp the cache holds.'),
        total_cached_items: z.number().describe('Live (unexpired) cache entries.'),
      })
      .describe('The predecessor’s cache summary.'),
    uptime_s: z.number(),
    versions: z.object({ api: z.string(), node: z.string(), strategy: z.string().nullable() }),
    strategy: sourceStatusSchema,
    pool: poolStatsSchema,
    last_cycle: lastCycleSchema.nullable(),
    degraded_reasons: z.array(z.string()).describe('Why the status is degraded (empty when ok).'),
  })
  .describe('GET /health answer, plus the sections the owner injects (runner, database, store).');

/** A stored cycle result as the results store returns it (its other fields are the store's). */
export const storedResultSchema = z.looseObject({ id: z.string() });

export const resultsResponseSchema = z.object({
  status: z.literal('success'),
  count: z.number(),
  results: z.array(storedResultSchema),
});

export const resultResponseSchema = z.object({ status: z.literal('success'), result: storedResultSchema });

export const feedbackResponseSchema = z.object({
  status: z.literal('success'),
  feedback: z.unknown().describe('What the results store recorded.'),
});

export const cacheStatsResponseSchema = z
  .looseObject({
    status: z.literal('success'),
    timestamp: z.string(),
    current_config_version: z.string().nullable(),
    cached_last_run_timestamp: z.string().nullable(),
    cache_details: z
      .record(
        z.string(),
        z.object({ active_items: z.number(), expired_items: z.number(), total_items: z.number() }),
      )
      .describe('Per cache (`model_cache`, `scaler_cache`, ...): live, expired and all entries.'),
  })
  .describe('The predecessor’s cache statistics, plus the artifact cache’s own counters.');

export const messageResponseSchema = z.object({
  status: z.literal('success'),
  timestamp: z.string(),
  message: z.string(),
});

// --- Types ---

export type ErrorBody = z.output<typeof errorResponseSchema>;
/** An operator's verdict on a recommendation. */
export type Feedback = z.output<typeof feedbackRequestSchema>;
export type ValidationReport = z.output<typeof validationResponseSchema>;
export type DeployedResponse = z.output<typeof deployedResponseSchema>;
/** Load figures of a pool. */
export type PoolStats = z.output<typeof poolStatsSchema>;
export type CycleOutcome = z.output<typeof cycleOutcomeSchema>;
export type LastCycle = z.output<typeof lastCycleSchema>;
export type HealthResponse = z.output<typeof healthResponseSchema>;
/** A stored cycle result as the results store returns it (its fields are the store's). */
export type StoredResult = z.output<typeof storedResultSchema>;

/** Lists zod issues as `path: message`, like strategy problems. */
export function zodIssues(error: z.ZodError): StrategyIssue[] {
  return error.issues.map((i) => ({
    path: i.path.length === 0 ? '(body)' : i.path.map(String).join('.'),
    message:
      i.code === 'invalid_type' && i.message.includes('received undefined') ? 'is required' : i.message,
  }));
}

export const replayRequestSchema = z
  .object({
    from: z.iso.datetime({ offset: true }).describe('Window start (ISO 8601), included.'),
    to: z.iso.datetime({ offset: true }).describe('Window end (ISO 8601), included.'),
    every: z.number().int().min(1).max(1_000_000).default(1).describe('Run every Nth row of the window.'),
    strategy: z
      .string()
      .min(1)
      .optional()
      .describe('A strategy version of the store (default: the deployed one).'),
  })
  .refine((r) => Date.parse(r.to) >= Date.parse(r.from), { message: '`to` is before `from`', path: ['to'] })
  .describe('A replay of a strategy over a window of the plant data table.');

export const replayStartedSchema = z.object({
  status: z.literal('accepted'),
  id: z.string().describe('The replay id: GET /replays/{id} reports it (while it runs, too).'),
  rows: z.number().describe('Plant rows in the window.'),
});

export { replayReportSchema } from '@po/runner';
/** A fleet unit's state (`/units`); its fields are the fleet's (`UnitState` of @po/fleet). */
export const unitStateSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  lastCycle: z.unknown().describe('The newest recorded cycle: data timestamp, status, reason, version.'),
  lagS: z.number().nullable().describe('Seconds between the newest data queued and the newest data run.'),
  consecutiveFailures: z.number(),
  droppedLate: z.number(),
  strategy: z
    .object({
      version: z.string().nullable(),
      state: z.string(),
      error: z.string().optional(),
    })
    .optional()
    .describe(
      "The strategy the unit's pointer deploys, as this process has it loaded (state loading, loaded, error).",
    ),
});

export const unitsResponseSchema = z.object({
  status: z.literal('success'),
  count: z.number(),
  units: z.array(unitStateSchema),
});

export const unitResponseSchema = z.object({ status: z.literal('success'), unit: unitStateSchema });
