import { type ConstraintLimits, constraintScore } from './constraint-score.ts';
import {
  CycleError,
  InputDataError,
  ModelLoadError,
  type StrategyIssue,
  StrategyValidationError,
} from './errors.ts';
import { type CompiledFormula, compileFormula } from './formula/index.ts';
import type { ModelFile, ModelProvider, SurrogateModel, SurrogateModelGroup } from './model-provider.ts';
import { createOptimizer } from './optimizer/index.ts';
import type { Optimizer, OptimizerOptions, OptimizerResult } from './optimizer/types.ts';
import type {
  ConstraintExplanation,
  CycleResult,
  SetpointResult,
  VariableCategory,
  VariableResult,
} from './result.ts';
import type { SkillSpec, StrategySpec, VariableType } from './schema.ts';
import {
  checkStrategy,
  fixedOperatives,
  flattenSequence,
  formulaSymbols,
  PRECALCULATION_TASK,
  stripPrefix,
} from './validate.ts';

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

type Plan =
  | { kind: 'math'; name: string; out: number; formula: CompiledFormula }
  | { kind: 'constraint'; name: string; input: number; out: number; limits: ConstraintLimits }
  | {
      kind: 'model';
      name: string;
      inputs: Int32Array;
      /** Per input: 0 = dof - current (Delta), 1 = dof, 2 = zero (predecessor compat). */
      feeds: Uint8Array;
      out: number;
      model: SurrogateModel;
    }
  | {
      kind: 'modelGroup';
      name: string;
      /** Plan indices of the member model skills, in sequence order. */
      members: Int32Array;
      group: SurrogateModelGroup;
    }
  | { kind: 'optimize'; name: string };

interface OptimizationPlan {
  skill: string;
  costSequence: Int32Array;
  costVariable: number;
  decisions: Int32Array;
  algorithm: string;
  options: OptimizerOptions;
}

interface SumMapping {
  /** Operative parts of a Calculated sum, as variable indices. */
  parts: number[];
}

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

type Engine = {
  spec: StrategySpec;
  names: string[];
  types: VariableType[];
  plans: Plan[];
  required: Set<number>;
  taskSequences: { name: string; sequence: Int32Array }[];
  optimization: OptimizationPlan | undefined;
  sums: Map<number, SumMapping>;
  version: string | null;
};

/**
 * The columnar state of one cycle: a dof column per variable (one row per candidate
 * point), the current values, and each formula bound to those columns. Reused across
 * cycles; grows rarely.
 */
class Workspace {
  capacity = 0;
  dof: Float64Array[] = [];
  readonly current: Float64Array;
  /** dof values of the cycle's state before the optimizer moves anything (row template). */
  readonly base: Float64Array;
  private fns: (((row: number) => number) | undefined)[] = [];
  private modelIn: (Float64Array | undefined)[] = [];
  private modelOut: (Float64Array | undefined)[] = [];
  /** Per model group: its members' input and output buffers, in member order. */
  private groupIn: (Float64Array[] | undefined)[] = [];
  private groupOut: (Float64Array[] | undefined)[] = [];

  constructor(
    private readonly size: number,
    private readonly plans: readonly Plan[],
  ) {
    this.current = new Float64Array(size);
    this.base = new Float64Array(size);
    this.ensure(16);
  }

  ensure(rows: number): void {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, this.capacity * 2);
    this.dof = Array.from({ length: this.size }, () => new Float64Array(capacity));
    this.fns = this.plans.map((p) =>
      p.kind === 'math' ? p.formula.bind(this.dof, this.current) : undefined,
    );
    this.modelIn = this.plans.map((p) =>
      p.kind === 'model' ? new Float64Array(capacity * p.inputs.length) : undefined,
    );
    this.modelOut = this.plans.map((p) => (p.kind === 'model' ? new Float64Array(capacity) : undefined));
    const members = (p: Plan, of: (Float64Array | undefined)[]) =>
      p.kind === 'modelGroup' ? [...p.members].map((m) => of[m]!) : undefined;
    this.groupIn = this.plans.map((p) => members(p, this.modelIn));
    this.groupOut = this.plans.map((p) => members(p, this.modelOut));
    this.capacity = capacity;
  }

  /** Sets `count` rows to the base state. */
  reset(count: number): void {
    for (let v = 0; v < this.size; v++) this.dof[v]!.fill(this.base[v]!, 0, count);
  }

  /** A non-finite value in row 0 after skill `k` ran at the current values is an error naming the skill. */
  private checkRow0(k: number): void {
    const plan = this.plans[k]!;
    if (plan.kind === 'optimize') return;
    if (plan.kind === 'modelGroup') {
      for (const m of plan.members) this.checkRow0(m);
      return;
    }
    const value = this.dof[plan.out]![0]!;
    if (!Number.isFinite(value)) {
      throw new CycleError(
        `skill '${plan.name}' computed a non-finite value (${value}) at the current plant values; check its inputs and formula (e.g. a division by zero)`,
      );
    }
  }

  /** Writes a model skill's inputs for `count` rows into its buffer: Delta dof - current, dof, or 0. */
  private gather(k: number, count: number): void {
    const plan = this.plans[k] as Extract<Plan, { kind: 'model' }>;
    const buf = this.modelIn[k]!;
    const width = plan.inputs.length;
    for (let j = 0; j < width; j++) {
      const v = plan.inputs[j]!;
      const col = this.dof[v]!;
      const feed = plan.feeds[j];
      const cur = this.current[v]!;
      for (let r = 0; r < count; r++) {
        buf[r * width + j] = feed === 0 ? col[r]! - cur : feed === 1 ? col[r]! : 0;
      }
    }
  }

  /** Writes a model skill's predictions: the output's current value plus the prediction. */
  private scatter(k: number, count: number): void {
    const plan = this.plans[k] as Extract<Plan, { kind: 'model' }>;
    const res = this.modelOut[k]!;
    const out = this.dof[plan.out]!;
    const base = this.current[plan.out]!;
    for (let r = 0; r < count; r++) out[r] = base + res[r]!;
  }

  /**
   * Runs leaf skills over `count` rows. With `check`, a non-finite output in row 0 is an
   * error naming the skill (used at the current values, where it cannot be infeasibility).
   */
  async run(sequence: Int32Array, count: number, check = false): Promise<void> {
    const dof = this.dof;
    for (let s = 0; s < sequence.length; s++) {
      const k = sequence[s]!;
      const plan = this.plans[k]!;
      switch (plan.kind) {
        case 'math': {
          const f = this.fns[k]!;
          const out = dof[plan.out]!;
          for (let r = 0; r < count; r++) out[r] = f(r);
          break;
        }
        case 'constraint': {
          const input = dof[plan.input]!;
          const out = dof[plan.out]!;
          for (let r = 0; r < count; r++) out[r] = constraintScore(input[r]!, plan.limits);
          break;
        }
        case 'model': {
          this.gather(k, count);
          await plan.model.predict(this.modelIn[k]!, count, this.modelOut[k]!);
          this.scatter(k, count);
          break;
        }
        case 'modelGroup': {
          const members = plan.members;
          for (let m = 0; m < members.length; m++) this.gather(members[m]!, count);
          await plan.group.predict(this.groupIn[k]!, count, this.groupOut[k]!);
          for (let m = 0; m < members.length; m++) this.scatter(members[m]!, count);
          break;
        }
        case 'optimize':
          break;
      }
      if (check) this.checkRow0(k);
    }
  }
}

interface RunRequest {
  mode: 'optimize' | 'simulate' | 'monitor';
  cycleOptions?: CycleOptions;
  decisions?: Readonly<Record<string, number>>;
  optimizer: Optimizer | undefined;
  now: () => Date;
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

interface Outcome {
  decisions: Int32Array;
  x0: Float64Array;
  x: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  costAtCurrent: number;
  cost: number;
  algorithm: string;
  result: OptimizerResult | undefined;
  held: boolean;
  holdReason: string;
  /** Constraint-score sensitivities per decision variable (score change per unit), by constraint variable. */
  sensitivity: Map<number, Float64Array>;
  /** Every variable's dof when holding the current values. */
  atCurrent: Float64Array;
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
  const rows = n + 2;
  const points = new Float64Array(rows * n);
  const steps = new Float64Array(n);
  for (let r = 0; r < rows; r++) points.set(r === 1 ? x0 : x, r * n);
  for (let j = 0; j < n; j++) {
    const width = upper[j]! - lower[j]!;
    const h = width > 0 ? 1e-3 * width : 1e-6 * Math.max(1, Math.abs(x[j]!));
    steps[j] = x[j]! + h > upper[j]! && width > 0 ? -h : h;
    points[(j + 2) * n + j] = x[j]! + steps[j]!;
  }
  const costs = new Float64Array(rows);
  await evaluate(points, rows, costs);
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
    }
  }

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

  // Row 0 holds the clean forward values at the recommendation, unless po holds.
  if (held) {
    ws.reset(1);
    for (let j = 0; j < n; j++) ws.dof[plan.decisions[j]!]![0] = x[j]!;
    await ws.run(plan.costSequence, 1);
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

const CATEGORY: Record<VariableType, VariableCategory> = {
  Operative: 'input',
  Informative: 'input',
  Calculated: 'calculated',
  Delta: 'delta',
  Predicted: 'predicted',
  Constraint: 'constraint',
  CalculatedKPI: 'kpi',
};

function buildResult(
  e: Engine,
  ws: Workspace,
  provided: boolean[],
  outcome: Outcome | undefined,
  req: RunRequest,
  warnings: string[],
  elapsed: number,
): CycleResult {
  const variables: Record<string, VariableResult> = {};
  const setpoints: Record<string, SetpointResult> = {};
  const units = (v: number) => e.spec.variables[e.names[v]!]!.units ?? null;
  const round = (x: number) => x;

  e.names.forEach((name, v) => {
    const type = e.types[v]!;
    const current = ws.current[v]!;
    const derived = type !== 'Operative' && type !== 'Informative' && type !== 'Calculated';
    const known = provided[v] || (type !== 'Operative' && type !== 'Informative');
    const suggested = derived ? ws.dof[v]![0]! : current;
    variables[name] = {
      category: CATEGORY[type],
      type,
      units: units(v),
      user_input_value: known ? round(current) : null,
      optimizer_suggested_value: known ? round(suggested) : null,
      delta: known ? suggested - current : null,
      ...(derived && outcome ? { value_at_current: outcome.atCurrent[v]! } : {}),
    };
  });

  const decisionNames: string[] = [];
  if (outcome && req.mode !== 'monitor') {
    outcome.decisions.forEach((v, j) => {
      const name = e.names[v]!;
      decisionNames.push(name);
      const x = outcome.x[j]!;
      const lo = outcome.lower[j]!;
      const hi = outcome.upper[j]!;
      const tol = 1e-6 * Math.max(hi - lo, 1e-12);
      const entry = variables[name]!;
      Object.assign(entry, {
        category: 'optimized',
        user_input_value: outcome.x0[j]!,
        optimizer_suggested_value: x,
        delta: x - outcome.x0[j]!,
        lower_bound: lo,
        upper_bound: hi,
        at_bound: hi - lo <= 0 ? null : x <= lo + tol ? 'lower' : x >= hi - tol ? 'upper' : null,
      } satisfies Partial<VariableResult>);
      if (e.types[v] === 'Operative') {
        setpoints[name] = {
          current: outcome.x0[j]!,
          recommended: x,
          delta: x - outcome.x0[j]!,
          units: units(v),
          from: name,
        };
        return;
      }
      const sum = e.sums.get(v);
      if (!sum) {
        warnings.push(`${name} is Calculated but not a plain sum of Operative tags, so it has no setpoints`);
        return;
      }
      const split = splitSum(e, ws, sum, outcome.x0[j]!, x);
      if (split.unplaced !== 0) {
        warnings.push(
          `${name}: ${split.unplaced} of the recommended change does not fit within the thresholds and limits of ${sum.parts.map((p) => e.names[p]).join(', ')}`,
        );
      }
      sum.parts.forEach((p, i) => {
        const part = e.names[p]!;
        const cur = ws.current[p]!;
        const rec = split.values[i]!;
        setpoints[part] = { current: cur, recommended: rec, delta: rec - cur, units: units(p), from: name };
        Object.assign(variables[part]!, {
          category: 'setpoint',
          optimizer_suggested_value: rec,
          delta: rec - cur,
        });
      });
    });
  }

  const constraints: Record<string, ConstraintExplanation> = {};
  if (outcome) {
    for (const p of e.plans) {
      if (p.kind !== 'constraint') continue;
      const score = ws.dof[p.out]![0]!;
      if (!(score < 1)) continue;
      const s = outcome.sensitivity.get(p.out)!;
      const pushedBy = decisionNames
        .map((variable, j) => {
          const threshold = outcome.upper[j]! - outcome.lower[j]!;
          return { variable, score_per_unit: s[j]!, effect_over_threshold: (s[j]! * threshold) / 2 };
        })
        .filter((x) => Number.isFinite(x.score_per_unit) && x.score_per_unit !== 0)
        .sort((a, b) => Math.abs(b.effect_over_threshold) - Math.abs(a.effect_over_threshold));
      constraints[e.names[p.out]!] = { score, value: ws.dof[p.input]![0]!, pushed_by: pushedBy };
    }
  }

  const pick = (cat: (r: VariableResult) => boolean) =>
    Object.fromEntries(Object.entries(variables).filter(([, r]) => cat(r)));
  const optimized = pick((r) => r.category === 'optimized');
  const predicted = pick((r) => r.category === 'predicted');
  const constraintVars = pick((r) => r.category === 'constraint');
  const cost = outcome?.cost ?? Number.NaN;
  const costAtCurrent = outcome?.costAtCurrent ?? Number.NaN;
  const r = outcome?.result;
  const message = outcome?.held
    ? `holding the current values: ${outcome.holdReason}`
    : req.mode === 'simulate'
      ? 'simulation at the given decision values'
      : req.mode === 'monitor'
        ? 'monitor mode: predictions and constraint scores at the current values, no recommendation'
        : (r?.message ?? 'no optimization');
  return {
    status: 'success',
    mode: req.mode,
    timestamp: req.now().toISOString(),
    config_version: e.version,
    duration_ms: elapsed,
    variables,
    optimized_variables: optimized,
    predicted_variables: predicted,
    constraint_variables: constraintVars,
    cost_function_value: cost,
    cost_at_current: costAtCurrent,
    setpoints,
    optimizer: {
      algorithm: outcome?.algorithm ?? 'none',
      iterations: r?.iterations ?? 0,
      evaluations: r?.evaluations ?? 0,
      batches: r?.batches ?? 0,
      converged: r?.converged ?? false,
      timed_out: r?.timedOut ?? false,
      held: outcome?.held ?? false,
      message,
    },
    explanation: { constraints },
    summary: {
      total_variables: e.names.length,
      optimized_count: Object.keys(optimized).length,
      setpoint_count: Object.keys(setpoints).length,
      predicted_count: Object.keys(predicted).length,
      constraint_count: Object.keys(constraintVars).length,
      constraints_below_one: Object.keys(constraints).length,
      cost_improvement: costAtCurrent - cost,
      message,
    },
    warnings,
  };
}

/**
 * Splits a recommended total over its parts in proportion to their current values,
 * keeping each part within its own threshold and limits; what cannot be placed is reported.
 */
function splitSum(e: Engine, ws: Workspace, sum: SumMapping, total0: number, total: number) {
  const parts = sum.parts;
  const cur = parts.map((p) => ws.current[p]!);
  const lo = parts.map((p, i) => {
    const s = e.spec.variables[e.names[p]!]!;
    const t = s.threshold === null ? 1 : (s.threshold ?? 0);
    return Math.max(cur[i]! - t, s.min ?? Number.NEGATIVE_INFINITY);
  });
  const hi = parts.map((p, i) => {
    const s = e.spec.variables[e.names[p]!]!;
    const t = s.threshold === null ? 1 : (s.threshold ?? 0);
    return Math.min(cur[i]! + t, s.max ?? Number.POSITIVE_INFINITY);
  });
  const values = [...cur];
  let remaining = total - total0;
  for (
    let round = 0;
    round < parts.length + 1 && Math.abs(remaining) > 1e-12 * Math.max(1, Math.abs(total));
    round++
  ) {
    const free = parts.map((_, i) => (remaining > 0 ? values[i]! < hi[i]! : values[i]! > lo[i]!));
    const weights = cur.map((c, i) => (free[i] ? Math.abs(c) : 0));
    let wsum = weights.reduce((a, b) => a + b, 0);
    if (wsum === 0) {
      for (let i = 0; i < parts.length; i++) weights[i] = free[i] ? 1 : 0;
      wsum = weights.reduce((a, b) => a + b, 0);
    }
    if (wsum === 0) break;
    let placed = 0;
    for (let i = 0; i < parts.length; i++) {
      if (!free[i]) continue;
      const want = values[i]! + (remaining * weights[i]!) / wsum;
      const next = Math.min(Math.max(want, lo[i]!), hi[i]!);
      placed += next - values[i]!;
      values[i] = next;
    }
    remaining -= placed;
  }
  return { values, unplaced: Math.abs(remaining) > 1e-9 * Math.max(1, Math.abs(total)) ? remaining : 0 };
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
