import type { CycleResult, MismatchStatus, PlantState } from '@po/rto-engine';
import { type MismatchTracker, type ObservedModels, observedVariables, valuesOfResult } from './mismatch.ts';
import type { Clock, CycleRecord, CycleStrategy, InputIssue, PlantRow } from './types.ts';
import type { InputValidator } from './validation.ts';

/** The strategy a cycle runs, with the version it is recorded under. */
export interface LoadedStrategy {
  version: string | null;
  strategy: CycleStrategy;
}

/** What a cycle needs besides the strategy and the row. */
export interface CycleContext {
  validator: InputValidator;
  clock: Clock;
  /** Overrides the strategy's mode. */
  mode: 'advisory' | 'monitor' | undefined;
  /** Asks the optimizer to stop early (on shutdown). */
  signal: AbortSignal;
  /** Model-plant mismatch across cycles (bias correction, a critical bad model forcing monitor mode). */
  mismatch?: MismatchTracker;
  /**
   * Where the mismatch observation evaluates the models (`monitor` at the row, `simulate` at the
   * reference row), reduced to what the tracker reads. Default: the strategy's `monitor` and
   * `simulate`. A replay passes evaluations it made ahead in batches.
   */
  observationModels?: ObservedModels;
}

/** A row after the column check and the input validation: skipped, or its validated plant state. */
export type CheckedRow =
  | { skipped: { reason: string; substitutions?: InputIssue[] } }
  | { state: PlantState; issues: InputIssue[] };

/**
 * The checks of a cycle that depend on the rows alone: the columns, then the input validation
 * (stateful: call it for every row in time order). `prepareCycle` makes them when not given.
 */
export function checkRow(
  loaded: LoadedStrategy,
  columns: readonly string[],
  row: PlantRow,
  context: Pick<CycleContext, 'validator' | 'clock'>,
): CheckedRow {
  const missing = columns.filter((c) => !(c in row.values));
  if (missing.length > 0) return { skipped: { reason: `missing columns: ${missing.join(', ')}` } };
  const checked = context.validator.check(loaded.strategy.spec, columns, row, context.clock.now());
  if (checked.skipReason) return { skipped: { reason: checked.skipReason, substitutions: checked.issues } };
  return { state: { ...row.values, ...checked.values }, issues: checked.issues };
}

/** The first line of what a thrown value says: a cycle row's `reason`, a degraded reason. */
export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/**
 * A cycle after its checks: either already finished (`record`: skipped for missing columns or
 * bad readings), or ready to run the strategy (`run`), with what the input validation found
 * (`issues`: substituted readings). With a mismatch tracker, `observe` compares the models with
 * the plant at this row and advances the tracker: call it in data-time order, before the next
 * row is prepared; `run` may come later, concurrently with other rows (it uses what `observe`
 * saw, and calls it itself when it was not called).
 */
export type PreparedCycle =
  | { record: CycleRecord }
  | {
      issues: InputIssue[];
      observe: () => Promise<void>;
      run: (signal: AbortSignal) => Promise<{ record: CycleRecord; result?: CycleResult }>;
    };

/**
 * One cycle on one row: missing columns and bad readings skip it, the strategy runs in its mode
 * (advisory optimizes, monitor predicts and scores), and an error fails it. Never rejects: every
 * outcome is a record.
 */
export async function runCycle(
  loaded: LoadedStrategy,
  columns: readonly string[],
  row: PlantRow,
  context: CycleContext,
): Promise<CycleRecord> {
  const prepared = prepareCycle(loaded, columns, row, context);
  if ('record' in prepared) return prepared.record;
  await prepared.observe();
  return (await prepared.run(context.signal)).record;
}

/**
 * The checks of a cycle (columns, input validation), apart from running the strategy, so that
 * a replay can validate rows in time order (the validator is stateful) and run the strategy
 * of several rows at once. The mismatch tracker is read here (monitor mode forced by a bad
 * critical model, the biases for bias correction: what it knew before this row) and advanced by
 * `observe`, so a replay that prepares and observes rows in order and runs them in parallel
 * gets what the runner gets. `run` never rejects; it also returns the engine's full result.
 */
export function prepareCycle(
  loaded: LoadedStrategy,
  columns: readonly string[],
  row: PlantRow,
  context: Omit<CycleContext, 'signal'>,
  checked?: CheckedRow,
): PreparedCycle {
  let started = performance.now();
  const { strategy, version } = loaded;
  const forced = context.mismatch?.forcedMonitor(strategy.spec, version);
  const mode = forced ? 'monitor' : (context.mode ?? strategy.spec.mode ?? 'advisory');
  const base: CycleRecord = {
    dataTimestamp: row.timestamp,
    ...(row.time ? { dataTime: row.time } : {}),
    status: 'ok',
    strategyVersion: version,
    modelChecksums: Object.fromEntries(strategy.modelFiles.map((f) => [f.path, f.sha256])),
    mode,
    skippedRows: row.skippedRows ?? 0,
  };
  const done = (r: Partial<CycleRecord>): CycleRecord => ({
    ...base,
    ...r,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
  });
  const check = checked ?? checkRow(loaded, columns, row, context);
  if ('skipped' in check) return { record: done({ status: 'skipped', ...check.skipped }) };
  const { state, issues: substitutions } = check;
  const modelBias = context.mismatch?.biases(strategy.spec, version);
  let observation: Promise<Observation> | undefined;
  const observe = () => (observation ??= observeMismatch(context, loaded, row.timestamp, state));
  return {
    issues: substitutions,
    observe: async () => {
      await observe();
    },
    async run(signal) {
      const observed = await observe();
      started = performance.now(); // a replay queues prepared cycles: time the run alone
      try {
        // In monitor mode the cycle's result is the models at this row, which observing evaluated already.
        const result =
          mode === 'monitor'
            ? (observed.seen ?? (await strategy.monitor(state)))
            : await strategy.optimize(state, { signal, ...(modelBias ? { modelBias } : {}) });
        if (forced) result.warnings.push(forced);
        if (observed.warning) result.warnings.push(observed.warning);
        for (const [skill, status] of Object.entries(observed.statuses)) {
          const trust = result.model_trust.models[skill];
          if (trust) trust.mismatch = status;
        }
        // An ok cycle's reason says why it ran in monitor mode when mismatch forced it.
        return {
          record: done({ ...summarize(result, mode), ...(forced ? { reason: forced } : {}), substitutions }),
          result,
        };
      } catch (e) {
        return { record: done({ status: 'failed', reason: messageOf(e), substitutions }) };
      }
    },
  };
}

/** What comparing the models with the plant at one row gave: each model's status after it. */
interface Observation {
  statuses: Record<string, MismatchStatus>;
  /** The models evaluated at the row (the strategy's `monitor`), when they were. */
  seen?: CycleResult;
  /** Why the comparison could not be made (a warning of the cycle, never its failure). */
  warning?: string;
}

/**
 * Compares the models with the plant at one validated row and advances the tracker. The models
 * are evaluated at the row's values on their own (monitor), not taken from the cycle's result,
 * so that the tracker's sequence depends on the rows alone: a replay advances it in data-time
 * order ahead of cycles that run in parallel, and an optimizer failure does not drop a row.
 */
async function observeMismatch(
  context: Pick<CycleContext, 'mismatch' | 'observationModels'>,
  loaded: LoadedStrategy,
  at: Date,
  state: PlantState,
): Promise<Observation> {
  const tracker = context.mismatch;
  if (!tracker?.monitors(loaded.strategy.spec, loaded.version)) return { statuses: {} };
  try {
    const models = context.observationModels;
    if (models) {
      // A replay: the values alone, evaluated ahead in batches.
      const seen = await models.monitor(state);
      return { statuses: await tracker.observe(loaded.strategy, loaded.version, at, state, seen, models) };
    }
    // The runner's own path keeps the full result: a monitor-mode cycle reuses it.
    const seen = await loaded.strategy.monitor(state);
    const values = valuesOfResult(seen, observedVariables(loaded.strategy.spec));
    return { statuses: await tracker.observe(loaded.strategy, loaded.version, at, state, values), seen };
  } catch (e) {
    return { statuses: {}, warning: `model-plant mismatch not updated: ${messageOf(e)}` };
  }
}

/** The parts of an engine result a cycle row keeps. */
function summarize(result: CycleResult, mode: 'advisory' | 'monitor'): Partial<CycleRecord> {
  return {
    status: 'ok',
    costAtCurrent: result.cost_at_current,
    costRecommended: mode === 'monitor' ? null : result.cost_function_value,
    setpoints: mode === 'monitor' ? null : result.setpoints,
    predictions: atCurrentAndRecommended(result.predicted_variables),
    constraintScores: atCurrentAndRecommended(result.constraint_variables),
    decisionVariables: mode === 'monitor' ? null : decisions(result.optimized_variables),
    explanation: mode === 'monitor' ? null : result.explanation,
    optimizer: result.optimizer,
    modelTrust: result.model_trust,
  };
}

/** Each decision variable: current, recommended, this cycle's bounds and the bound it sits on. */
function decisions(variables: CycleResult['variables']): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(variables).map(([name, v]) => [
      name,
      {
        current: v.user_input_value,
        recommended: v.optimizer_suggested_value,
        lower_bound: v.lower_bound ?? null,
        upper_bound: v.upper_bound ?? null,
        at_bound: v.at_bound ?? null,
        units: v.units ?? null,
      },
    ]),
  );
}

function atCurrentAndRecommended(
  variables: CycleResult['variables'],
): Record<string, { at_current: number | null; recommended: number | null }> {
  return Object.fromEntries(
    Object.entries(variables).map(([name, v]) => [
      name,
      { at_current: v.value_at_current ?? v.user_input_value, recommended: v.optimizer_suggested_value },
    ]),
  );
}
