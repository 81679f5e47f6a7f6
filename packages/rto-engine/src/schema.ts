import { z } from 'zod';

/**
 * The strategy format: the predecessor's YAML (variables, skills, tasks) plus po's
 * extensions (absolute `min`/`max`, optimizer options, `engine.compat`). Every key has a
 * description; `strategy.schema.json` is generated from this file (`pnpm --filter
 * @po/rto-engine generate:schema`) and a test fails when it is stale.
 */

export const variableTypes = [
  'Operative',
  'Informative',
  'Calculated',
  'Delta',
  'Predicted',
  'Constraint',
  'CalculatedKPI',
] as const;
export type VariableType = (typeof variableTypes)[number];

const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
  message: 'must be an identifier (letters, digits and _, not starting with a digit)',
});

const finite = z.number().refine(Number.isFinite, { message: 'must be a finite number' });

export const variableSchema = z
  .object({
    type: z
      .enum(variableTypes)
      .describe(
        'Operative: a setpoint the operator can move. Informative: measured, read-only. Calculated: computed from others ' +
          '(by the PreCalculateVariables task). Delta, Predicted, Constraint, CalculatedKPI: intermediate values of the ' +
          'cost composition; they start at 0 unless the plant data gives them.',
      ),
    units: z.string().optional().describe('Engineering units, shown with results.'),
    description: z.string().optional().describe('What the variable is, for people.'),
    threshold: finite
      .nullable()
      .optional()
      .describe(
        'Largest move per cycle: a decision variable may go from current - threshold to current + threshold. ' +
          'Missing or 0: the variable cannot move. null: 1.0 (the predecessor did this, with a warning). ' +
          'In formulas, X_threshold is defined when this is set and not 0.',
      ),
    min: finite
      .optional()
      .describe('Absolute lower limit of the variable (po extension); bounds never go below it.'),
    max: finite
      .optional()
      .describe('Absolute upper limit of the variable (po extension); bounds never go above it.'),
    valid_min: finite
      .optional()
      .describe(
        'Input validation: a plant reading below this is bad (a failed sensor, not a process value).',
      ),
    valid_max: finite.optional().describe('Input validation: a plant reading above this is bad.'),
    max_rate: z
      .number()
      .positive()
      .optional()
      .describe(
        'Input validation: the largest plausible change per minute; a faster change is a bad reading.',
      ),
    frozen_after: z
      .number()
      .int()
      .min(2)
      .optional()
      .describe('Input validation: this many identical consecutive readings mean a frozen sensor.'),
    stale_after_s: z
      .number()
      .positive()
      .optional()
      .describe('Input validation: a reading older than this many seconds is stale.'),
    critical: z
      .boolean()
      .optional()
      .describe(
        'Input validation: a bad reading of a critical variable skips the cycle at once; others hold the last good value for a few cycles.',
      ),
    measured_by: variableName
      .optional()
      .describe(
        'Model-plant mismatch (Predicted variables): the plant-data column that measures this prediction, e.g. ' +
          'Kiln_Drive_Current for predicted_Kiln_Drive_Current. Each cycle the prediction is compared with it.',
      ),
  })
  .loose()
  .describe('A process variable.');
export type VariableSpec = z.infer<typeof variableSchema>;

const nameList = z.array(variableName);

const mathFunctionConfig = z
  .object({
    formula: z
      .string()
      .min(1)
      .describe(
        "A Python expression over the inputs' symbols X, X_dof, X_current and X_threshold; written to the dof of outputs[0].",
      ),
  })
  .loose();

const constraintConfig = z
  .object({
    var_min: finite.describe('Physical lower limit: the score is 0 there (negative below it).'),
    var_max: finite.describe('Physical upper limit: the score is 0 there (negative above it).'),
    op_min: finite.describe('Operating lower limit: the score is 1 from here to op_max.'),
    op_max: finite.describe('Operating upper limit.'),
  })
  .loose();

const inferenceModelConfig = z
  .object({
    model_path: z
      .string()
      .min(1)
      .describe(
        'Model file (.onnx; .pth after import support), relative to the models folder or bucket prefix.',
      ),
    scaler_path: z
      .string()
      .min(1)
      .optional()
      .describe('Scalers: a JSON file (po format) keyed by variable name.'),
    metadata_path: z.string().min(1).optional().describe('Model metadata JSON.'),
    model_type: z.string().optional().describe('Informative only (the predecessor ignored it), e.g. ANN.'),
    activation: z
      .string()
      .optional()
      .describe(
        'Activation of a network whose file does not say it (gelu, relu, tanh, sigmoid, leaky_relu, silu).',
      ),
    critical: z
      .boolean()
      .optional()
      .describe(
        'Model-plant mismatch: while this model is bad (its predictions no longer match the plant), the strategy runs ' +
          'in monitor mode (no recommendation) until it recovers.',
      ),
  })
  .loose();

const compositionConfig = z
  .object({
    skill_sequence: z
      .array(z.string().min(1))
      .min(1)
      .describe('Skills run in this order, once per evaluation.'),
  })
  .loose();

export const optimizerOptionsSchema = z
  .object({
    maxiter: z.number().int().positive().optional().describe('Largest number of iterations (generations).'),
    ftol: z
      .number()
      .positive()
      .optional()
      .describe('Stop when the cost improves by less than this (relative).'),
    xtol: z
      .number()
      .positive()
      .optional()
      .describe('Stop when the step is below this fraction of each box width.'),
    max_time_ms: z
      .number()
      .positive()
      .optional()
      .describe(
        'Wall-clock budget of one solve; the best point so far is returned, flagged, when it runs out.',
      ),
    max_evaluations: z.number().int().positive().optional().describe('Largest number of cost evaluations.'),
    seed: z
      .number()
      .int()
      .optional()
      .describe('Seed of every random choice; the same seed gives the same result.'),
    population_size: z
      .number()
      .int()
      .min(4)
      .optional()
      .describe('Population of the population-based methods.'),
  })
  .strict();
export type OptimizerOptionsSpec = z.infer<typeof optimizerOptionsSchema>;

const optimizationConfig = z
  .object({
    cost_skill_name: z
      .string()
      .min(1)
      .describe('The skill (usually a CompositionSkill) that computes the cost.'),
    cost_feature_name: variableName.describe(
      'The variable holding the cost after that skill ran; it is minimized.',
    ),
    algorithm: z
      .string()
      .default('projected-bfgs')
      .describe(
        'projected-bfgs (quasi-Newton on exact gradients, the default; SLSQP and L-BFGS-B, the names predecessor ' +
          'strategies use, are aliases of it), projected-quasi-newton (the same on finite differences), ' +
          'DE (differential evolution) or auto (DE, then projected-bfgs polishes). ' +
          'Results report the method that ran as optimizer.algorithm and this value as optimizer.requested.',
      ),
    options: optimizerOptionsSchema.optional().describe('Optimizer options.'),
  })
  .loose();

const skillBase = {
  inputs: nameList.default([]).describe('Variables the skill reads.'),
  outputs: nameList.default([]).describe('Variables the skill writes (only the first, for most classes).'),
  description: z.string().optional().describe('What the skill does, for people.'),
};

export const skillSchema = z.discriminatedUnion('class', [
  z.object({ class: z.literal('MathFunction'), ...skillBase, config: mathFunctionConfig }).loose(),
  z.object({ class: z.literal('Constraint'), ...skillBase, config: constraintConfig }).loose(),
  z.object({ class: z.literal('InferenceModel'), ...skillBase, config: inferenceModelConfig }).loose(),
  z.object({ class: z.literal('CompositionSkill'), ...skillBase, config: compositionConfig }).loose(),
  z.object({ class: z.literal('OptimizationSkill'), ...skillBase, config: optimizationConfig }).loose(),
]);
export type SkillSpec = z.infer<typeof skillSchema>;
export type SkillClass = SkillSpec['class'];
export const skillClasses: readonly SkillClass[] = [
  'MathFunction',
  'Constraint',
  'InferenceModel',
  'CompositionSkill',
  'OptimizationSkill',
];

export const taskSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .describe('Task name; PreCalculateVariables has a special meaning (see the design).'),
    skill_sequence: z.array(z.string().min(1)).describe('Skills run in order.'),
  })
  .loose();
export type TaskSpec = z.infer<typeof taskSchema>;

export const engineSchema = z
  .object({
    compat: z
      .enum(['po', 'predecessor'])
      .default('po')
      .describe(
        "predecessor: feed 0 to every model input that is not of type Delta, exactly as the predecessor did. po (the default): feed such inputs' dof values, so chained models see each other.",
      ),
  })
  .loose();

export const mismatchThresholdsSchema = z
  .object({
    suspect: z
      .number()
      .positive()
      .optional()
      .describe(
        'Filtered absolute prediction error (output units) from which the model is suspect. Default: suspect_factor ' +
          "times the model's held-out mean absolute error (training_error in its metadata).",
      ),
    bad: z
      .number()
      .positive()
      .optional()
      .describe(
        'Filtered absolute prediction error from which the model is bad. Default: bad_factor times the training error.',
      ),
    cusum: z
      .number()
      .positive()
      .optional()
      .describe(
        'CUSUM decision interval (output units): the model is bad when the cumulated error beyond the slack passes it, ' +
          'suspect past half of it. Default: 5 times the training error.',
      ),
    slack: z
      .number()
      .min(0)
      .optional()
      .describe(
        'CUSUM slack per cycle (output units): errors smaller than this do not accumulate. Default: the training error.',
      ),
  })
  .strict();

export const modelsSchema = z
  .object({
    extrapolation: z
      .enum(['allow', 'warn', 'restrict'])
      .default('warn')
      .describe(
        "What to do when a model's inputs leave its training domain. allow: report it in the result only. warn (the " +
          'default): also add a warning. restrict: keep the optimizer inside each domain, as bounds on the decision ' +
          'variables that feed a bounded input (the explanation names the active domain limit); a point already ' +
          'outside may move toward the domain, never further out.',
      ),
    bias_correction: z
      .boolean()
      .default(false)
      .describe(
        "Shift each monitored model's output by its filtered bias (measured minus predicted) before the optimizer " +
          'uses it, the standard APC practice; results say the correction applied.',
      ),
    mismatch: z
      .object({
        horizon_s: z
          .number()
          .min(0)
          .default(0)
          .describe(
            'How far ahead a prediction is judged, seconds: the model, fed what the plant did since the cycle this long ' +
              'ago, is compared with the measurement now (0: since the previous cycle). Use the horizon the models ' +
              'were trained on (e.g. 1800 for the demo delta models).',
          ),
        filter: z
          .number()
          .gt(0)
          .max(1)
          .default(0.2)
          .describe(
            'Weight of the newest error in the filtered bias and the filtered absolute error (EWMA factor).',
          ),
        suspect_factor: z
          .number()
          .positive()
          .default(2)
          .describe('Default suspect threshold, as a multiple of the training error.'),
        bad_factor: z
          .number()
          .positive()
          .default(4)
          .describe('Default bad threshold, as a multiple of the training error.'),
        models: z
          .record(z.string().min(1), mismatchThresholdsSchema)
          .default({})
          .describe('Thresholds per InferenceModel skill (override the defaults from its training error).'),
      })
      .strict()
      .prefault({})
      .describe('Model-plant mismatch monitoring of the Predicted variables that have measured_by.'),
  })
  .strict();
export type ModelsSpec = z.infer<typeof modelsSchema>;

export const strategySchema = z
  .object({
    version: z.string().optional().describe('Version of this strategy, when the file carries one.'),
    engine: engineSchema.optional().describe('Engine behaviour switches.'),
    models: modelsSchema
      .optional()
      .describe(
        'Trust in the models: extrapolation guard, model-plant mismatch monitoring, bias correction.',
      ),
    mode: z
      .enum(['advisory', 'monitor'])
      .optional()
      .describe(
        'advisory (the default): recommend setpoints every cycle. monitor: predictions and constraint scores only, no recommendation.',
      ),
    input_validation: z
      .object({
        hold_max_cycles: z
          .number()
          .int()
          .min(0)
          .default(3)
          .describe(
            'How many consecutive cycles a bad non-critical reading may be replaced by its last good value.',
          ),
      })
      .loose()
      .optional()
      .describe('Input validation of plant readings before each cycle (see the variables’ valid_* keys).'),
    variables: z.record(variableName, variableSchema).describe('Process variables by name.'),
    skills: z.record(z.string().min(1), skillSchema).describe('Skills by name.'),
    tasks: z.array(taskSchema).min(1).describe('Tasks run in order every cycle.'),
  })
  .loose()
  .describe('A po strategy (compatible with the predecessor’s config.yaml).');
export type StrategySpec = z.infer<typeof strategySchema>;
