import { describeError } from '@po/core';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { StrategyIssue } from './errors.ts';
import { compileFormula } from './formula/index.ts';
import {
  checkStrategyText,
  LIMIT_SETTINGS,
  overLimit,
  type StrategyLimits,
  strategyLimits,
} from './limits.ts';
import { describeOptimizerNames, isOptimizerName } from './optimizer/index.ts';
import { type SkillSpec, type StrategySpec, strategySchema, type VariableSpec } from './schema.ts';
import {
  decisionVariables,
  Feed,
  fixedOperatives,
  formulaBindings,
  modelFeed,
  monitoredPredictions,
  moveLimit,
  predecessorCompat,
  predictingModel,
} from './semantics.ts';

/** What loading a strategy found: the strategy when it is usable, and every problem at once. */
export interface StrategyCheck {
  /** The normalized strategy; undefined when there are errors. */
  strategy: StrategySpec | undefined;
  errors: StrategyIssue[];
  warnings: StrategyIssue[];
}

/** Options of `checkStrategy`. */
export interface CheckOptions {
  /** Bounds on the strategy (defaults: `DEFAULT_STRATEGY_LIMITS`). */
  limits?: Partial<StrategyLimits> | undefined;
}

/**
 * Parses, normalizes and checks a strategy: YAML text or an already parsed object. A strategy
 * past a bound of `options.limits` is refused before the work it would cause.
 * Never throws for a property of the strategy; see `errors` and `warnings`.
 */
export function checkStrategy(input: string | unknown, options: CheckOptions = {}): StrategyCheck {
  const limits = strategyLimits(options.limits);
  const errors: StrategyIssue[] = [];
  const warnings: StrategyIssue[] = [];
  let raw: unknown = input;
  if (typeof input === 'string') {
    const parsed = parseYaml(input, limits);
    if (parsed.errors.length > 0) return { strategy: undefined, errors: parsed.errors, warnings };
    raw = parsed.value;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push({ path: '(root)', message: 'a strategy must be a mapping with variables, skills and tasks' });
    return { strategy: undefined, errors, warnings };
  }
  errors.push(...checkSize(raw as Record<string, unknown>, limits));
  if (errors.length > 0) return { strategy: undefined, errors, warnings };
  const parsed = strategySchema.safeParse(raw);
  if (!parsed.success) {
    errors.push(...flattenZodIssues(parsed.error.issues));
    return { strategy: undefined, errors, warnings };
  }
  const strategy = parsed.data;
  warnUnknownKeys(raw as Record<string, unknown>, warnings);
  checkSemantics(strategy, errors, warnings, limits);
  return { strategy: errors.length === 0 ? strategy : undefined, errors, warnings };
}

/** YAML text to a value, within the bounds: size and nesting before parsing, aliases while resolving. */
function parseYaml(text: string, limits: StrategyLimits): { value?: unknown; errors: StrategyIssue[] } {
  const bounded = checkStrategyText(text, limits);
  if (bounded.length > 0) return { errors: bounded };
  const errors: StrategyIssue[] = [];
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  for (const e of doc.errors) {
    const at = e.linePos?.[0];
    errors.push({
      path: at ? `line ${at.line}, column ${at.col}` : '(yaml)',
      message: e.message.split('\n')[0]!,
    });
  }
  if (errors.length > 0) return { errors };
  try {
    return { value: doc.toJS({ maxAliasCount: limits.maxAliases }), errors };
  } catch (e) {
    // yaml throws a ReferenceError past maxAliasCount (an alias bomb, or just many aliases).
    if (!(e instanceof ReferenceError)) throw e;
    return {
      errors: [
        {
          path: '(yaml)',
          message: `more YAML aliases resolved than the limit of ${limits.maxAliases} (${LIMIT_SETTINGS.maxAliases}): an alias bomb, or raise the limit`,
          code: 'LIMIT_EXCEEDED',
        },
      ],
    };
  }
}

/** How many variables and skills, before the schema looks at each. */
function checkSize(raw: Record<string, unknown>, limits: StrategyLimits): StrategyIssue[] {
  const issues: StrategyIssue[] = [];
  const count = (v: unknown) => (v !== null && typeof v === 'object' ? Object.keys(v).length : 0);
  const variables = count(raw.variables);
  if (variables > limits.maxVariables) {
    issues.push(
      overLimit('variables', 'number of variables', 'maxVariables', variables, limits.maxVariables),
    );
  }
  const skills = count(raw.skills);
  if (skills > limits.maxSkills) {
    issues.push(overLimit('skills', 'number of skills', 'maxSkills', skills, limits.maxSkills));
  }
  return issues;
}

function flattenZodIssues(issues: readonly z.core.$ZodIssue[]): StrategyIssue[] {
  return issues.map((issue) => {
    const path = issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
    let message = issue.message;
    if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
      message = `unknown skill class; expected one of MathFunction, Constraint, InferenceModel, CompositionSkill, OptimizationSkill`;
    }
    if (issue.code === 'invalid_type' && message.includes('received undefined')) message = 'is required';
    return { path, message };
  });
}

const knownKeys = {
  root: ['version', 'engine', 'mode', 'input_validation', 'models', 'variables', 'skills', 'tasks'],
  variable: [
    'type',
    'units',
    'description',
    'threshold',
    'min',
    'max',
    'valid_min',
    'valid_max',
    'max_rate',
    'frozen_after',
    'stale_after_s',
    'critical',
    'measured_by',
  ],
  skill: ['class', 'inputs', 'outputs', 'config', 'description'],
  task: ['name', 'skill_sequence'],
  config: {
    MathFunction: ['formula'],
    Constraint: ['var_min', 'var_max', 'op_min', 'op_max'],
    InferenceModel: [
      'model_path',
      'scaler_path',
      'metadata_path',
      'model_type',
      'activation',
      'smoothing',
      'critical',
    ],
    CompositionSkill: ['skill_sequence'],
    OptimizationSkill: ['cost_skill_name', 'cost_feature_name', 'algorithm', 'options'],
  } as Record<string, string[]>,
};

/** Unknown keys are warnings: the predecessor ignored them, but they are usually typos. */
function warnUnknownKeys(raw: Record<string, unknown>, warnings: StrategyIssue[]): void {
  const unknown = (obj: unknown, known: readonly string[], path: string) => {
    if (obj === null || typeof obj !== 'object') return;
    for (const key of Object.keys(obj)) {
      if (!known.includes(key))
        warnings.push({ path: path ? `${path}.${key}` : key, message: 'unknown key, ignored' });
    }
  };
  unknown(raw, knownKeys.root, '');
  for (const [name, v] of Object.entries((raw.variables ?? {}) as Record<string, unknown>)) {
    unknown(v, knownKeys.variable, `variables.${name}`);
  }
  for (const [name, s] of Object.entries((raw.skills ?? {}) as Record<string, Record<string, unknown>>)) {
    unknown(s, knownKeys.skill, `skills.${name}`);
    const cls = typeof s?.class === 'string' ? s.class : '';
    const known = knownKeys.config[cls];
    if (known) unknown(s.config, known, `skills.${name}.config`);
  }
  ((raw.tasks ?? []) as unknown[]).forEach((t, i) => {
    unknown(t, knownKeys.task, `tasks.${i}`);
  });
}

/** Explains why a symbol is unknown, in the user's terms. */
export function explainUnknownSymbol(
  symbol: string,
  inputs: readonly string[],
  variables: Readonly<Record<string, VariableSpec>>,
): string {
  const base = symbol.replace(/_(dof|current|threshold)$/, '');
  if (symbol.endsWith('_threshold') && inputs.includes(base)) {
    const t = variables[base]?.threshold;
    return t === null
      ? `'${symbol}': variable '${base}' has threshold null (give it a number)`
      : `'${symbol}': variable '${base}' has no threshold (or 0), so ${symbol} is not defined`;
  }
  if (variables[base] && !inputs.includes(base)) {
    return `'${symbol}': variable '${base}' is declared but not among the skill's inputs; add it to inputs`;
  }
  return `unknown symbol '${symbol}'`;
}

/** Where the semantic checks write: errors stop a strategy, warnings do not. */
interface Findings {
  errors: StrategyIssue[];
  warnings: StrategyIssue[];
  limits: StrategyLimits;
}

function checkSemantics(
  s: StrategySpec,
  errors: StrategyIssue[],
  warnings: StrategyIssue[],
  limits: StrategyLimits,
): void {
  const found: Findings = { errors, warnings, limits };
  checkVariables(s, found);
  for (const [name, skill] of Object.entries(s.skills)) {
    const at = `skills.${name}`;
    checkSkillIo(s, skill, at, found);
    checkSkillConfig(s, skill, at, found);
  }
  checkCompositionCycles(s, found);
  checkTasks(s, found);
  checkDecisionMoves(s, found);
  checkModelTrust(s, found);
}

/** measured_by names a measured variable and a model can be told behind it; per-model thresholds name models. */
function checkModelTrust(s: StrategySpec, { errors }: Findings): void {
  for (const [name, v] of Object.entries(s.variables)) {
    if (v.measured_by === undefined) continue;
    const at = `variables.${name}.measured_by`;
    if (v.type !== 'Predicted') {
      errors.push({
        path: at,
        message: `only a Predicted variable is measured by a plant column (this one is ${v.type})`,
      });
      continue;
    }
    const type = s.variables[v.measured_by]?.type;
    if (type !== 'Informative' && type !== 'Operative') {
      errors.push({
        path: at,
        message: `'${v.measured_by}' must be a declared Informative (or Operative) variable, the plant-data column that measures '${name}'`,
      });
    }
    const model = predictingModel(s, name);
    if (typeof model !== 'string')
      errors.push({ path: at, message: `cannot tell which model predicts it: ${model.problem}` });
  }
  for (const skill of Object.keys(s.models?.mismatch.models ?? {})) {
    if (s.skills[skill]?.class !== 'InferenceModel') {
      errors.push({
        path: `models.mismatch.models.${skill}`,
        message: `'${skill}' is not an InferenceModel skill`,
      });
    }
  }
  const monitored = new Set(monitoredPredictions(s).map((m) => m.skill));
  for (const [name, skill] of Object.entries(s.skills)) {
    if (skill.class === 'InferenceModel' && skill.config.critical === true && !monitored.has(name)) {
      errors.push({
        path: `skills.${name}.config.critical`,
        message:
          'a critical model needs a measured counterpart: give its Predicted output (or the variable computed from it) measured_by',
      });
    }
  }
}

function checkVariables(s: StrategySpec, { errors }: Findings): void {
  for (const [name, v] of Object.entries(s.variables)) {
    if (v.min !== undefined && v.max !== undefined && v.min > v.max) {
      errors.push({ path: `variables.${name}`, message: `min (${v.min}) is above max (${v.max})` });
    }
    if (v.valid_min !== undefined && v.valid_max !== undefined && v.valid_min > v.valid_max) {
      errors.push({
        path: `variables.${name}`,
        message: `valid_min (${v.valid_min}) is above valid_max (${v.valid_max})`,
      });
    }
    if (typeof v.threshold === 'number' && v.threshold < 0) {
      errors.push({
        path: `variables.${name}.threshold`,
        message: `must not be negative (got ${v.threshold})`,
      });
    }
  }
}

/** Inputs and outputs must be declared variables (errors for skills that compute, warnings for the others). */
function checkSkillIo(s: StrategySpec, skill: SkillSpec, at: string, { errors, warnings }: Findings): void {
  const strictIo =
    skill.class === 'MathFunction' || skill.class === 'Constraint' || skill.class === 'InferenceModel';
  const report = strictIo ? errors : warnings;
  const declared = (list: readonly string[], where: string) => {
    list.forEach((n, i) => {
      if (Object.hasOwn(s.variables, n)) return;
      report.push({
        path: `${at}.${where}.${i}`,
        message: strictIo
          ? `'${n}' is not a declared variable`
          : `'${n}' is not a declared variable (ignored)`,
      });
    });
  };
  declared(skill.inputs, 'inputs');
  declared(skill.outputs, 'outputs');
  if (strictIo && skill.outputs.length === 0)
    errors.push({ path: `${at}.outputs`, message: 'needs one output' });
  if (strictIo && skill.outputs.length > 1) {
    warnings.push({
      path: `${at}.outputs`,
      message: `only the first output ('${skill.outputs[0]}') is written`,
    });
  }
}

function checkSkillConfig(s: StrategySpec, skill: SkillSpec, at: string, found: Findings): void {
  const { errors } = found;
  switch (skill.class) {
    case 'MathFunction':
      checkFormula(skill, at, s.variables, found);
      break;
    case 'Constraint': {
      const { var_min, op_min, op_max, var_max } = skill.config;
      if (skill.inputs.length === 0)
        errors.push({ path: `${at}.inputs`, message: 'needs one input (the value scored)' });
      if (!(var_min <= op_min && op_min <= op_max && op_max <= var_max)) {
        errors.push({
          path: `${at}.config`,
          message: `limits must satisfy var_min <= op_min <= op_max <= var_max (got ${var_min}, ${op_min}, ${op_max}, ${var_max})`,
        });
      }
      break;
    }
    case 'InferenceModel':
      checkModelInputs(s, skill, at, found);
      break;
    case 'CompositionSkill':
      skill.config.skill_sequence.forEach((n, i) => {
        const path = `${at}.config.skill_sequence.${i}`;
        if (!Object.hasOwn(s.skills, n)) errors.push({ path, message: `unknown skill '${n}'` });
        else if (s.skills[n]!.class === 'OptimizationSkill') {
          errors.push({
            path,
            message: `'${n}' is an OptimizationSkill; it cannot run inside a composition`,
          });
        }
      });
      break;
    case 'OptimizationSkill':
      checkOptimization(s, skill, at, found);
      break;
  }
}

/** Every model input that is not fed as a Delta: po and the predecessor differ there. */
function checkModelInputs(
  s: StrategySpec,
  skill: Extract<SkillSpec, { class: 'InferenceModel' }>,
  at: string,
  { errors, warnings }: Findings,
): void {
  if (skill.inputs.length === 0)
    errors.push({ path: `${at}.inputs`, message: 'a model needs at least one input' });
  const compat = predecessorCompat(s);
  skill.inputs.forEach((n, i) => {
    const type = s.variables[n]?.type;
    if (type === undefined || modelFeed(type, compat) === Feed.delta) return;
    warnings.push({
      path: `${at}.inputs.${i}`,
      message: compat
        ? `'${n}' is of type ${type}, so it is fed 0 (engine.compat: predecessor); po would feed its dof value`
        : `'${n}' is of type ${type}: po feeds its dof value, the predecessor fed 0 (set engine.compat: predecessor to reproduce that)`,
    });
  });
}

function checkOptimization(
  s: StrategySpec,
  skill: Extract<SkillSpec, { class: 'OptimizationSkill' }>,
  at: string,
  found: Findings,
): void {
  const { errors, warnings } = found;
  const { cost_skill_name, cost_feature_name, algorithm } = skill.config;
  const hasCostSkill = Object.hasOwn(s.skills, cost_skill_name);
  if (!hasCostSkill) {
    errors.push({ path: `${at}.config.cost_skill_name`, message: `unknown skill '${cost_skill_name}'` });
  } else if (s.skills[cost_skill_name]!.class === 'OptimizationSkill') {
    errors.push({
      path: `${at}.config.cost_skill_name`,
      message: `'${cost_skill_name}' is an OptimizationSkill`,
    });
  }
  if (!Object.hasOwn(s.variables, cost_feature_name)) {
    errors.push({
      path: `${at}.config.cost_feature_name`,
      message: `'${cost_feature_name}' is not a declared variable`,
    });
  } else if (hasCostSkill && !writtenBy(cost_skill_name, s.skills).has(cost_feature_name)) {
    warnings.push({
      path: `${at}.config.cost_feature_name`,
      message: `'${cost_feature_name}' is not written by '${cost_skill_name}', so the cost cannot change`,
    });
  }
  if (!isOptimizerName(algorithm)) {
    errors.push({
      path: `${at}.config.algorithm`,
      message: `unknown algorithm '${algorithm}'; known: ${describeOptimizerNames()}`,
    });
  }
  checkOptimizerOptions(skill.config.options ?? {}, `${at}.config.options`, found);
}

/** Optimizer options within the bounds: a population or budget past them exhausts a worker. */
function checkOptimizerOptions(
  options: NonNullable<Extract<SkillSpec, { class: 'OptimizationSkill' }>['config']['options']>,
  at: string,
  { errors, limits }: Findings,
): void {
  const bounded = [
    ['population_size', options.population_size, 'maxPopulation'],
    ['maxiter', options.maxiter, 'maxIterations'],
    ['max_evaluations', options.max_evaluations, 'maxEvaluations'],
    ['max_time_ms', options.max_time_ms, 'maxTimeMs'],
  ] as const;
  for (const [field, value, limit] of bounded) {
    if (value !== undefined && value > limits[limit]) {
      errors.push(overLimit(`${at}.${field}`, field, limit, value, limits[limit]));
    }
  }
}

/** Compositions must not contain themselves, directly or not. */
function checkCompositionCycles(s: StrategySpec, { errors }: Findings): void {
  for (const name of Object.keys(s.skills)) {
    const cycle = findCycle(name, s.skills, []);
    if (cycle && cycle[0] === name) {
      errors.push({
        path: `skills.${name}.config.skill_sequence`,
        message: `composition contains itself: ${cycle.join(' -> ')}`,
      });
    }
  }
}

function checkTasks(s: StrategySpec, { errors }: Findings): void {
  let optimizations = 0;
  s.tasks.forEach((task, t) => {
    task.skill_sequence.forEach((n, i) => {
      if (!Object.hasOwn(s.skills, n))
        errors.push({ path: `tasks.${t}.skill_sequence.${i}`, message: `unknown skill '${n}'` });
      else if (s.skills[n]!.class === 'OptimizationSkill') optimizations++;
    });
  });
  if (optimizations > 1) {
    errors.push({
      path: 'tasks',
      message: `${optimizations} OptimizationSkill runs in one cycle; po runs at most one`,
    });
  }
}

/** Decision variables that cannot move, or move by the predecessor's default. */
function checkDecisionMoves(s: StrategySpec, { warnings }: Findings): void {
  const fixed = fixedOperatives(s);
  for (const [skillName, skill] of Object.entries(s.skills)) {
    if (skill.class !== 'OptimizationSkill') continue;
    for (const n of decisionVariables(s, skill.inputs, fixed)) {
      const v = s.variables[n]!;
      if (moveLimit(v) === 0) {
        warnings.push({
          path: `variables.${n}.threshold`,
          message: `decision variable of '${skillName}' has no threshold, so it cannot move`,
        });
      } else if (v.threshold === null) {
        warnings.push({
          path: `variables.${n}.threshold`,
          message: 'null: taken as 1.0 (as the predecessor did)',
        });
      }
    }
  }
}

function checkFormula(
  skill: Extract<SkillSpec, { class: 'MathFunction' }>,
  at: string,
  variables: Readonly<Record<string, VariableSpec>>,
  { errors, limits }: Findings,
): void {
  const length = skill.config.formula.length;
  if (length > limits.maxFormulaChars) {
    // Refused by size first: compiling a huge formula takes seconds and deep recursion.
    errors.push(
      overLimit(
        `${at}.config.formula`,
        'formula length (characters)',
        'maxFormulaChars',
        length,
        limits.maxFormulaChars,
      ),
    );
    return;
  }
  const names = Object.keys(variables);
  const indexOf = new Map(names.map((n, i) => [n, i]));
  const inputs = skill.inputs.filter((n) => indexOf.has(n));
  const resolveKnown = formulaBindings(inputs, variables, (n) => indexOf.get(n)!);
  const unknown: string[] = [];
  try {
    compileFormula(skill.config.formula, {
      resolve: (name) => {
        const b = resolveKnown(name);
        if (b) return b;
        unknown.push(name);
        return { kind: 'constant', value: 0 };
      },
    });
  } catch (e) {
    errors.push({ path: `${at}.config.formula`, message: describeError(e, { scope: false }) });
    return;
  }
  for (const name of new Set(unknown)) {
    errors.push({ path: `${at}.config.formula`, message: explainUnknownSymbol(name, inputs, variables) });
  }
}

/** Every variable a skill (recursively, for compositions) writes. */
export function writtenBy(
  name: string,
  skills: StrategySpec['skills'],
  seen = new Set<string>(),
): Set<string> {
  const out = new Set<string>();
  const skill = skills[name];
  if (!skill || seen.has(name)) return out;
  seen.add(name);
  if (skill.class === 'CompositionSkill') {
    for (const n of skill.config.skill_sequence) for (const v of writtenBy(n, skills, seen)) out.add(v);
  } else if (skill.class !== 'OptimizationSkill' && skill.outputs[0] !== undefined) {
    out.add(skill.outputs[0]);
  }
  return out;
}

function findCycle(name: string, skills: StrategySpec['skills'], stack: string[]): string[] | undefined {
  if (stack.includes(name)) return [...stack.slice(stack.indexOf(name)), name];
  const skill = skills[name];
  if (skill?.class !== 'CompositionSkill') return undefined;
  for (const n of skill.config.skill_sequence) {
    const c = findCycle(n, skills, [...stack, name]);
    if (c) return c;
  }
  return undefined;
}
