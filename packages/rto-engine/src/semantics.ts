import type { SymbolBinding } from './formula/index.ts';
import type { SkillSpec, StrategySpec, VariableSpec, VariableType } from './schema.ts';

/**
 * The strategy semantics the predecessor defined (README "Strategy semantics"), one rule per
 * function. Validation, planning, the cycle and the result all ask these; none restates a rule.
 */

/** The task whose Calculated results become current values and whose Operative inputs are fixed. */
export const PRECALCULATION_TASK = 'PreCalculateVariables';

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

/** Leaf skills of every PreCalculateVariables task, in order. */
function precalculationSkills(spec: StrategySpec): string[] {
  return spec.tasks
    .filter((t) => t.name === PRECALCULATION_TASK)
    .flatMap((t) => flattenSequence(t.skill_sequence, spec.skills));
}

/**
 * PreCalculateVariables fixing: the Operative variables that feed that task are, after it,
 * fixed inputs of the Calculated variables they make up, never decision variables.
 */
export function fixedOperatives(spec: StrategySpec): Set<string> {
  const fixed = new Set<string>();
  for (const n of precalculationSkills(spec)) {
    for (const input of spec.skills[n]?.inputs ?? []) {
      if (spec.variables[input]?.type === 'Operative') fixed.add(input);
    }
  }
  return fixed;
}

/**
 * The decision-variable rule: the inputs of an OptimizationSkill that are Calculated, or
 * Operative and not fixed by PreCalculateVariables, in the skill's order.
 */
export function decisionVariables(
  spec: StrategySpec,
  inputs: readonly string[],
  fixed: ReadonlySet<string> = fixedOperatives(spec),
): string[] {
  return inputs.filter((name) => {
    const type = spec.variables[name]?.type;
    return type === 'Calculated' || (type === 'Operative' && !fixed.has(name));
  });
}

/** The threshold rule: the largest move per cycle (missing or 0: none; null: 1.0, as the predecessor). */
export function moveLimit(variable: VariableSpec): number {
  return variable.threshold === null ? 1 : (variable.threshold ?? 0);
}

/** Where a variable's current value sits against its absolute limits. */
export type LimitStatus = 'inside' | 'outside' | 'beyond';

export interface MoveBounds {
  lower: number;
  upper: number;
  /** `outside`: outside its limits, the bounds bring it in; `beyond`: further than one move from them. */
  status: LimitStatus;
  move: number;
}

/**
 * The move-bound rule: current ± the move limit, clipped to the absolute `min`/`max`. A value
 * further than one move outside its limits can only go one move toward them (both bounds there).
 */
export function moveBounds(variable: VariableSpec, current: number): MoveBounds {
  const move = moveLimit(variable);
  let lower = current - move;
  let upper = current + move;
  if (variable.min !== undefined) lower = Math.max(lower, variable.min);
  if (variable.max !== undefined) upper = Math.min(upper, variable.max);
  if (lower > upper) {
    const target = current > (variable.max ?? current) ? current - move : current + move;
    return { lower: target, upper: target, status: 'beyond', move };
  }
  const status = current < lower || current > upper ? 'outside' : 'inside';
  return { lower, upper, status, move };
}

/** How an InferenceModel input is fed to the network. */
export const Feed = {
  /** A Delta input: dof - current. */
  delta: 0,
  /** Any other input: its dof (po). */
  dof: 1,
  /** Any other input under `engine.compat: predecessor`: 0. */
  zero: 2,
} as const;
export type Feed = (typeof Feed)[keyof typeof Feed];

/** The Delta-input rule of InferenceModel skills (and the predecessor's 0 for every other input). */
export function modelFeed(type: VariableType, compat: boolean): Feed {
  if (type === 'Delta') return Feed.delta;
  return compat ? Feed.zero : Feed.dof;
}

/** Whether the strategy asks for the predecessor's behaviour (`engine: { compat: predecessor }`). */
export function predecessorCompat(spec: StrategySpec): boolean {
  return spec.engine?.compat === 'predecessor';
}

/** Types whose variables start at 0 when the plant data does not give them. */
const ZERO_START: ReadonlySet<VariableType> = new Set([
  'Delta',
  'Predicted',
  'Constraint',
  'CalculatedKPI',
  'Calculated',
]);

/** The zero-start rule: variables of these types start at 0 without plant data; others must be given. */
export function startsAtZero(type: VariableType): boolean {
  return ZERO_START.has(type);
}

/** The symbols a MathFunction formula may use, the predecessor's way: X, X_dof, X_current, X_threshold. */
export function formulaBindings(
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

/** What a running skill reads: its inputs, and for an OptimizationSkill those of its cost sequence too. */
function readsOf(skill: SkillSpec, skills: StrategySpec['skills']): readonly string[] {
  if (skill.class !== 'OptimizationSkill') return skill.inputs;
  const cost = flattenSequence([skill.config.cost_skill_name], skills);
  return [...skill.inputs, ...cost.flatMap((s) => skills[s]!.inputs)];
}

/** Plant values a cycle needs: every Operative or Informative variable a running skill reads. */
export function requiredPlantValues(spec: StrategySpec): Set<string> {
  const required = new Set<string>();
  for (const task of spec.tasks) {
    for (const n of flattenSequence(task.skill_sequence, spec.skills)) {
      for (const v of readsOf(spec.skills[n]!, spec.skills)) {
        const type = spec.variables[v]?.type;
        if (type === 'Operative' || type === 'Informative') required.add(v);
      }
    }
  }
  return required;
}

/**
 * The setpoint-mapping rule: Calculated variables that PreCalculateVariables computes as a plain
 * sum of Operative tags, with those tags (a recommendation on the sum is split onto them).
 */
export function calculatedSums(spec: StrategySpec): Map<string, string[]> {
  const sums = new Map<string, string[]>();
  for (const n of precalculationSkills(spec)) {
    const skill = spec.skills[n]!;
    if (skill.class !== 'MathFunction') continue;
    const out = skill.outputs[0]!;
    if (spec.variables[out]?.type !== 'Calculated') continue;
    const parts = sumTerms(skill.config.formula, skill.inputs);
    if (parts?.every((p) => spec.variables[p]?.type === 'Operative')) sums.set(out, parts);
  }
  return sums;
}

/**
 * The input variables of a formula that is a plain sum of them (`A + B + C`, optionally
 * `A_dof`, optionally in parentheses), or undefined.
 */
export function sumTerms(formula: string, inputs: readonly string[]): string[] | undefined {
  let f = formula.trim();
  while (f.startsWith('(') && f.endsWith(')')) f = f.slice(1, -1).trim();
  const terms = f.split('+').map((t) => t.trim().replace(/_dof$/, ''));
  if (terms.length < 2 || terms.some((t) => !inputs.includes(t))) return undefined;
  if (new Set(terms).size !== terms.length) return undefined;
  return terms;
}

/**
 * The delta-formula rule: a variable written by a MathFunction `X_dof - X_current` (or
 * `X - X_current`) is the move of X; returns X, else undefined.
 */
export function deltaSource(spec: StrategySpec, variable: string): string | undefined {
  for (const skill of Object.values(spec.skills)) {
    if (skill.class !== 'MathFunction' || skill.outputs[0] !== variable) continue;
    const m = /^\(?([A-Za-z_][A-Za-z0-9_]*?)(?:_dof)?-([A-Za-z_][A-Za-z0-9_]*)_current\)?$/.exec(
      skill.config.formula.replace(/\s+/g, ''),
    );
    if (m && m[1] === m[2] && skill.inputs.includes(m[1]!)) return m[1];
  }
  return undefined;
}

/** A Predicted variable that the plant also measures, and the model whose prediction it is. */
export interface MonitoredPrediction {
  /** The Predicted variable. */
  variable: string;
  /** The variable (plant-data column) that measures it. */
  measuredBy: string;
  /** The InferenceModel skill behind the prediction. */
  skill: string;
  /** True when measured_by was inferred from the delta-model pattern rather than declared. */
  inferred: boolean;
}

/** The skill that writes each variable (its first output), by variable name. */
function producers(spec: StrategySpec): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, skill] of Object.entries(spec.skills)) {
    const first = skill.outputs[0];
    if (first !== undefined && skill.class !== 'CompositionSkill' && skill.class !== 'OptimizationSkill') {
      out.set(first, name);
    }
  }
  return out;
}

/**
 * The model behind a Predicted variable: the InferenceModel that writes it, or the only model
 * whose output the MathFunction that writes it reads; a string says why there is none.
 */
export function predictingModel(spec: StrategySpec, variable: string): string | { problem: string } {
  const writers = producers(spec);
  const writer = writers.get(variable);
  const skill = writer === undefined ? undefined : spec.skills[writer];
  if (skill === undefined) return { problem: `no skill writes '${variable}'` };
  if (skill.class === 'InferenceModel') return writer!;
  const models = [
    ...new Set(
      skill.inputs
        .map((i) => writers.get(i))
        .filter((w): w is string => w !== undefined && spec.skills[w]?.class === 'InferenceModel'),
    ),
  ];
  if (models.length === 1) return models[0]!;
  return {
    problem:
      models.length === 0
        ? `'${variable}' is written by '${writer}', which reads no model output`
        : `'${variable}' is written from several models (${models.join(', ')}); declare measured_by on one model's output`,
  };
}

/**
 * The delta-model pattern the predecessor used: `P = X_current + D_dof` (either order, `X` for
 * `X_current` allowed only as `X_current`) with X a measured variable (Informative or Operative)
 * and D a model's output: P is measured by X.
 */
function inferredMeasurement(spec: StrategySpec, skill: SkillSpec): string | undefined {
  if (skill.class !== 'MathFunction' || skill.inputs.length !== 2) return undefined;
  const terms = skill.config.formula
    .replace(/\s+/g, '')
    .replace(/^\((.*)\)$/, '$1')
    .split('+');
  if (terms.length !== 2) return undefined;
  const measured = terms.find((t) => t.endsWith('_current'))?.slice(0, -'_current'.length);
  const delta = terms.find((t) => !t.endsWith('_current'))?.replace(/_dof$/, '');
  if (measured === undefined || delta === undefined || !skill.inputs.includes(measured)) return undefined;
  if (!skill.inputs.includes(delta)) return undefined;
  const type = spec.variables[measured]?.type;
  return type === 'Informative' || type === 'Operative' ? measured : undefined;
}

/**
 * The measured-counterpart rule: every Predicted variable with `measured_by`, and those that follow
 * the delta-model pattern (`predicted_X = X_current + delta_X_dof`, X measured, delta_X a model's
 * output), with the model behind each. Declared ones whose model cannot be told are left out
 * (validation reports them).
 */
export function monitoredPredictions(spec: StrategySpec): MonitoredPrediction[] {
  const out: MonitoredPrediction[] = [];
  const writers = producers(spec);
  for (const [name, v] of Object.entries(spec.variables)) {
    if (v.type !== 'Predicted') continue;
    const writer = writers.get(name);
    const declared = v.measured_by;
    const inferred =
      declared === undefined && writer ? inferredMeasurement(spec, spec.skills[writer]!) : undefined;
    const measuredBy = declared ?? inferred;
    if (measuredBy === undefined) continue;
    const skill = predictingModel(spec, name);
    if (typeof skill !== 'string') continue;
    out.push({ variable: name, measuredBy, skill, inferred: declared === undefined });
  }
  return out;
}

/** The decision variables of every OptimizationSkill a task runs, in order, once each. */
export function strategyDecisionVariables(spec: StrategySpec): string[] {
  const fixed = fixedOperatives(spec);
  const out = new Set<string>();
  for (const task of spec.tasks) {
    for (const n of task.skill_sequence) {
      const skill = spec.skills[n];
      if (skill?.class === 'OptimizationSkill')
        for (const d of decisionVariables(spec, skill.inputs, fixed)) out.add(d);
    }
  }
  return [...out];
}
