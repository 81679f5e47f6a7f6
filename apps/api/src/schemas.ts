import { z } from 'zod';

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

const issueSchema = z.object({ path: z.string(), message: z.string() });

export const errorResponseSchema = z
  .object({
    status: z.literal('error'),
    error: z.string().describe('What went wrong and what to do.'),
    code: z.string().optional().describe('Stable machine-readable code.'),
    details: z.array(issueSchema).optional().describe('Every problem, with where it is.'),
  })
  .describe('Every error response.');

export const validationResponseSchema = z.object({
  valid: z.boolean(),
  errors: z.array(issueSchema),
  warnings: z.array(issueSchema),
});

const variableResultSchema = z.object({
  category: z.string(),
  type: z.string(),
  units: z.string().nullable(),
  user_input_value: z.number().nullable(),
  optimizer_suggested_value: z.number().nullable(),
  delta: z.number().nullable(),
});

export const cycleResultSchema = z
  .looseObject({
    status: z.literal('success'),
    mode: z.enum(['optimize', 'simulate', 'monitor']),
    timestamp: z.string(),
    config_version: z.string().nullable(),
    duration_ms: z.number(),
    variables: z.record(z.string(), variableResultSchema),
    optimized_variables: z.record(z.string(), variableResultSchema),
    predicted_variables: z.record(z.string(), variableResultSchema),
    constraint_variables: z.record(z.string(), variableResultSchema),
    cost_function_value: z.number(),
    cost_at_current: z.number(),
    setpoints: z.record(
      z.string(),
      z.object({ current: z.number(), recommended: z.number(), delta: z.number(), from: z.string() }),
    ),
    optimizer: z.looseObject({
      algorithm: z.string(),
      iterations: z.number(),
      evaluations: z.number(),
      converged: z.boolean(),
      timed_out: z.boolean(),
      message: z.string(),
    }),
    summary: z.looseObject({ total_variables: z.number(), message: z.string() }),
    warnings: z.array(z.string()),
  })
  .describe(
    'The result of a cycle: the predecessor’s shape plus provenance, optimizer summary and setpoints.',
  );

/** Lists zod issues as `path: message`, like strategy problems. */
export function zodIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({
    path: i.path.length === 0 ? '(body)' : i.path.map(String).join('.'),
    message:
      i.code === 'invalid_type' && i.message.includes('received undefined') ? 'is required' : i.message,
  }));
}
