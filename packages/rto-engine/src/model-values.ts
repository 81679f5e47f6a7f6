import { readPlantState, runTasks } from './cycle.ts';
import { CycleError, InputDataError } from './errors.ts';
import { moveBounds } from './semantics.ts';
import { costBatch, derivativesFor } from './solve.ts';
import { restrictToDomains } from './training-domain.ts';
import type { CycleSetup, ModelValues, PlantState } from './types.ts';
import type { Workspace } from './workspace.ts';

/**
 * The models evaluated at a plant state as `monitor` (no `decisions`) or `simulate` (with them)
 * evaluate them, reduced to the values of the variables `names`: the same numbers, bit for bit,
 * and the same errors, without what the result adds (the result itself, sensitivities,
 * explanation, training-domain checks, warnings). Made for a mismatch monitor that compares a
 * few predictions with the plant at many rows.
 */
export async function modelValues(
  setup: CycleSetup,
  ws: Workspace,
  state: PlantState,
  names: readonly string[],
  decisions?: Readonly<Record<string, number>>,
): Promise<ModelValues> {
  const { plan } = setup;
  const indexes = names.map((name) => {
    const v = plan.names.indexOf(name);
    if (v < 0) throw new InputDataError(`'${name}' is not a variable of the strategy`);
    return v;
  });
  const provided = readPlantState(plan, ws, state);
  ws.shift.fill(0); // no bias correction: monitor and simulate take none
  let point: { decisions: Int32Array; x: Float64Array } | undefined;
  await runTasks(plan, ws, async () => {
    point = await evaluateAt(setup, ws, decisions ?? {});
  });
  const variables: ModelValues['variables'] = {};
  names.forEach((name, i) => {
    const v = indexes[i]!;
    const type = plan.types[v]!;
    const input = type === 'Operative' || type === 'Informative';
    if (!(provided[v] || !input)) {
      variables[name] = { current: null, value: null };
      return;
    }
    const current = ws.current[v]!;
    const j = point ? point.decisions.indexOf(v) : -1;
    const derived = !input && type !== 'Calculated';
    variables[name] = { current, value: j >= 0 ? point!.x[j]! : derived ? ws.dof[v]![0]! : current };
  });
  const models: ModelValues['models'] = {};
  for (const domain of setup.domains) {
    const e = domain.trainingError;
    models[domain.skill] = {
      training_error: e ? { rmse: e.rmse ?? null, mean_abs: e.meanAbs ?? null } : null,
    };
  }
  return { variables, models };
}

/**
 * The optimization step of `solve` in monitor and simulate mode, without what only the result
 * reads: the same checks of the decision values, the same batch (row 0 at the decision values,
 * row 1 holding, the finite-difference rows when the sensitivities take them), on the same
 * evaluation path, and the same failure when holding cannot be computed.
 */
async function evaluateAt(
  setup: CycleSetup,
  ws: Workspace,
  decisions: Readonly<Record<string, number>>,
): Promise<{ decisions: Int32Array; x: Float64Array }> {
  const { plan } = setup;
  const opt = plan.optimization!;
  const n = opt.decisions.length;
  const box = { x0: new Float64Array(n), lower: new Float64Array(n), upper: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    const v = opt.decisions[j]!;
    const bounds = moveBounds(plan.spec.variables[plan.names[v]!]!, ws.base[v]!);
    box.x0[j] = ws.base[v]!;
    box.lower[j] = bounds.lower;
    box.upper[j] = bounds.upper;
  }
  // The bounds only move the finite-difference rows, as in `solve`.
  if (plan.spec.models?.extrapolation === 'restrict') restrictToDomains(setup.domains, ws, box);
  const x = Float64Array.from(box.x0);
  for (const [name, value] of Object.entries(decisions)) {
    const j = [...opt.decisions].findIndex((v) => plan.names[v] === name);
    if (j < 0) {
      throw new InputDataError(
        `'${name}' is not a decision variable; the decision variables are: ${[...opt.decisions].map((v) => plan.names[v]).join(', ')}`,
      );
    }
    if (!Number.isFinite(value)) throw new InputDataError(`value of '${name}' is not a finite number`);
    x[j] = value;
  }
  const exact = derivativesFor(plan, ws).modelsWithoutDerivatives.length === 0;
  const rows = exact ? 2 : n + 2;
  const points = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) points.set(r === 1 ? box.x0 : x, r * n);
  if (!exact) {
    for (let j = 0; j < n; j++) {
      const width = box.upper[j]! - box.lower[j]!;
      const h = width > 0 ? 1e-3 * width : 1e-6 * Math.max(1, Math.abs(x[j]!));
      points[(j + 2) * n + j] = x[j]! + (x[j]! + h > box.upper[j]! && width > 0 ? -h : h);
    }
  }
  const costs = new Float64Array(rows);
  await costBatch(ws, opt, exact)(points, rows, costs);
  if (!Number.isFinite(costs[1]!)) {
    ws.reset(1);
    for (let j = 0; j < n; j++) ws.dof[opt.decisions[j]!]![0] = box.x0[j]!;
    await ws.run(opt.costSequence, 1, true);
    throw new CycleError(`the cost is not finite (${costs[1]}) at the current plant values`);
  }
  return { decisions: opt.decisions, x };
}
