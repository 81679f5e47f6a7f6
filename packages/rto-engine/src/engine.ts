import {
  describeError,
  ModelLoadError,
  type ModelProvider,
  type SurrogateModel,
  type SurrogateModelGroup,
} from '@po/core';
import { evaluateBatch, evaluateGradientBatch, runCycle } from './cycle.ts';
import { type StrategyIssue, StrategyValidationError } from './errors.ts';
import { modelValues } from './model-values.ts';
import { createOptimizer } from './optimizer/index.ts';
import { independentModelRun, type ModelSkillPlan, planStrategy, type StrategyPlan } from './plan.ts';
import type { SkillSpec, StrategySpec } from './schema.ts';
import { planDomains } from './training-domain.ts';
import type { CompiledStrategy, CompileOptions, CycleSetup } from './types.ts';
import { checkStrategy } from './validate.ts';
import { Workspace } from './workspace.ts';

/**
 * Loads and compiles a strategy: checks it, loads every model through the provider, plans it
 * (`planStrategy`), fuses independent models where the provider can. Throws
 * StrategyValidationError with every problem (schema, semantics, and every model file that
 * fails to load).
 */
export async function compileStrategy(
  input: string | unknown,
  options: CompileOptions = {},
): Promise<CompiledStrategy> {
  const check = checkStrategy(input, { limits: options.limits });
  if (!check.strategy) throw new StrategyValidationError(check.errors, options.source);
  const spec = check.strategy;
  const models = await loadModels(spec, options);
  const groups: SurrogateModelGroup[] = [];
  const dispose = async () => {
    await Promise.all(groups.map((g) => g.dispose()));
    await Promise.all([...models.values()].map((m) => m.dispose()));
  };
  try {
    let plan = planStrategy(spec, models);
    const provider = options.modelProvider;
    if (provider?.fuse) plan = await fuseModelRuns(plan, (members) => provider.fuse!(members), groups);
    const warnings = [...check.warnings];
    for (const [name, m] of models) {
      for (const w of m.warnings) warnings.push({ path: `skills.${name}`, message: w });
    }
    const setup: CycleSetup = {
      plan,
      version: options.version ?? spec.version ?? null,
      optimizer: plan.optimization && (options.optimizer ?? createOptimizer(plan.optimization.algorithm)),
      now: options.now ?? (() => new Date()),
      domains: planDomains(plan),
    };
    return compiled(setup, warnings, models, dispose);
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** The CompiledStrategy of a plan: each cycle takes its own workspace from a pool. */
function compiled(
  setup: CycleSetup,
  warnings: readonly StrategyIssue[],
  models: ReadonlyMap<string, SurrogateModel>,
  dispose: () => Promise<void>,
): CompiledStrategy {
  const { plan } = setup;
  const pool: Workspace[] = [];
  async function withWorkspace<T>(fn: (ws: Workspace) => Promise<T>): Promise<T> {
    const ws = pool.pop() ?? new Workspace(plan.names.length, plan.plans);
    try {
      return await fn(ws);
    } finally {
      pool.push(ws);
    }
  }
  return {
    version: setup.version,
    spec: plan.spec,
    warnings,
    decisionVariables: plan.optimization ? [...plan.optimization.decisions].map((i) => plan.names[i]!) : [],
    modelFiles: [...models].flatMap(([skill, m]) => m.files.map((f) => ({ ...f, skill }))),
    optimize: (state, cycleOptions = {}) =>
      withWorkspace((ws) => runCycle(setup, ws, state, { mode: 'optimize', cycleOptions })),
    simulate: (state, decisions = {}) =>
      withWorkspace((ws) => runCycle(setup, ws, state, { mode: 'simulate', decisions })),
    monitor: (state) => withWorkspace((ws) => runCycle(setup, ws, state, { mode: 'monitor' })),
    modelValues: (state, names, decisions) =>
      withWorkspace((ws) => modelValues(setup, ws, state, names, decisions)),
    evaluate: (state, points, count) => withWorkspace((ws) => evaluateBatch(plan, ws, state, points, count)),
    evaluateGradient: (state, points, count) =>
      withWorkspace((ws) => evaluateGradientBatch(plan, ws, state, points, count)),
    dispose,
  };
}

type ModelSkill = [string, Extract<SkillSpec, { class: 'InferenceModel' }>];

/**
 * Loads the model of every InferenceModel skill, all of them, so that every failing file is
 * reported at once, in the strategy's order (then nothing stays loaded).
 */
async function loadModels(spec: StrategySpec, options: CompileOptions): Promise<Map<string, SurrogateModel>> {
  const modelSkills = Object.entries(spec.skills).filter(
    (e): e is ModelSkill => e[1].class === 'InferenceModel',
  );
  const provider = options.modelProvider;
  if (modelSkills.length > 0 && !provider) {
    throw new StrategyValidationError(
      modelSkills.map(([n]) => ({
        path: `skills.${n}`,
        message: 'needs a model provider (give a models folder)',
      })),
      options.source,
    );
  }
  const settled = await Promise.allSettled(
    modelSkills.map(([name, skill]) => provider!.load(modelRequest(name, skill))),
  );
  const models = new Map<string, SurrogateModel>();
  const failures: { skill: string; error: ModelLoadError }[] = [];
  settled.forEach((result, i) => {
    const skill = modelSkills[i]![0];
    if (result.status === 'fulfilled') models.set(skill, result.value);
    else failures.push({ skill, error: asModelLoadError(skill, result.reason) });
  });
  if (failures.length > 0) {
    await Promise.all([...models.values()].map((m) => m.dispose()));
    const config = new Map(modelSkills.map(([name, skill]) => [name, skill.config]));
    const problems = failures.map(({ skill, error }) => {
      const message = describeError(error, { scope: false });
      return { path: `skills.${skill}.config.${failedFile(config.get(skill), error, message)}`, message };
    });
    const errors = failures.map((f) => f.error);
    const cause = errors.length === 1 ? errors[0] : new AggregateError(errors, 'models that did not load');
    throw new StrategyValidationError(problems, options.source, { cause });
  }
  return models;
}

/** Which file of a model skill a load error is about (its role, else the path it names): the scaler, the metadata, else the model. */
function failedFile(
  config: ModelSkill[1]['config'] | undefined,
  error: unknown,
  message: string,
): 'model_path' | 'scaler_path' | 'metadata_path' {
  const role = (error as { role?: unknown }).role;
  if (role === 'scaler') return 'scaler_path';
  if (role === 'metadata') return 'metadata_path';
  const named = new Set<string>();
  for (let e: unknown = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const path = (e as { path?: unknown }).path;
    if (typeof path === 'string') named.add(path);
  }
  for (const field of ['scaler_path', 'metadata_path'] as const) {
    const path = config?.[field];
    if (typeof path === 'string' && path !== '' && (named.has(path) || message.includes(`'${path}'`)))
      return field;
  }
  return 'model_path';
}

function modelRequest(name: string, skill: ModelSkill[1]) {
  return {
    skill: name,
    modelPath: skill.config.model_path,
    scalerPath: skill.config.scaler_path,
    metadataPath: skill.config.metadata_path,
    modelType: skill.config.model_type,
    activation: skill.config.activation,
    inputs: skill.inputs,
    output: skill.outputs[0]!,
  };
}

/** A provider's `ModelLoadError` as it is; anything else it rejects with, wrapped in one. */
export function asModelLoadError(skill: string, error: unknown): ModelLoadError {
  if (error instanceof ModelLoadError) return error;
  return new ModelLoadError({
    skill,
    problem: describeError(error, { scope: false }).replace(/\.\s*$/, ''),
    scope: 'rto-engine',
    code: 'MODEL_LOAD_FAILED',
    cause: error,
  });
}

/**
 * Replaces each run of two or more consecutive independent model skills in the cost sequence
 * with one fused group (one runtime call per batch), where the provider can fuse them.
 */
async function fuseModelRuns(
  plan: StrategyPlan,
  fuse: NonNullable<ModelProvider['fuse']>,
  groups: SurrogateModelGroup[],
): Promise<StrategyPlan> {
  const optimization = plan.optimization;
  if (!optimization) return plan;
  const sequence = optimization.costSequence;
  const plans = [...plan.plans];
  const out: number[] = [];
  let s = 0;
  while (s < sequence.length) {
    const run = independentModelRun(plans, sequence, s);
    const group =
      run.length >= 2 ? await fuse(run.map((k) => (plans[k] as ModelSkillPlan).model)) : undefined;
    if (group) {
      groups.push(group);
      plans.push({
        kind: 'modelGroup',
        name: run.map((k) => plans[k]!.name).join(' + '),
        members: Int32Array.from(run),
        group,
      });
      out.push(plans.length - 1);
      s += run.length;
    } else {
      out.push(sequence[s]!);
      s += 1;
    }
  }
  return { ...plan, plans, optimization: { ...optimization, costSequence: Int32Array.from(out) } };
}
