import { InputDataError } from './errors.ts';
import type { StrategyPlan } from './plan.ts';
import { buildResult } from './result-builder.ts';
import type { CycleResult } from './result-schema.ts';
import { PRECALCULATION_TASK, startsAtZero } from './semantics.ts';
import { costBatch, derivativesFor, type Outcome, solve } from './solve.ts';
import type { CycleRequest, CycleSetup, PlantState } from './types.ts';
import type { Workspace } from './workspace.ts';

/** One cycle on a workspace: plant state in, result out. */
export async function runCycle(
  setup: CycleSetup,
  ws: Workspace,
  state: PlantState,
  req: CycleRequest,
): Promise<CycleResult> {
  const started = performance.now();
  const warnings: string[] = [];
  const provided = readPlantState(setup.plan, ws, state);
  const biasCorrection = applyModelBias(setup, ws, req);
  let outcome: Outcome | undefined;
  await runTasks(setup.plan, ws, async () => {
    outcome = await solve(setup, ws, req, warnings);
  });
  return buildResult(setup, ws, {
    mode: req.mode,
    provided,
    outcome,
    warnings,
    elapsed: performance.now() - started,
    biasCorrection,
  });
}

/**
 * Sets each model's bias shift for this cycle (`models.bias_correction` with biases from the
 * caller; 0 otherwise) and returns the applied shifts by skill.
 */
function applyModelBias(setup: CycleSetup, ws: Workspace, req: CycleRequest): Map<string, number> {
  const applied = new Map<string, number>();
  const { plans, spec } = setup.plan;
  const biases = spec.models?.bias_correction === true ? req.cycleOptions?.modelBias : undefined;
  for (let k = 0; k < plans.length; k++) {
    const p = plans[k]!;
    const bias = p.kind === 'model' && biases && Object.hasOwn(biases, p.name) ? biases[p.name]! : 0;
    if (bias !== 0 && !Number.isFinite(bias)) {
      throw new InputDataError(`the bias correction of model '${p.name}' is not a finite number (${bias})`);
    }
    ws.shift[k] = bias;
    if (p.kind === 'model' && biases && Object.hasOwn(biases, p.name)) applied.set(p.name, bias);
  }
  return applied;
}

/**
 * Runs the tasks in order on row 0 (dof = current at the start). Each non-optimization
 * skill runs once, checked; after PreCalculateVariables every Calculated variable's
 * current value becomes what was computed; at the optimization skill the state so far
 * becomes the base of every candidate row and `optimize` runs.
 */
export async function runTasks(
  plan: StrategyPlan,
  ws: Workspace,
  optimize: () => Promise<void>,
): Promise<void> {
  const size = plan.names.length;
  for (let v = 0; v < size; v++) ws.dof[v]![0] = ws.current[v]!;
  for (const task of plan.taskSequences) {
    for (let s = 0; s < task.sequence.length; s++) {
      const skill = plan.plans[task.sequence[s]!]!;
      if (skill.kind === 'optimize') {
        for (let v = 0; v < size; v++) ws.base[v] = ws.dof[v]![0]!;
        await optimize();
      } else {
        await ws.run(task.sequence.subarray(s, s + 1), 1, true);
      }
    }
    if (task.name === PRECALCULATION_TASK) {
      for (let v = 0; v < size; v++) if (plan.types[v] === 'Calculated') ws.current[v] = ws.dof[v]![0]!;
    }
  }
}

/** The cost at `count` candidate points for one plant state (`CompiledStrategy.evaluate`). */
export async function evaluateBatch(
  plan: StrategyPlan,
  ws: Workspace,
  state: PlantState,
  points: Float64Array,
  count: number,
): Promise<Float64Array> {
  const opt = plan.optimization;
  if (!opt)
    throw new InputDataError('the strategy has no OptimizationSkill, so there is no cost to evaluate');
  const n = opt.decisions.length;
  if (!(Number.isInteger(count) && count >= 0) || points.length < count * n) {
    throw new InputDataError(`points must hold ${count} rows of ${n} decision values`);
  }
  readPlantState(plan, ws, state);
  ws.shift.fill(0);
  const costs = new Float64Array(count);
  await runTasks(plan, ws, () => costBatch(ws, opt)(points, count, costs));
  return costs;
}

/** The cost and its exact derivatives at `count` candidate points (`CompiledStrategy.evaluateGradient`). */
export async function evaluateGradientBatch(
  plan: StrategyPlan,
  ws: Workspace,
  state: PlantState,
  points: Float64Array,
  count: number,
): Promise<{ costs: Float64Array; gradients: Float64Array; kinks: number }> {
  const opt = plan.optimization;
  if (!opt)
    throw new InputDataError('the strategy has no OptimizationSkill, so there is no cost to differentiate');
  const n = opt.decisions.length;
  if (!(Number.isInteger(count) && count >= 0) || points.length < count * n) {
    throw new InputDataError(`points must hold ${count} rows of ${n} decision values`);
  }
  readPlantState(plan, ws, state);
  ws.shift.fill(0);
  const costs = new Float64Array(count);
  const gradients = new Float64Array(count * n);
  let kinks = 0;
  await runTasks(plan, ws, async () => {
    kinks = await derivativesFor(plan, ws).run(points, count, costs, gradients);
  });
  return { costs, gradients, kinks };
}

/** Fills current values from the plant state; missing required values and bad numbers are errors. */
export function readPlantState(plan: StrategyPlan, ws: Workspace, state: PlantState): boolean[] {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new InputDataError('input data must be an object mapping variable names to numbers');
  }
  const provided: boolean[] = [];
  const bad: string[] = [];
  const missing: string[] = [];
  plan.names.forEach((name, v) => {
    const raw = Object.hasOwn(state, name) ? state[name] : undefined;
    if (raw === undefined || raw === null) {
      provided[v] = false;
      ws.current[v] = 0;
      if (plan.required.has(v)) missing.push(name);
      return;
    }
    const value =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    if (!Number.isFinite(value)) bad.push(`${name} (${JSON.stringify(raw)})`);
    provided[v] = true;
    ws.current[v] = value;
  });
  if (missing.length > 0) throw new InputDataError(`missing input variables: ${missing.join(', ')}`);
  if (bad.length > 0) throw new InputDataError(`input values are not finite numbers: ${bad.join(', ')}`);
  plan.names.forEach((_, v) => {
    if (!provided[v] && !startsAtZero(plan.types[v]!)) ws.current[v] = Number.NaN;
  });
  return provided;
}
