import { z } from 'zod';
import { variableTypes } from './schema.ts';

/**
 * The cycle result, as one zod schema: the TS types below are inferred from it, the HTTP API
 * serves it as the OpenAPI description of `/optimize` and `/simulate`, and tests parse real
 * results with it. It is the predecessor's response shape plus what a user needs to trust it.
 */

/**
 * A cost that is NaN in memory when the strategy has no OptimizationSkill (JSON writes it as
 * null): a number to TypeScript, `number | null` to JSON Schema.
 */
const cost = (description: string) =>
  z
    .union([
      z.number(),
      z.nan().meta({ type: 'null', description: 'No cost: the strategy has no optimization.' }),
    ])
    .describe(description);

export const variableCategorySchema = z
  .enum(['optimizable', 'predicted', 'constraint', 'operative', 'informative', 'calculated'])
  .describe(
    "The predecessor's category (its clients read it): optimizable (Calculated, and Operative not an input of " +
      'PreCalculateVariables), predicted, constraint, operative (the other Operative), informative, calculated.',
  );

export const variableRoleSchema = z
  .enum(['optimized', 'setpoint', 'fixed', 'input', 'calculated', 'delta', 'predicted', 'constraint', 'kpi'])
  .describe(
    'How the variable takes part in the cycle (po): optimized (a decision variable), setpoint (an Operative tag that ' +
      'carries part of a recommended sum), input (Operative or Informative), calculated, delta, predicted, ' +
      'constraint (a score), kpi; fixed is reserved.',
  );

/** A strategy field echoed as is (null when the strategy does not give it). */
const echoed = (description: string) => z.unknown().optional().describe(description);

export const variableResultSchema = z
  .object({
    category: variableCategorySchema,
    role: variableRoleSchema,
    type: z.enum(variableTypes).describe('The variable type the strategy declares.'),
    units: z
      .string()
      .nullable()
      .describe(
        "Engineering units from the strategy ('' in `variables` when absent, as the predecessor gave).",
      ),
    user_input_value: z
      .number()
      .nullable()
      .describe(
        'The plant value (for Calculated variables: the value computed from the plant values); null when the plant data does not give it.',
      ),
    optimizer_suggested_value: z
      .number()
      .nullable()
      .describe('What po recommends (decision variables and setpoints) or computes at the recommendation.'),
    delta: z.number().nullable().describe('optimizer_suggested_value - user_input_value.'),
    value_at_current: z
      .number()
      .optional()
      .describe(
        'For values the strategy computes (deltas, predictions, scores, KPIs): their value when holding the current setpoints.',
      ),
    lower_bound: z.number().optional().describe("For decision variables: this cycle's lower bound."),
    upper_bound: z.number().optional().describe("For decision variables: this cycle's upper bound."),
    at_bound: z
      .enum(['lower', 'upper'])
      .nullable()
      .optional()
      .describe('For decision variables: the bound the answer sits on, or null.'),
    threshold: echoed("For category optimizable: the strategy's threshold, or null."),
    bounds: echoed("For category optimizable: the strategy's bounds field, or null."),
    model_output: z.literal(true).optional().describe('For category predicted: true.'),
    constraint_type: echoed("For category constraint: the strategy's constraint_type, or null."),
    constraint_bounds: echoed("For category constraint: the strategy's constraint_bounds, or null."),
  })
  .describe('One variable in a result (the predecessor’s fields, plus bounds where they apply).');

export const setpointResultSchema = z
  .object({
    current: z.number().describe('The current setpoint.'),
    recommended: z.number().describe('The recommended setpoint.'),
    delta: z.number().describe('recommended - current.'),
    units: z.string().nullable().describe('Engineering units from the strategy, or null.'),
    from: z
      .string()
      .describe(
        'The decision variable this setpoint comes from (itself, or the Calculated sum it is part of).',
      ),
  })
  .describe('A recommendation for one real Operative tag.');

export const constraintExplanationSchema = z
  .object({
    score: z.number().describe('The constraint score at the recommendation (below 1).'),
    value: z.number().nullable().describe('The predicted value that is scored.'),
    pushed_by: z
      .array(
        z.object({
          variable: z.string().describe('A decision variable.'),
          score_per_unit: z.number().describe('Score change per unit of the variable.'),
          effect_over_threshold: z
            .number()
            .describe("Score change over the variable's full move (half its box)."),
        }),
      )
      .describe('Decision variables that move the score, strongest first.'),
  })
  .describe('Why a constraint score is below 1 at the recommendation.');

export const optimizerSummarySchema = z
  .object({
    algorithm: z
      .string()
      .describe(
        'The method that ran (e.g. projected-bfgs, projected-quasi-newton, DE, DE + projected-bfgs), or none with the reason.',
      ),
    requested: z
      .string()
      .describe(
        "What the strategy asked for (config.algorithm, e.g. SLSQP or auto), or 'none' without an optimization.",
      ),
    iterations: z.number().describe('Iterations (generations) performed.'),
    evaluations: z.number().describe('Cost evaluations (candidate points) performed.'),
    batches: z.number().describe('Batches of candidate points evaluated (one model run per model each).'),
    converged: z.boolean().describe('Whether a convergence test was met (not a budget or time limit).'),
    timed_out: z.boolean().describe('Whether the time budget ran out.'),
    held: z
      .boolean()
      .describe(
        "True when the optimizer's answer was not better than holding the current values, so po holds them.",
      ),
    message: z.string().describe('Why the optimizer stopped, or why po holds, in words.'),
  })
  .describe('What the optimizer did.');

export const cycleSummarySchema = z
  .object({
    total_variables: z.number().describe('Entries in `variables` (the predecessor’s count).'),
    total_variables_with_optimizer_changes: z
      .number()
      .describe('Entries of `variables` whose |delta| > 1e-6.'),
    total_optimizable_variables_changed: z
      .number()
      .describe('Entries of category optimizable whose |delta| > 1e-6.'),
    total_predicted_variables: z.number().describe('Entries of category predicted.'),
    total_constraints: z.number().describe('Entries of category constraint.'),
    optimization_impact: z
      .string()
      .describe('"N/M variables have optimizer suggestions different from user input".'),
    optimized_count: z.number().describe('Decision variables.'),
    setpoint_count: z.number().describe('Setpoints recommended.'),
    predicted_count: z.number().describe('Predicted variables.'),
    constraint_count: z.number().describe('Constraint scores.'),
    constraints_below_one: z.number().describe('Constraint scores below 1 at the recommendation.'),
    cost_improvement: cost('cost_at_current - cost_function_value.'),
    message: z.string().describe('The optimizer message.'),
  })
  .describe('Counts and the outcome in one place (the predecessor’s summary).');

export const domainExcursionSchema = z
  .object({
    variable: z
      .string()
      .describe('The domain variable (a model input as the network sees it, or an operating variable).'),
    value: z.number().describe('Its value (a Delta input: dof - current).'),
    min: z.number().describe('Training minimum.'),
    max: z.number().describe('Training maximum.'),
    side: z.enum(['below', 'above']).describe('Which side of the training range it is on.'),
    excess: z.number().describe('How far outside, in the variable’s units.'),
    fraction: z
      .number()
      .nullable()
      .describe(
        'How far outside, as a fraction of the training range (max - min); null when the range is a point.',
      ),
    soft: z
      .boolean()
      .describe(
        'True when the range is an estimate (a StandardScaler’s mean ± 3 sd), not the data extremes.',
      ),
  })
  .describe('A value outside a model’s training domain.');

export const domainCheckSchema = z
  .object({
    inside: z.boolean().describe('Every checked value lies inside the training domain.'),
    outside: z.array(domainExcursionSchema).describe('The values that leave it.'),
  })
  .describe('A model’s inputs checked against its training domain at one point.');

export const mismatchStatusSchema = z
  .object({
    variable: z.string().describe('The Predicted variable that is compared with the plant.'),
    measured_by: z.string().describe('The plant-data column it is compared with.'),
    inferred: z.boolean().describe('True when measured_by was inferred (delta-model pattern), not declared.'),
    status: z
      .enum(['good', 'suspect', 'bad', 'unknown'])
      .describe(
        'good, suspect or bad against the thresholds; unknown before the first comparison or without thresholds.',
      ),
    reason: z.string().describe('Why the status is what it is, in words.'),
    samples: z.number().describe('Comparisons so far.'),
    last_error: z.number().nullable().describe('The newest error: measured minus predicted (output units).'),
    bias: z.number().nullable().describe('Filtered error (EWMA of measured minus predicted).'),
    mean_abs_error: z.number().nullable().describe('Filtered absolute error (EWMA).'),
    corrected_mean_abs_error: z
      .number()
      .nullable()
      .describe(
        'Filtered absolute error of the prediction shifted by the bias known before each comparison (what bias correction leaves).',
      ),
    cusum_high: z.number().describe('Upper CUSUM of the error beyond the slack (the plant above the model).'),
    cusum_low: z.number().describe('Lower CUSUM (the plant below the model).'),
    thresholds: z
      .object({ suspect: z.number(), bad: z.number(), cusum: z.number(), slack: z.number() })
      .nullable()
      .describe(
        'The thresholds in force, from the strategy or the training error; null when neither gives them.',
      ),
  })
  .describe('Model-plant mismatch of one model: its predictions against what the plant did.');

export const modelTrustSchema = z
  .object({
    output: z.string().describe('The model’s output variable.'),
    domain: z
      .enum(['metadata', 'scalers', 'unknown'])
      .describe('Where the training domain comes from; unknown when the model’s files do not tell it.'),
    unknown_inputs: z
      .record(z.string(), z.string())
      .describe('Inputs without a known training range, with why.'),
    training_error: z
      .object({
        rmse: z.number().nullable().describe('Held-out root-mean-square error (output units).'),
        mean_abs: z.number().nullable().describe('Held-out mean absolute error (output units).'),
      })
      .nullable()
      .describe('The model’s error on held-out data, from its metadata; null when it does not say.'),
    unchecked: z
      .array(z.string())
      .describe('Domain variables that are not variables of this strategy (not checked).'),
    at_current: domainCheckSchema.describe('The inputs at the current plant values.'),
    at_recommendation: domainCheckSchema
      .nullable()
      .describe('The inputs at the recommendation (null without one).'),
    restricted: z
      .array(
        z.object({
          decision_variable: z.string().describe('The decision variable whose bound the domain set.'),
          bound: z.enum(['lower', 'upper']),
          value: z.number().describe('The bound.'),
          domain_variable: z.string().describe('The domain variable whose training limit it is.'),
          limit: z.number().describe('That training limit.'),
          active: z.boolean().describe('The recommendation sits at this bound.'),
        }),
      )
      .describe('Bounds the training domain set on decision variables (models.extrapolation: restrict).'),
    bias_correction: z
      .number()
      .nullable()
      .describe(
        'What was added to the model’s output this cycle (its filtered bias), or null without correction.',
      ),
    mismatch: mismatchStatusSchema
      .nullable()
      .describe(
        'Model-plant mismatch, filled by the runner that compares predictions with the plant; null otherwise.',
      ),
  })
  .describe('How far one model can be trusted in this cycle.');

export const modelTrustSectionSchema = z
  .object({
    extrapolation: z.enum(['allow', 'warn', 'restrict']).describe('The strategy’s models.extrapolation.'),
    bias_correction: z.boolean().describe('The strategy’s models.bias_correction.'),
    extrapolating: z
      .array(z.string())
      .describe(
        'Models whose inputs leave their training domain at the current point or the recommendation.',
      ),
    models: z.record(z.string(), modelTrustSchema).describe('Per InferenceModel skill.'),
  })
  .describe('Model trust: training domains, model-plant mismatch, bias correction, per model.');

const variableMap = (description: string) => z.record(z.string(), variableResultSchema).describe(description);

export const cycleResultSchema = z
  .object({
    status: z.literal('success').describe('Always success (failures are error responses).'),
    mode: z.enum(['optimize', 'simulate', 'monitor']).describe('What the cycle did.'),
    timestamp: z.string().describe('When the result was made (ISO 8601).'),
    config_version: z.string().nullable().describe('The strategy version, or null when it has none.'),
    duration_ms: z.number().describe('How long the cycle took.'),
    variables: variableMap(
      'Every variable of type Operative, Informative, Calculated, Predicted and Constraint, by name (as the predecessor).',
    ),
    derived_variables: variableMap('The Delta and CalculatedKPI variables, by name (po).'),
    optimized_variables: variableMap(
      'The entries of category optimizable (the decision variables have role optimized).',
    ),
    predicted_variables: variableMap('The Predicted variables.'),
    constraint_variables: variableMap('The Constraint (score) variables.'),
    cost_function_value: cost('The cost at the recommendation.'),
    cost_at_current: cost('The cost when holding the current values.'),
    setpoints: z
      .record(z.string(), setpointResultSchema)
      .describe('The recommendation for each real Operative tag, by tag.'),
    optimizer: optimizerSummarySchema,
    explanation: z
      .object({
        constraints: z
          .record(z.string(), constraintExplanationSchema)
          .describe('Per constraint score below 1, which decision variables push on it.'),
        domain_limits: z
          .array(z.string())
          .describe(
            'Training-domain limits that hold the recommendation back (models.extrapolation: restrict), in words.',
          ),
        sensitivities: z
          .enum(['exact', 'finite differences'])
          .nullable()
          .describe(
            "How the constraints' score_per_unit were computed: exact one-sided derivatives through formulas, constraint scores and models (on the side of the move: up, or down at the top of the box), or finite differences of the cost sequence (1e-3 of each box) when a model of the cost gives no derivatives; null when the strategy has no OptimizationSkill.",
          ),
      })
      .describe('Why the recommendation is what it is.'),
    summary: cycleSummarySchema,
    model_trust: modelTrustSectionSchema,
    warnings: z.array(z.string()).describe('Problems that did not stop the cycle.'),
  })
  .describe(
    'The result of a cycle: the predecessor’s shape plus provenance, optimizer summary and setpoints.',
  );

/** The predecessor's category of a variable. */
export type VariableCategory = z.infer<typeof variableCategorySchema>;
/** How a variable takes part in a cycle (po). */
export type VariableRole = z.infer<typeof variableRoleSchema>;
/** One variable in a result (the predecessor's fields, plus bounds where they apply). */
export type VariableResult = z.infer<typeof variableResultSchema>;
/** A recommendation for one real Operative tag. */
export type SetpointResult = z.infer<typeof setpointResultSchema>;
/** Why a constraint score is below 1 at the recommendation. */
export type ConstraintExplanation = z.infer<typeof constraintExplanationSchema>;
/** What the optimizer did. */
export type OptimizerSummary = z.infer<typeof optimizerSummarySchema>;
/** A value outside a model's training domain. */
export type DomainExcursion = z.infer<typeof domainExcursionSchema>;
/** A model's inputs checked against its training domain at one point. */
export type DomainCheckResult = z.infer<typeof domainCheckSchema>;
/** Model-plant mismatch of one model. */
export type MismatchStatus = z.infer<typeof mismatchStatusSchema>;
/** How far one model can be trusted in a cycle. */
export type ModelTrust = z.infer<typeof modelTrustSchema>;
/** The `model_trust` section of a cycle result. */
export type ModelTrustSection = z.infer<typeof modelTrustSectionSchema>;
/** The result of `POST /optimize`, `po optimize --json` and `po simulate --json`. */
export type CycleResult = z.infer<typeof cycleResultSchema>;
