import type { Logger, TrainingError } from '@po/core';
import {
  type CycleResult,
  initialMismatchState,
  type MismatchState,
  type MismatchStatus,
  type ModelTrust,
  type ModelValues,
  type MonitoredPrediction,
  mismatchSettings,
  mismatchStatus,
  mismatchThresholds,
  monitoredPredictions,
  type PlantState,
  type StrategySpec,
  strategyDecisionVariables,
  updateMismatch,
} from '@po/rto-engine';
import type { CycleStrategy, ModelMismatchHealth } from './types.ts';

/** A model's training error as a result reports it. */
function trainingError(trust: Pick<ModelTrust, 'training_error'> | undefined): TrainingError | undefined {
  const e = trust?.training_error;
  return e ? { rmse: e.rmse ?? undefined, meanAbs: e.mean_abs ?? undefined } : undefined;
}

/**
 * The decision variables' values in a cycle's plant state (in every mode), from the models
 * evaluated at it: what the tracker feeds the models at the reference cycle.
 */
export function observedDecisions(spec: StrategySpec, seen: ModelValues): Record<string, number> {
  const decisions: Record<string, number> = {};
  for (const name of strategyDecisionVariables(spec)) {
    const value = seen.variables[name]?.current;
    if (typeof value === 'number') decisions[name] = value;
  }
  return decisions;
}

/**
 * The variables whose values the tracker reads from the models (`ModelValues`): the decision
 * variables and the predictions it compares with the plant.
 */
export function observedVariables(spec: StrategySpec): string[] {
  const names = new Set(strategyDecisionVariables(spec));
  for (const m of monitoredPredictions(spec)) names.add(m.variable);
  return [...names];
}

/** What the tracker reads from a full `monitor`/`simulate` result: the same numbers `modelValues` gives. */
export function valuesOfResult(result: CycleResult, names: readonly string[]): ModelValues {
  const variables: ModelValues['variables'] = {};
  for (const name of names) {
    const r = result.variables[name] ?? result.derived_variables[name];
    if (r) variables[name] = { current: r.user_input_value, value: r.optimizer_suggested_value };
  }
  const models: ModelValues['models'] = {};
  for (const [skill, trust] of Object.entries(result.model_trust.models))
    models[skill] = { training_error: trust.training_error };
  return { variables, models };
}

/** The models a mismatch observation evaluates, reduced to what the tracker reads. */
export interface ObservedModels {
  monitor(state: PlantState): Promise<ModelValues>;
  /** Without it the tracker compares nothing. */
  simulate?(state: PlantState, decisions: Readonly<Record<string, number>>): Promise<ModelValues>;
}

const resultModelsOf = new WeakMap<CycleStrategy, ObservedModels>();

/** A strategy's own `monitor`/`simulate` as `ObservedModels`: its full results, reduced. */
export function resultModels(strategy: CycleStrategy): ObservedModels {
  let models = resultModelsOf.get(strategy);
  if (models) return models;
  const names = observedVariables(strategy.spec);
  models = {
    monitor: async (state) => valuesOfResult(await strategy.monitor(state), names),
    ...(strategy.simulate
      ? {
          simulate: async (state: PlantState, decisions: Readonly<Record<string, number>>) =>
            valuesOfResult(await strategy.simulate!(state, decisions), names),
        }
      : {}),
  };
  resultModelsOf.set(strategy, models);
  return models;
}

/**
 * The tracker's reference rule over remembered cycles in time order: the newest at or before
 * `before` (ms), or undefined.
 */
export function referenceCycle<T extends { at: number }>(
  history: readonly T[],
  before: number,
): T | undefined {
  for (let i = history.length - 1; i >= 0; i--) if (history[i]!.at <= before) return history[i];
  return undefined;
}

/** One cycle the tracker remembers: its plant state and the decision variables' values in it. */
interface Seen {
  at: number;
  state: PlantState;
  decisions: Record<string, number>;
}

/**
 * A tracker's whole state as plain data (JSON-safe apart from non-finite numbers in plant
 * states), so that another process can continue it (`MismatchTracker.restore`): the fleet
 * keeps one per unit in PostgreSQL.
 */
export interface MismatchSnapshot {
  /** The strategy version the state belongs to (a tracker restored on another version starts over). */
  version: string | null;
  states: Record<string, MismatchState>;
  statuses: Record<string, MismatchStatus>;
  history: { at: number; state: Record<string, unknown>; decisions: Record<string, number> }[];
  forced: string | null;
}

/**
 * Model-plant mismatch across cycles, for the runner: after each cycle, the strategy's models are
 * fed what the plant did since the cycle `models.mismatch.horizon_s` ago (simulate at that cycle's
 * state with today's decision values) and their predictions compared with today's measurements
 * (the pure monitor of @po/rto-engine). It gives the biases for bias correction, fills each
 * result's `model_trust.models[*].mismatch`, and says when a critical model is bad. State is kept
 * per strategy version and starts over when the version changes.
 */
export class MismatchTracker {
  private version: string | null | undefined;
  private monitored: MonitoredPrediction[] = [];
  private states = new Map<string, MismatchState>();
  private statuses = new Map<string, MismatchStatus>();
  private history: Seen[] = [];
  private forced: string | null = null;
  /** A state to continue from, taken up on first use if its version is the strategy's. */
  private restored: MismatchSnapshot | undefined;

  constructor(private readonly logger: Logger) {}

  /** A tracker continuing from `snapshot` (as `snapshot()` gave it), on the same strategy version. */
  static restore(logger: Logger, snapshot: MismatchSnapshot): MismatchTracker {
    const tracker = new MismatchTracker(logger);
    tracker.restored = structuredClone(snapshot);
    return tracker;
  }

  /** The state so far (undefined before the first cycle), for `restore`. */
  snapshot(): MismatchSnapshot | undefined {
    if (this.version === undefined) return this.restored && structuredClone(this.restored);
    return structuredClone({
      version: this.version,
      states: Object.fromEntries(this.states),
      statuses: Object.fromEntries(this.statuses),
      history: this.history.map((h) => ({ at: h.at, state: { ...h.state }, decisions: h.decisions })),
      forced: this.forced,
    });
  }

  /** Starts over on a new strategy version (continues a restored state of the same version). */
  private use(spec: StrategySpec, version: string | null): void {
    if (this.version === version && this.version !== undefined) return;
    const restored = this.restored?.version === version ? this.restored : undefined;
    this.restored = undefined;
    this.version = version;
    this.monitored = monitoredPredictions(spec);
    this.states = new Map(
      this.monitored.map((m) => [m.skill, restored?.states[m.skill] ?? initialMismatchState()]),
    );
    this.statuses = new Map(
      Object.entries(restored?.statuses ?? {}).filter(([skill]) => this.states.has(skill)),
    );
    this.history = restored?.history ?? [];
    this.forced = restored?.forced ?? null;
  }

  /** Whether the strategy has a model with a measured counterpart (else `observe` does nothing). */
  monitors(spec: StrategySpec, version: string | null): boolean {
    this.use(spec, version);
    return this.monitored.length > 0;
  }

  /** Biases for `CycleOptions.modelBias` (only with `models.bias_correction: true`). */
  biases(spec: StrategySpec, version: string | null): Record<string, number> | undefined {
    this.use(spec, version);
    if (spec.models?.bias_correction !== true) return undefined;
    const out: Record<string, number> = {};
    for (const [skill, s] of this.states) if (s.bias !== null) out[skill] = s.bias;
    return out;
  }

  /** Why the cycle must run in monitor mode (a critical model is bad), or undefined. */
  forcedMonitor(spec: StrategySpec, version: string | null): string | undefined {
    this.use(spec, version);
    return this.forced ?? undefined;
  }

  /**
   * Compares the models with the plant at this cycle and returns each model's status after it.
   * `state` is the validated plant state of the cycle at `at`, `seen` the models evaluated at it
   * (the cycle's `monitor`, see `prepareCycle`: the sequence depends on the rows alone, in
   * data-time order), reduced to the values of `observedVariables`. `models` evaluates the models
   * at the reference cycle (default: the strategy's `simulate`; a replay passes evaluations it
   * made ahead, see `ObservationPrefetch`).
   */
  async observe(
    strategy: CycleStrategy,
    version: string | null,
    at: Date,
    state: PlantState,
    seen: ModelValues,
    models: Pick<ObservedModels, 'simulate'> = resultModels(strategy),
  ): Promise<Record<string, MismatchStatus>> {
    this.use(strategy.spec, version);
    const statuses: Record<string, MismatchStatus> = {};
    if (this.monitored.length === 0) return statuses;
    const settings = mismatchSettings(strategy.spec.models);
    const decisions = observedDecisions(strategy.spec, seen);
    const reference = this.reference(at.getTime() - settings.horizonS * 1000);
    if (reference && models.simulate) {
      const predicted = await models.simulate(reference.state, decisions);
      for (const m of this.monitored) this.compare(m, predicted, state, settings.filter, strategy);
    }
    this.history.push({ at: at.getTime(), state, decisions });
    this.forget(at.getTime() - settings.horizonS * 1000);
    const now = new Map<string, MismatchStatus>();
    for (const m of this.monitored) {
      const thresholds = mismatchThresholds(m.skill, settings, trainingError(seen.models[m.skill]));
      const status = mismatchStatus(m, this.states.get(m.skill)!, thresholds);
      this.statuses.set(m.skill, status);
      now.set(m.skill, status);
    }
    this.updateForced(strategy.spec);
    // In the order of the models (a result's `model_trust.models`).
    for (const skill of Object.keys(seen.models)) if (now.has(skill)) statuses[skill] = now.get(skill)!;
    return statuses;
  }

  private compare(
    m: MonitoredPrediction,
    predicted: ModelValues,
    state: PlantState,
    filter: number,
    strategy: CycleStrategy,
  ): void {
    const p = predicted.variables[m.variable]?.value;
    const measured = Number(state[m.measuredBy]);
    if (typeof p !== 'number' || !Number.isFinite(p) || !Number.isFinite(measured)) return;
    const settings = mismatchSettings(strategy.spec.models);
    const thresholds = mismatchThresholds(m.skill, settings, trainingError(predicted.models[m.skill]));
    this.states.set(m.skill, updateMismatch(this.states.get(m.skill)!, p, measured, filter, thresholds));
  }

  /** The newest remembered cycle at or before `before` (the previous cycle when the horizon is 0). */
  private reference(before: number): Seen | undefined {
    return referenceCycle(this.history, before);
  }

  /** Keeps the newest cycle at or before `before` and everything after it. */
  private forget(before: number): void {
    let keep = 0;
    for (let i = this.history.length - 1; i >= 0; i--) {
      if (this.history[i]!.at <= before) {
        keep = i;
        break;
      }
    }
    if (keep > 0) this.history.splice(0, keep);
  }

  private updateForced(spec: StrategySpec): void {
    const bad = this.monitored.filter((m) => {
      const skill = spec.skills[m.skill];
      return (
        skill?.class === 'InferenceModel' &&
        skill.config.critical === true &&
        this.statuses.get(m.skill)?.status === 'bad'
      );
    });
    const reason =
      bad.length === 0
        ? null
        : `critical model ${bad.map((m) => `'${m.skill}' (${this.statuses.get(m.skill)!.reason})`).join(', ')} is bad: monitor mode until it recovers`;
    if (reason !== null && this.forced === null)
      this.logger.warn({ models: bad.map((m) => m.skill) }, `[po/runner] ${reason}`);
    if (reason === null && this.forced !== null)
      this.logger.info({}, '[po/runner] critical models recovered: advisory again');
    this.forced = reason;
  }

  health(): ModelMismatchHealth {
    if (this.version === undefined && this.restored)
      return { models: { ...this.restored.statuses }, forcedMonitor: this.restored.forced };
    return { models: Object.fromEntries(this.statuses), forcedMonitor: this.forced };
  }
}
