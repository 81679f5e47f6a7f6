import type { CycleResult, PlantState } from '@po/rto-engine';
import type { MismatchTracker } from './mismatch.ts';
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
}

/** The first line of what a thrown value says: a cycle row's `reason`, a degraded reason. */
export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/**
 * A cycle after its checks: either already finished (`record`: skipped for missing columns or
 * bad readings), or ready to run the strategy (`run`), with what the input validation found
 * (`issues`: substituted readings).
 */
export type PreparedCycle =
  | { record: CycleRecord }
  | {
      issues: InputIssue[];
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
  return 'record' in prepared ? prepared.record : (await prepared.run(context.signal)).record;
}

/**
 * The checks of a cycle (columns, input validation), apart from running the strategy, so that
 * a replay can validate rows in time order (the validator is stateful) and run the strategy
 * of several rows at once. `run` never rejects; it also returns the engine's full result.
 */
export function prepareCycle(
  loaded: LoadedStrategy,
  columns: readonly string[],
  row: PlantRow,
  context: Omit<CycleContext, 'signal'>,
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
  const missing = columns.filter((c) => !(c in row.values));
  if (missing.length > 0)
    return { record: done({ status: 'skipped', reason: `missing columns: ${missing.join(', ')}` }) };
  const checked = context.validator.check(strategy.spec, columns, row, context.clock.now());
  const substitutions = checked.issues;
  if (checked.skipReason)
    return { record: done({ status: 'skipped', reason: checked.skipReason, substitutions }) };
  const state = { ...row.values, ...checked.values };
  return {
    issues: substitutions,
    async run(signal) {
      started = performance.now(); // a replay queues prepared cycles: time the run alone
      try {
        const modelBias = context.mismatch?.biases(strategy.spec, version);
        const result =
          mode === 'monitor'
            ? await strategy.monitor(state)
            : await strategy.optimize(state, { signal, ...(modelBias ? { modelBias } : {}) });
        if (forced) result.warnings.push(forced);
        await observeMismatch(context, loaded, row.timestamp, state, result);
        return { record: done({ ...summarize(result, mode), substitutions }), result };
      } catch (e) {
        return { record: done({ status: 'failed', reason: messageOf(e), substitutions }) };
      }
    },
  };
}

/** Compares the models with the plant; a failure to do so is a warning of the cycle, never its failure. */
async function observeMismatch(
  context: Pick<CycleContext, 'mismatch'>,
  loaded: LoadedStrategy,
  at: Date,
  state: PlantState,
  result: CycleResult,
): Promise<void> {
  if (!context.mismatch) return;
  try {
    await context.mismatch.observe(loaded.strategy, loaded.version, at, state, result);
  } catch (e) {
    result.warnings.push(`model-plant mismatch not updated: ${messageOf(e)}`);
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
