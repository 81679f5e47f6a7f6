import { z } from 'zod';

// MOVES TO @po/rto-engine (issue 8): the engine owns the cycle result, so its schema belongs there.
// This file is the API's only copy; at merge it becomes
// `export { cycleResultSchema } from '@po/rto-engine';` and nothing else changes.

const variableResultSchema = z.object({
  category: z.string(),
  type: z.string(),
  units: z.string().nullable(),
  user_input_value: z.number().nullable(),
  optimizer_suggested_value: z.number().nullable(),
  delta: z.number().nullable(),
});

/** The result of a cycle (`POST /optimize`, `/simulate`): the predecessor's shape plus what po adds. */
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
