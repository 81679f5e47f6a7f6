import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { StrategyIssue } from './errors.ts';
import { compileFormula, type SymbolBinding } from './formula/index.ts';
import { optimizerNames } from './optimizer/index.ts';
import { type SkillSpec, type StrategySpec, strategySchema, type VariableSpec } from './schema.ts';

/** What loading a strategy found: the strategy when it is usable, and every problem at once. */
export interface StrategyCheck {
  /** The normalized strategy; undefined when there are errors. */
  strategy: StrategySpec | undefined;
  errors: StrategyIssue[];
  warnings: StrategyIssue[];
}

export const PRECALCULATION_TASK = 'PreCalculateVariables';

/**
 * Parses, normalizes and checks a strategy: YAML text or an already parsed object.
 * Never throws for a property of the strategy; see `errors` and `warnings`.
 */
export function checkStrategy(input: string | unknown): StrategyCheck {
  const errors: StrategyIssue[] = [];
  const warnings: StrategyIssue[] = [];
  let raw: unknown = input;
  if (typeof input === 'string') {
    const doc = parseDocument(input, { uniqueKeys: true, prettyErrors: true });
    for (const e of doc.errors) {
      const at = e.linePos?.[0];
      errors.push({
        path: at ? `line ${at.line}, column ${at.col}` : '(yaml)',
        message: e.message.split('\n')[0]!,
      });
    }
    if (errors.length > 0) return { strategy: undefined, errors, warnings };
    raw = doc.toJS();
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push({ path: '(root)', message: 'a strategy must be a mapping with variables, skills and tasks' });
    return { strategy: undefined, errors, warnings };
  }
  const parsed = strategySchema.safeParse(raw);
  if (!parsed.success) {
    errors.push(...flattenZodIssues(parsed.error.issues));
    return { strategy: undefined, errors, warnings };
  }
  const strategy = parsed.data;
  warnUnknownKeys(raw as Record<string, unknown>, warnings);
  checkSemantics(strategy, errors, warnings);
  return { strategy: errors.length === 0 ? strategy : undefined, errors, warnings };
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
  root: ['version', 'engine', 'mode', 'input_validation', 'variables', 'skills', 'tasks'],
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
  ],
  skill: ['class', 'inputs', 'outputs', 'config', 'description'],
  task: ['name', 'skill_sequence'],
  config: {
    MathFunction: ['formula'],
    Constraint: ['var_min', 'var_max', 'op_min', 'op_max'],
    InferenceModel: ['model_path', 'scaler_path', 'metadata_path', 'model_type', 'activation', 'smoothing'],
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

/** The symbols a formula of this skill may use, the predecessor's way. */
export function formulaSymbols(
  inputs: readonly string[],
  variables: Readonly<Record<string, VariableSpec>>,
  index: (name: string) => number,
): (name: string) => SymbolBinding | undefined {
  const table = new Map<string, SymbolBinding>();
  for (const name of inputs) {
    const v = index(name);
    table.set(name, { kind: 'dof', variable: v });
    table.set(`${name}_dof`, { kind: 'dof', variable: v });
    table.set(`${name}_current`, { kind: 'current', variable: v });
    const threshold = variables[name]?.threshold;
    if (typeof threshold === 'number' && threshold !== 0) {
      table.set(`${name}_threshold`, { kind: 'constant', value: threshold });
    }
  }
  return (name) => table.get(name);
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

function checkSemantics(s: StrategySpec, errors: StrategyIssue[], warnings: StrategyIssue[]): void {
  const variables = s.variables;
  const names = Object.keys(variables);
  const indexOf = new Map(names.map((n, i) => [n, i]));
  const isVar = (n: string) => indexOf.has(n);
  const skills = s.skills;
  const hasSkill = (n: string) => Object.hasOwn(skills, n);

  for (const [name, v] of Object.entries(variables)) {
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

  for (const [skillName, skill] of Object.entries(skills)) {
    const at = `skills.${skillName}`;
    const strictIo =
      skill.class === 'MathFunction' || skill.class === 'Constraint' || skill.class === 'InferenceModel';
    const report = strictIo ? errors : warnings;
    skill.inputs.forEach((n, i) => {
      if (!isVar(n)) {
        report.push({
          path: `${at}.inputs.${i}`,
          message: strictIo
            ? `'${n}' is not a declared variable`
            : `'${n}' is not a declared variable (ignored)`,
        });
      }
    });
    skill.outputs.forEach((n, i) => {
      if (!isVar(n)) {
        report.push({
          path: `${at}.outputs.${i}`,
          message: strictIo
            ? `'${n}' is not a declared variable`
            : `'${n}' is not a declared variable (ignored)`,
        });
      }
    });
    if (strictIo && skill.outputs.length === 0)
      errors.push({ path: `${at}.outputs`, message: 'needs one output' });
    if (strictIo && skill.outputs.length > 1) {
      warnings.push({
        path: `${at}.outputs`,
        message: `only the first output ('${skill.outputs[0]}') is written`,
      });
    }

    switch (skill.class) {
      case 'MathFunction':
        checkFormula(skill, at, variables, indexOf, errors);
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
        if (skill.inputs.length === 0)
          errors.push({ path: `${at}.inputs`, message: 'a model needs at least one input' });
        skill.inputs.forEach((n, i) => {
          const type = variables[n]?.type;
          if (type === undefined || type === 'Delta') return;
          const compat = s.engine?.compat === 'predecessor';
          warnings.push({
            path: `${at}.inputs.${i}`,
            message: compat
              ? `'${n}' is of type ${type}, so it is fed 0 (engine.compat: predecessor); po would feed its dof value`
              : `'${n}' is of type ${type}: po feeds its dof value, the predecessor fed 0 (set engine.compat: predecessor to reproduce that)`,
          });
        });
        break;
      case 'CompositionSkill':
        skill.config.skill_sequence.forEach((n, i) => {
          const path = `${at}.config.skill_sequence.${i}`;
          if (!hasSkill(n)) errors.push({ path, message: `unknown skill '${n}'` });
          else if (skills[n]!.class === 'OptimizationSkill') {
            errors.push({
              path,
              message: `'${n}' is an OptimizationSkill; it cannot run inside a composition`,
            });
          }
        });
        break;
      case 'OptimizationSkill': {
        const { cost_skill_name, cost_feature_name, algorithm } = skill.config;
        if (!hasSkill(cost_skill_name)) {
          errors.push({
            path: `${at}.config.cost_skill_name`,
            message: `unknown skill '${cost_skill_name}'`,
          });
        } else if (skills[cost_skill_name]!.class === 'OptimizationSkill') {
          errors.push({
            path: `${at}.config.cost_skill_name`,
            message: `'${cost_skill_name}' is an OptimizationSkill`,
          });
        }
        if (!isVar(cost_feature_name)) {
          errors.push({
            path: `${at}.config.cost_feature_name`,
            message: `'${cost_feature_name}' is not a declared variable`,
          });
        } else if (hasSkill(cost_skill_name) && !writtenBy(cost_skill_name, skills).has(cost_feature_name)) {
          warnings.push({
            path: `${at}.config.cost_feature_name`,
            message: `'${cost_feature_name}' is not written by '${cost_skill_name}', so the cost cannot change`,
          });
        }
        if (!optimizerNames.some((n) => n.toLowerCase() === algorithm.toLowerCase())) {
          errors.push({
            path: `${at}.config.algorithm`,
            message: `unknown algorithm '${algorithm}'; known: ${optimizerNames.join(', ')}`,
          });
        }
        break;
      }
    }
  }

  // Compositions must not contain themselves, directly or not.
  for (const name of Object.keys(skills)) {
    const cycle = findCycle(name, skills, []);
    if (cycle && cycle[0] === name) {
      errors.push({
        path: `skills.${name}.config.skill_sequence`,
        message: `composition contains itself: ${cycle.join(' -> ')}`,
      });
    }
  }

  let optimizations = 0;
  s.tasks.forEach((task, t) => {
    task.skill_sequence.forEach((n, i) => {
      if (!hasSkill(n))
        errors.push({ path: `tasks.${t}.skill_sequence.${i}`, message: `unknown skill '${n}'` });
      else if (skills[n]!.class === 'OptimizationSkill') optimizations++;
    });
  });
  if (optimizations > 1) {
    errors.push({
      path: 'tasks',
      message: `${optimizations} OptimizationSkill runs in one cycle; po runs at most one`,
    });
  }

  // Decision variables that cannot move.
  const fixed = fixedOperatives(s);
  for (const [skillName, skill] of Object.entries(skills)) {
    if (skill.class !== 'OptimizationSkill') continue;
    for (const n of skill.inputs) {
      const v = variables[n];
      if (!v) continue;
      const decision = v.type === 'Calculated' || (v.type === 'Operative' && !fixed.has(n));
      if (!decision) continue;
      if (v.threshold === undefined || v.threshold === 0) {
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
  indexOf: ReadonlyMap<string, number>,
  errors: StrategyIssue[],
): void {
  const inputs = skill.inputs.filter((n) => indexOf.has(n));
  const resolveKnown = formulaSymbols(inputs, variables, (n) => indexOf.get(n)!);
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
    errors.push({ path: `${at}.config.formula`, message: stripPrefix(e) });
    return;
  }
  for (const name of new Set(unknown)) {
    errors.push({ path: `${at}.config.formula`, message: explainUnknownSymbol(name, inputs, variables) });
  }
}

export function stripPrefix(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/^\[po\/[a-z-]+\] /, '');
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

/** Leaf skills of a sequence, compositions expanded in order. */
export function flattenSequence(sequence: readonly string[], skills: StrategySpec['skills']): string[] {
  const out: string[] = [];
  for (const n of sequence) {
    const skill = skills[n];
    if (skill?.class === 'CompositionSkill')
      out.push(...flattenSequence(skill.config.skill_sequence, skills));
    else out.push(n);
  }
  return out;
}

/**
 * Operative variables that feed the PreCalculateVariables task: after it they are fixed
 * inputs of the Calculated variables they make up, never decision variables.
 */
export function fixedOperatives(s: StrategySpec): Set<string> {
  const fixed = new Set<string>();
  for (const task of s.tasks) {
    if (task.name !== PRECALCULATION_TASK) continue;
    for (const n of flattenSequence(task.skill_sequence, s.skills)) {
      for (const input of s.skills[n]?.inputs ?? []) {
        if (s.variables[input]?.type === 'Operative') fixed.add(input);
      }
    }
  }
  return fixed;
}
