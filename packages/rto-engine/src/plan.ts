import type { SurrogateModel, SurrogateModelGroup } from '@po/core';
import type { ConstraintLimits } from './constraint-score.ts';
import { StrategyValidationError } from './errors.ts';
import { type CompiledFormula, compileFormula } from './formula/index.ts';
import type { OptimizerOptions } from './optimizer/types.ts';
import type { SkillSpec, StrategySpec, VariableType } from './schema.ts';
import {
  calculatedSums,
  decisionVariables,
  Feed,
  fixedOperatives,
  flattenSequence,
  formulaBindings,
  modelFeed,
  predecessorCompat,
  requiredPlantValues,
} from './semantics.ts';

/**
 * Planning: a checked strategy and its loaded models in, the strategy graph out (skills
 * compiled against variable indices, task sequences, decision variables, sums). Pure: no I/O,
 * no model runtime; `compileStrategy` (engine.ts) does the loading and the fusing around it.
 */

/** One InferenceModel skill, compiled; variables are indices into the strategy's variable list. */
export interface ModelSkillPlan {
  kind: 'model';
  name: string;
  inputs: Int32Array;
  /** Per input, how it is fed (`Feed`: Delta dof - current, dof, or 0 in predecessor compat). */
  feeds: Uint8Array;
  out: number;
  model: SurrogateModel;
}

/** One skill, compiled; variables are indices into the strategy's variable list. */
export type SkillPlan =
  | { kind: 'math'; name: string; out: number; formula: CompiledFormula }
  | { kind: 'constraint'; name: string; input: number; out: number; limits: ConstraintLimits }
  | ModelSkillPlan
  | {
      kind: 'modelGroup';
      name: string;
      /** Plan indices of the member model skills, in sequence order. */
      members: Int32Array;
      group: SurrogateModelGroup;
    }
  | { kind: 'optimize'; name: string };

export interface OptimizationPlan {
  skill: string;
  costSequence: Int32Array;
  costVariable: number;
  decisions: Int32Array;
  /** `config.algorithm` as the strategy writes it (a name or an alias). */
  algorithm: string;
  options: OptimizerOptions;
}

export interface SumMapping {
  /** Operative parts of a Calculated sum, as variable indices. */
  parts: number[];
}

/** The strategy graph: everything a cycle needs, by index. */
export interface StrategyPlan {
  spec: StrategySpec;
  names: readonly string[];
  types: readonly VariableType[];
  plans: readonly SkillPlan[];
  /** Variables the plant state must give (Operative or Informative ones that a running skill reads). */
  required: ReadonlySet<number>;
  taskSequences: readonly { name: string; sequence: Int32Array }[];
  optimization: OptimizationPlan | undefined;
  /** Calculated decision variables that are plain sums of Operative tags. */
  sums: ReadonlyMap<number, SumMapping>;
  /** The Operative variables PreCalculateVariables fixes (`fixedOperatives`), by name. */
  fixed: ReadonlySet<string>;
}

/**
 * Plans a checked strategy (one that `checkStrategy` accepted) with a loaded model for every
 * InferenceModel skill, keyed by skill name.
 */
export function planStrategy(spec: StrategySpec, models: ReadonlyMap<string, SurrogateModel>): StrategyPlan {
  const names = Object.keys(spec.variables);
  const indexOf = new Map(names.map((n, i) => [n, i]));
  const index = (n: string) => indexOf.get(n)!;
  const unloaded = Object.keys(spec.skills).filter(
    (n) => spec.skills[n]!.class === 'InferenceModel' && !models.has(n),
  );
  if (unloaded.length > 0) {
    throw new StrategyValidationError(
      unloaded.map((n) => ({ path: `skills.${n}`, message: 'has no loaded model to plan with' })),
    );
  }
  const skillNames = Object.keys(spec.skills);
  const skillIndex = new Map(skillNames.map((n, i) => [n, i]));
  const sequence = (of: readonly string[]) =>
    Int32Array.from(flattenSequence(of, spec.skills).map((n) => skillIndex.get(n)!));
  const plans = skillNames.map((name) => planSkill(name, spec.skills[name]!, spec, index, models));
  return {
    spec,
    names,
    types: names.map((n) => spec.variables[n]!.type),
    plans,
    required: new Set([...requiredPlantValues(spec)].map(index)),
    taskSequences: spec.tasks.map((t) => ({ name: t.name, sequence: sequence(t.skill_sequence) })),
    optimization: planOptimization(spec, index, sequence),
    sums: new Map([...calculatedSums(spec)].map(([sum, parts]) => [index(sum), { parts: parts.map(index) }])),
    fixed: fixedOperatives(spec),
  };
}

function planSkill(
  name: string,
  skill: SkillSpec,
  spec: StrategySpec,
  index: (name: string) => number,
  models: ReadonlyMap<string, SurrogateModel>,
): SkillPlan {
  switch (skill.class) {
    case 'MathFunction': {
      const resolve = formulaBindings(skill.inputs, spec.variables, index);
      return {
        kind: 'math',
        name,
        out: index(skill.outputs[0]!),
        formula: compileFormula(skill.config.formula, { resolve }),
      };
    }
    case 'Constraint':
      return {
        kind: 'constraint',
        name,
        input: index(skill.inputs[0]!),
        out: index(skill.outputs[0]!),
        limits: skill.config,
      };
    case 'InferenceModel': {
      const compat = predecessorCompat(spec);
      return {
        kind: 'model',
        name,
        inputs: Int32Array.from(skill.inputs.map(index)),
        feeds: Uint8Array.from(skill.inputs.map((n) => modelFeed(spec.variables[n]!.type, compat))),
        out: index(skill.outputs[0]!),
        model: models.get(name)!,
      };
    }
    default:
      // Compositions are expanded into their leaf skills; the optimization skill is a marker.
      return { kind: 'optimize', name };
  }
}

/** The optimization of the cycle (validation allows at most one OptimizationSkill run). */
function planOptimization(
  spec: StrategySpec,
  index: (name: string) => number,
  sequence: (of: readonly string[]) => Int32Array,
): OptimizationPlan | undefined {
  const fixed = fixedOperatives(spec);
  let optimization: OptimizationPlan | undefined;
  for (const task of spec.tasks) {
    for (const n of task.skill_sequence) {
      const skill = spec.skills[n]!;
      if (skill.class !== 'OptimizationSkill') continue;
      const o = skill.config.options ?? {};
      optimization = {
        skill: n,
        costSequence: sequence([skill.config.cost_skill_name]),
        costVariable: index(skill.config.cost_feature_name),
        decisions: Int32Array.from(decisionVariables(spec, skill.inputs, fixed).map(index)),
        algorithm: skill.config.algorithm,
        options: {
          maxiter: o.maxiter,
          ftol: o.ftol,
          xtol: o.xtol,
          maxTimeMs: o.max_time_ms,
          maxEvaluations: o.max_evaluations,
          seed: o.seed ?? 1,
          populationSize: o.population_size,
        },
      };
    }
  }
  return optimization;
}

/**
 * The run of consecutive model skills at `start` of `sequence` that do not feed each other
 * (none reads what an earlier one in the run writes): what a provider may fuse into one call.
 */
export function independentModelRun(
  plans: readonly SkillPlan[],
  sequence: Int32Array,
  start: number,
): number[] {
  const run: number[] = [];
  const written = new Set<number>();
  for (let t = start; t < sequence.length; t++) {
    const plan = plans[sequence[t]!]!;
    if (plan.kind !== 'model') break;
    const reads = [...plan.inputs].filter((_, j) => plan.feeds[j] !== Feed.zero);
    if (reads.some((v) => written.has(v))) break;
    run.push(sequence[t]!);
    written.add(plan.out);
  }
  return run;
}
