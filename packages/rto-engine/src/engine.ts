import {
  CycleError,
  InputDataError,
  ModelLoadError,
  type StrategyIssue,
  StrategyValidationError,
} from './errors.ts';
import { compileFormula } from './formula/index.ts';
import type { ModelFile, ModelProvider, SurrogateModel, SurrogateModelGroup } from './model-provider.ts';
import { createOptimizer } from './optimizer/index.ts';
import type { Optimizer, OptimizerResult } from './optimizer/types.ts';
import type { Engine, OptimizationPlan, Outcome, Plan, RunRequest, SumMapping } from './plan.ts';
import type { CycleResult } from './result.ts';
import { buildResult, sumTerms } from './result-builder.ts';
import type { SkillSpec, StrategySpec, VariableType } from './schema.ts';
import {
  checkStrategy,
  fixedOperatives,
  flattenSequence,
  formulaSymbols,
  PRECALCULATION_TASK,
  stripPrefix,
} from './validate.ts';
import { Workspace } from './workspace.ts';

/** A plant state: variable name -> value (numbers, or numeric strings as the predecessor accepted). */
export type PlantState = Readonly<Record<string, unknown>>;

export interface CompileOptions {
  /** Loads InferenceModel skills; required when the strategy has any. */
  modelProvider?: ModelProvider;
  /** The strategy's version, reported with every result. */
  version?: string;
  /** Where the strategy came from, for error messages (a file name). */
  source?: string;
  /** Time source for result timestamps (tests). */
  now?: () => Date;
  /** Runs instead of the strategy's `algorithm` (a custom method, or a test double). */
  optimizer?: Optimizer;
}

export interface CycleOptions {
  /** Wall-clock budget for the optimizer (overrides the strategy's `max_time_ms` when lower). */
  maxTimeMs?: number;
  /** Aborts the optimizer; the best point so far is used. */
  signal?: AbortSignal;
}

/** A strategy ready to run: formulas compiled, every model loaded. Safe to use from concurrent cycles. */
export interface CompiledStrategy {
  readonly version: string | null;
  readonly spec: StrategySpec;
  /** Problems that do not stop the strategy from running. */
  readonly warnings: readonly StrategyIssue[];
  /** Names of the decision variables, in the optimizer's order. */
  readonly decisionVariables: readonly string[];
  /** Files of every model, for provenance. */
  readonly modelFiles: readonly (ModelFile & { skill: string })[];
  /** Runs one cycle: precalculation, optimization, recommendation. */
  optimize(state: PlantState, options?: CycleOptions): Promise<CycleResult>;
  /** Evaluates the strategy at given decision values (others hold), without optimizing. */
  simulate(state: PlantState, decisions?: Readonly<Record<string, number>>): Promise<CycleResult>;
  /** Monitor mode: predictions and constraint scores at the current values, no recommendation. */
  monitor(state: PlantState): Promise<CycleResult>;
  /**
   * The cost at `count` candidate points for one plant state, in one batch: `points` holds
   * `count` rows of decision values (row-major, `decisionVariables` order). A non-finite
   * cost marks a point where the strategy cannot be computed.
   */
  evaluate(state: PlantState, points: Float64Array, count: number): Promise<Float64Array>;
  /** Releases the model sessions. */
  dispose(): Promise<void>;
}

/** Types whose variables start at 0 when the plant data does not give them. */
const ZERO_START: ReadonlySet<VariableType> = new Set([
  'Delta',
  'Predicted',
  'Constraint',
  'CalculatedKPI',
  'Calculated',
]);

/**
 * Loads and compiles a strategy. Throws StrategyValidationError with every problem
 * (schema, semantics, and every model file that fails to load).
 */
export async function compileStrategy(
  input: string | unknown,
  options: CompileOptions = {},
): Promise<CompiledStrategy> {
  const check = checkStrategy(input);
  if (!check.strategy) throw new StrategyValidationError(check.errors, options.source);
  const spec = check.strategy;
  const names = Object.keys(spec.variables);
  const indexOf = new Map(names.map((n, i) => [n, i]));
  const idx = (n: string) => indexOf.get(n)!;
  const types = names.map((n) => spec.variables[n]!.type);
  const compat = spec.engine?.compat === 'predecessor';

  // Load every model first (all of them, so that every failing file is reported at once).
  const models = new Map<string, SurrogateModel>();
  const loadErrors: StrategyIssue[] = [];
  const modelSkills = Object.entries(spec.skills).filter(
    (e): e is [string, Extract<SkillSpec, { class: 'InferenceModel' }>] => e[1].class === 'InferenceModel',
  );
  if (modelSkills.length > 0 && !options.modelProvider) {
    throw new StrategyValidationError(
      modelSkills.map(([n]) => ({
        path: `skills.${n}`,
        message: 'needs a model provider (give a models folder)',
      })),
      options.source,
    );
  }
  await Promise.all(
    modelSkills.map(async ([name, skill]) => {
      try {
        const model = await options.modelProvider!.load({
          skill: name,
          modelPath: skill.config.model_path,
          scalerPath: skill.config.scaler_path,
          metadataPath: skill.config.metadata_path,
          modelType: skill.config.model_type,
          activation: skill.config.activation,
          inputs: skill.inputs,
          output: skill.outputs[0]!,
        });
        models.set(name, model);
      } catch (e) {
        loadErrors.push({
          path: `skills.${name}.config.model_path`,
          message: stripPrefix(new ModelLoadError(name, e)),
        });
      }
    }),
  );
  if (loadErrors.length > 0) {
    await Promise.all([...models.values()].map((m) => m.dispose()));
    throw new StrategyValidationError(loadErrors, options.source);
  }
  const warnings = [...check.warnings];
  for (const [name, m] of models) {
    for (const w of m.warnings) warnings.push({ path: `skills.${name}`, message: w });
  }

  // One plan per skill.
  const skillNames = Object.keys(spec.skills);
  const skillIndex = new Map(skillNames.map((n, i) => [n, i]));
  const plans: Plan[] = skillNames.map((name) => {
    const skill = spec.skills[name]!;
    switch (skill.class) {
      case 'MathFunction': {
        const resolve = formulaSymbols(skill.inputs, spec.variables, idx);
        return {
          kind: 'math',
          name,
          out: idx(skill.outputs[0]!),
          formula: compileFormula(skill.config.formula, { resolve }),
        };
      }
      case 'Constraint':
        return {
          kind: 'constraint',
          name,
          input: idx(skill.inputs[0]!),
          out: idx(skill.outputs[0]!),
          limits: skill.config,
        };
      case 'InferenceModel':
        return {
          kind: 'model',
          name,
          inputs: Int32Array.from(skill.inputs.map(idx)),
          feeds: Uint8Array.from(
            skill.inputs.map((n) => (spec.variables[n]!.type === 'Delta' ? 0 : compat ? 2 : 1)),
          ),
          out: idx(skill.outputs[0]!),
          model: models.get(name)!,
        };
      default:
        // Compositions are expanded into their leaf skills; the optimization skill is a marker.
        return { kind: 'optimize', name };
    }
  });
  const sequence = (names: readonly string[]) =>
    Int32Array.from(flattenSequence(names, spec.skills).map((n) => skillIndex.get(n)!));

  const fixed = fixedOperatives(spec);
  let optimization: OptimizationPlan | undefined;
  for (const task of spec.tasks) {
    for (const n of task.skill_sequence) {
      const skill = spec.skills[n]!;
      if (skill.class !== 'OptimizationSkill') continue;
      const decisions = skill.inputs.filter((v) => {
        const t = spec.variables[v]?.type;
        return t === 'Calculated' || (t === 'Operative' && !fixed.has(v));
      });
      const o = skill.config.options ?? {};
      optimization = {
        skill: n,
        costSequence: sequence([skill.config.cost_skill_name]),
        costVariable: idx(skill.config.cost_feature_name),
        decisions: Int32Array.from(decisions.map(idx)),
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
  const optimizer = optimization ? (options.optimizer ?? createOptimizer(optimization.algorithm)) : undefined;
  const groups: SurrogateModelGroup[] = [];
  if (optimization && options.modelProvider?.fuse) {
    optimization.costSequence = await fuseModelRuns(
      optimization.costSequence,
      plans,
      options.modelProvider,
      groups,
    );
  }

  // Setpoint mapping: Calculated decision variables that are plain sums of Operative tags.
  const sums = new Map<number, SumMapping>();
  for (const task of spec.tasks.filter((t) => t.name === PRECALCULATION_TASK)) {
    for (const n of flattenSequence(task.skill_sequence, spec.skills)) {
      const skill = spec.skills[n]!;
      if (skill.class !== 'MathFunction') continue;
      const out = skill.outputs[0]!;
      if (spec.variables[out]?.type !== 'Calculated') continue;
      const parts = sumTerms(skill.config.formula, skill.inputs);
      if (parts?.every((p) => spec.variables[p]?.type === 'Operative'))
        sums.set(idx(out), { parts: parts.map(idx) });
    }
  }

  // Plant values a cycle needs: every Operative or Informative variable a running skill reads.
  const required = new Set<number>();
  for (const task of spec.tasks) {
    for (const n of flattenSequence(task.skill_sequence, spec.skills)) {
      const skill = spec.skills[n]!;
      const reads =
        skill.class === 'OptimizationSkill'
          ? [
              ...skill.inputs,
              ...flattenSequence([skill.config.cost_skill_name], spec.skills).flatMap(
                (s) => spec.skills[s]!.inputs,
              ),
            ]
          : skill.inputs;
      for (const v of reads) {
        const t = spec.variables[v]?.type;
        if (t === 'Operative' || t === 'Informative') required.add(idx(v));
      }
    }
  }

  const taskSequences = spec.tasks.map((t) => ({ name: t.name, sequence: sequence(t.skill_sequence) }));
  const now = options.now ?? (() => new Date());
  const pool: Workspace[] = [];
  const modelFiles = [...models].flatMap(([skill, m]) => m.files.map((f) => ({ ...f, skill })));

  const engine = {
    spec,
    names,
    types,
    plans,
    required,
    taskSequences,
    optimization,
    sums,
    version: options.version ?? spec.version ?? null,
  };

  async function withWorkspace<T>(fn: (ws: Workspace) => Promise<T>): Promise<T> {
    const ws = pool.pop() ?? new Workspace(names.length, plans);
    try {
      return await fn(ws);
    } finally {
      pool.push(ws);
    }
  }

  return {
    version: engine.version,
    spec,
    warnings,
    decisionVariables: optimization ? [...optimization.decisions].map((i) => names[i]!) : [],
    modelFiles,
    optimize: (state, cycleOptions = {}) =>
      withWorkspace((ws) => runCycle(engine, ws, state, { mode: 'optimize', cycleOptions, optimizer, now })),
    simulate: (state, decisions = {}) =>
      withWorkspace((ws) => runCycle(engine, ws, state, { mode: 'simulate', decisions, optimizer, now })),
    monitor: (state) =>
      withWorkspace((ws) => runCycle(engine, ws, state, { mode: 'monitor', optimizer, now })),
    evaluate: (state, points, count) =>
      withWorkspace((ws) => evaluateBatch(engine, ws, state, points, count)),
    async dispose() {
      await Promise.all(groups.map((g) => g.dispose()));
      await Promise.all([...models.values()].map((m) => m.dispose()));
    },
  };
}

async function runCycle(e: Engine, ws: Workspace, state: PlantState, req: RunRequest): Promise<CycleResult> {
  const started = performance.now();
  const warnings: string[] = [];
  const provided = readPlantState(e, ws, state);
  let outcome: Outcome | undefined;
  await runTasks(e, ws, async () => {
    outcome = await solve(e, ws, req, warnings);
  });
  return buildResult(e, ws, provided, outcome, req, warnings, performance.now() - started);
}

/**
 * Runs the tasks in order on row 0 (dof = current at the start). Each non-optimization
 * skill runs once, checked; after PreCalculateVariables every Calculated variable's
 * current value becomes what was computed; at the optimization skill the state so far
 * becomes the base of every candidate row and `optimize` runs.
 */
async function runTasks(e: Engine, ws: Workspace, optimize: () => Promise<void>): Promise<void> {
  for (let v = 0; v < e.names.length; v++) ws.dof[v]![0] = ws.current[v]!;
  for (const task of e.taskSequences) {
    for (let s = 0; s < task.sequence.length; s++) {
      const plan = e.plans[task.sequence[s]!]!;
      if (plan.kind === 'optimize') {
        for (let v = 0; v < e.names.length; v++) ws.base[v] = ws.dof[v]![0]!;
        await optimize();
      } else {
        await ws.run(task.sequence.subarray(s, s + 1), 1, true);
      }
    }
    if (task.name === PRECALCULATION_TASK) {
      for (let v = 0; v < e.names.length; v++)
        if (e.types[v] === 'Calculated') ws.current[v] = ws.dof[v]![0]!;
    }
  }
}

async function evaluateBatch(
  e: Engine,
  ws: Workspace,
  state: PlantState,
  points: Float64Array,
  count: number,
): Promise<Float64Array> {
  const plan = e.optimization;
  if (!plan)
    throw new InputDataError('the strategy has no OptimizationSkill, so there is no cost to evaluate');
  const n = plan.decisions.length;
  if (!(Number.isInteger(count) && count >= 0) || points.length < count * n) {
    throw new InputDataError(`points must hold ${count} rows of ${n} decision values`);
  }
  readPlantState(e, ws, state);
  const costs = new Float64Array(count);
  await runTasks(e, ws, () => costBatch(ws, plan)(points, count, costs));
  return costs;
}

/** The cost of a batch of candidate points, starting from the base state. */
function costBatch(ws: Workspace, plan: OptimizationPlan) {
  const n = plan.decisions.length;
  return async (points: Float64Array, count: number, costs: Float64Array): Promise<void> => {
    ws.ensure(count);
    ws.reset(count);
    for (let j = 0; j < n; j++) {
      const col = ws.dof[plan.decisions[j]!]!;
      for (let r = 0; r < count; r++) col[r] = points[r * n + j]!;
    }
    await ws.run(plan.costSequence, count);
    const cost = ws.dof[plan.costVariable]!;
    for (let r = 0; r < count; r++) costs[r] = cost[r]!;
  };
}

/** Fills current values from the plant state; missing required values and bad numbers are errors. */
function readPlantState(e: Engine, ws: Workspace, state: PlantState): boolean[] {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new InputDataError('input data must be an object mapping variable names to numbers');
  }
  const provided: boolean[] = [];
  const bad: string[] = [];
  const missing: string[] = [];
  e.names.forEach((name, v) => {
    const raw = Object.hasOwn(state, name) ? state[name] : undefined;
    if (raw === undefined || raw === null) {
      provided[v] = false;
      ws.current[v] = 0;
      if (e.required.has(v)) missing.push(name);
      return;
    }
    const value =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    if (!Number.isFinite(value)) bad.push(`${name} (${JSON.stringify(raw)})`);
    provided[v] = true;
    ws.current[v] = value;
  });
  if (missing.length > 0) {
    throw new InputDataError(`missing input variables: ${missing.join(', ')}`);
  }
  if (bad.length > 0) throw new InputDataError(`input values are not finite numbers: ${bad.join(', ')}`);
  e.names.forEach((_, v) => {
    if (!provided[v] && !ZERO_START.has(e.types[v]!)) ws.current[v] = Number.NaN;
  });
  return provided;
}

async function solve(e: Engine, ws: Workspace, req: RunRequest, warnings: string[]): Promise<Outcome> {
  const plan = e.optimization!;
  const n = plan.decisions.length;
  const x0 = new Float64Array(n);
  const lower = new Float64Array(n);
  const upper = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const v = plan.decisions[j]!;
    const name = e.names[v]!;
    const spec = e.spec.variables[name]!;
    const c = ws.base[v]!;
    x0[j] = c;
    const t = spec.threshold === null ? 1 : (spec.threshold ?? 0);
    let lo = c - t;
    let hi = c + t;
    if (spec.min !== undefined) lo = Math.max(lo, spec.min);
    if (spec.max !== undefined) hi = Math.min(hi, spec.max);
    if (lo > hi) {
      // Outside its absolute limits by more than one move: go as close as one move allows.
      const target = c > (spec.max ?? c) ? c - t : c + t;
      lo = hi = target;
      warnings.push(
        `${name} = ${c} is outside its limits [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]; moving it by ${t} toward them`,
      );
    } else if (c < lo || c > hi) {
      warnings.push(
        `${name} = ${c} is outside its limits [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]; the recommendation moves it inside`,
      );
    }
    lower[j] = lo;
    upper[j] = hi;
  }

  const evaluate = costBatch(ws, plan);

  const clampedX0 = x0.map((c, j) => Math.min(Math.max(c, lower[j]!), upper[j]!));

  let x: Float64Array;
  let result: OptimizerResult | undefined;
  let algorithm = req.optimizer?.name ?? plan.algorithm;
  if (req.mode !== 'optimize') {
    algorithm = req.mode === 'monitor' ? 'none (monitor mode)' : 'none (simulation)';
    x = Float64Array.from(x0);
    for (const [name, value] of Object.entries(req.decisions ?? {})) {
      const j = [...plan.decisions].findIndex((v) => e.names[v] === name);
      if (j < 0) {
        throw new InputDataError(
          `'${name}' is not a decision variable; the decision variables are: ${[...plan.decisions].map((v) => e.names[v]).join(', ')}`,
        );
      }
      if (!Number.isFinite(value)) throw new InputDataError(`value of '${name}' is not a finite number`);
      if (value < lower[j]! || value > upper[j]!) {
        warnings.push(`${name} = ${value} is outside this cycle's bounds [${lower[j]}, ${upper[j]}]`);
      }
      x[j] = value;
    }
  } else if (n === 0) {
    x = new Float64Array(0);
    warnings.push('the optimization has no decision variables; holding the current values');
  } else {
    const o = { ...plan.options, signal: req.cycleOptions?.signal };
    const limit = req.cycleOptions?.maxTimeMs;
    if (limit !== undefined) o.maxTimeMs = o.maxTimeMs === undefined ? limit : Math.min(o.maxTimeMs, limit);
    try {
      result = await req.optimizer!.minimize({ dimension: n, lower, upper, x0: clampedX0, evaluate }, o);
    } catch (err) {
      throw new CycleError(`optimizer ${plan.algorithm} failed: ${stripPrefix(err)}`, { cause: err });
    }
    x = result.x;
  }

  // One batch: the answer, the hold point, and one step per decision variable for sensitivities.
  const steps = new Float64Array(n);
  const batch = (at: Float64Array) => {
    const rows = n + 2;
    const points = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) points.set(r === 1 ? x0 : at, r * n);
    for (let j = 0; j < n; j++) {
      const width = upper[j]! - lower[j]!;
      const h = width > 0 ? 1e-3 * width : 1e-6 * Math.max(1, Math.abs(at[j]!));
      steps[j] = at[j]! + h > upper[j]! && width > 0 ? -h : h;
      points[(j + 2) * n + j] = at[j]! + steps[j]!;
    }
    return { points, rows };
  };
  let final = batch(x);
  const costs = new Float64Array(final.rows);
  await evaluate(final.points, final.rows, costs);
  const cost = costs[0]!;
  const costAtCurrent = costs[1]!;
  if (!Number.isFinite(costAtCurrent)) {
    // Holding must be computable: find the skill that fails at the current values.
    ws.reset(1);
    for (let j = 0; j < n; j++) ws.dof[plan.decisions[j]!]![0] = x0[j]!;
    await ws.run(plan.costSequence, 1, true);
    throw new CycleError(`the cost is not finite (${costAtCurrent}) at the current plant values`);
  }
  let held = false;
  let holdReason = '';
  if (req.mode === 'optimize' && n > 0) {
    const outside = [...x].some(
      (xi, j) => xi < lower[j]! - 1e-9 * Math.abs(lower[j]!) || xi > upper[j]! + 1e-9 * Math.abs(upper[j]!),
    );
    const tolerance = 1e-9 * Math.max(1, Math.abs(costAtCurrent));
    if (outside) holdReason = 'the optimizer returned a point outside the bounds';
    else if (!Number.isFinite(cost))
      holdReason = `the cost at the optimizer's answer is not finite (${cost})`;
    else if (cost > costAtCurrent + tolerance)
      holdReason = `the optimizer's answer (cost ${cost}) is not better than holding (cost ${costAtCurrent})`;
    if (holdReason) {
      held = true;
      x = Float64Array.from(x0);
      warnings.push(`holding the current values: ${holdReason}`);
      // Row 0 and the sensitivities must describe what is recommended: the current values.
      final = batch(x);
      await evaluate(final.points, final.rows, costs);
    }
  }

  // Row 0 now holds the clean forward values at the recommendation, row 1 at holding.
  const atCurrent = new Float64Array(e.names.length);
  for (let v = 0; v < e.names.length; v++) atCurrent[v] = ws.dof[v]![1]!;
  const sensitivity = new Map<number, Float64Array>();
  for (const p of e.plans) {
    if (p.kind !== 'constraint') continue;
    const col = ws.dof[p.out]!;
    const s = new Float64Array(n);
    for (let j = 0; j < n; j++) s[j] = (col[j + 2]! - col[0]!) / steps[j]!;
    sensitivity.set(p.out, s);
  }
  const recommendedCost = ws.dof[plan.costVariable]![0]!;
  return {
    decisions: plan.decisions,
    x0,
    x,
    lower,
    upper,
    costAtCurrent,
    cost: recommendedCost,
    algorithm,
    result,
    held,
    holdReason,
    sensitivity,
    atCurrent,
  };
}

/**
 * Replaces each run of two or more consecutive model skills in `sequence` that do not feed
 * each other with one fused group (one runtime call per batch), where the provider can fuse them.
 */
async function fuseModelRuns(
  sequence: Int32Array,
  plans: Plan[],
  provider: ModelProvider,
  groups: SurrogateModelGroup[],
): Promise<Int32Array> {
  const out: number[] = [];
  let s = 0;
  while (s < sequence.length) {
    const run: number[] = [];
    const written = new Set<number>();
    for (let t = s; t < sequence.length; t++) {
      const plan = plans[sequence[t]!]!;
      if (plan.kind !== 'model') break;
      const reads = [...plan.inputs].filter((_, j) => plan.feeds[j] !== 2);
      if (reads.some((v) => written.has(v))) break;
      run.push(sequence[t]!);
      written.add(plan.out);
    }
    const group =
      run.length >= 2
        ? await provider.fuse!(run.map((k) => (plans[k] as Extract<Plan, { kind: 'model' }>).model))
        : undefined;
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
  return Int32Array.from(out);
}
