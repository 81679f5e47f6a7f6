import { isPoError, PoError } from '@po/core';
import type { CycleResult, ModelValues, PlantState, StrategyIssue } from '@po/rto-engine';
import type { ModelEvaluation } from '@po/runner';
import type { ValidationReport } from '../schemas.ts';
import type { StrategyBundle } from './bundle.ts';

/** What a worker can do with a bundle. */
export type CycleTaskKind =
  | 'optimize'
  | 'optimizeEach'
  | 'simulate'
  | 'monitor'
  | 'evaluate'
  | 'validate'
  | 'describe'
  | 'files';

/**
 * The maps of a cycle result that hold every variable again (`variables`) or the derived ones:
 * more than half of a result, which crosses back from the worker on every cycle. A replay reads
 * the categorized maps alone (`optimized_variables`, `predicted_variables`, ...) and asks for
 * these empty.
 */
export type OmittedResultMap = 'variables' | 'derived_variables';

/** One model evaluation of an `evaluate` task: what `monitor` or `simulate` does (the runner's type). */
export type Evaluation = ModelEvaluation;

/** One answer of a task of several (its result, or its error: one failing does not fail the others). */
export type EachOutcome<T> = { ok: true; result: T } | { ok: false; error: SerializedError };

/** One evaluation's answer: its values, or its error. */
export type EvaluationOutcome = EachOutcome<ModelValues>;

/** One task for the pool: a bundle plus what to do with it. Plain data (it crosses threads). */
export type CycleTask =
  | {
      kind: 'optimize';
      bundle: StrategyBundle;
      state: PlantState;
      /** Optimizer budget; the engine returns its best point so far, flagged `timed_out`. */
      maxTimeMs?: number;
      /** Epoch ms after which the optimizer stops regardless (queue time counts against it). */
      deadline?: number;
      /** Result maps answered empty, for a caller that reads none of them (see `OmittedResultMap`). */
      omit?: readonly OmittedResultMap[];
      /** Bias correction (`CycleOptions.modelBias`). */
      modelBias?: Readonly<Record<string, number>>;
    }
  /**
   * Several `optimize` cycles in one task, run in order, each answered on its own (one failing
   * does not fail the others): a replay's many rows, one message each way instead of one per row.
   * No budget: a cycle with one goes alone.
   */
  | {
      kind: 'optimizeEach';
      bundle: StrategyBundle;
      cycles: readonly { state: PlantState; modelBias?: Readonly<Record<string, number>> }[];
      omit?: readonly OmittedResultMap[];
    }
  | {
      kind: 'simulate';
      bundle: StrategyBundle;
      state: PlantState;
      decisions?: Readonly<Record<string, number>>;
    }
  | { kind: 'monitor'; bundle: StrategyBundle; state: PlantState }
  /**
   * Several evaluations in one task, run in order, each reduced to the values of the variables
   * `names` (`CompiledStrategy.modelValues`: no result is built): a replay's model-plant mismatch
   * observations of many rows, one small message instead of a full result per row.
   */
  | {
      kind: 'evaluate';
      bundle: StrategyBundle;
      evaluations: readonly Evaluation[];
      names: readonly string[];
    }
  /** Validates by compiling (models included). Never fails for a property of the strategy. */
  | {
      kind: 'validate';
      bundle: StrategyBundle;
      /** Also load every model (false: schema and semantics only, for a caller without model files). */
      models?: boolean;
    }
  /** Compiles (or reuses) and reports what a deployed strategy needs to describe itself. */
  | { kind: 'describe'; bundle: StrategyBundle }
  /** The model, scaler and metadata paths a strategy text names (parsed here, off the caller's thread). */
  | { kind: 'files'; text: string };

export type { ValidationReport };

/**
 * What the pool posts to a worker: the task and its native-call gate, one Int32 in shared
 * memory. The worker counts its ONNX Runtime calls in flight there; the pool ends a worker
 * only after closing the gate (swapping 0 calls in flight for `GATE_CLOSED`), because ending a
 * thread inside a native call aborts the whole process.
 */
export interface PooledTask {
  task: CycleTask;
  gate: SharedArrayBuffer;
  /**
   * The task's bundle is its key and version alone (text and files left out: posting them costs
   * more than a short cycle): the worker runs it with the strategy it compiled from that bundle,
   * or answers `NOT_COMPILED` when it has none, and the pool posts the task again in full.
   */
  keyOnly?: boolean;
}

/** A worker's answer to a `keyOnly` task whose bundle it has not compiled (or no longer keeps). */
export const NOT_COMPILED = 'NOT_COMPILED';

/** The gate's value once the pool has closed it: no native call may start. */
export const GATE_CLOSED = -1;

/** What `describe` answers: the compiled strategy's public facts. */
export interface StrategyDescription {
  version: string | null;
  spec: unknown;
  warnings: StrategyIssue[];
  decisionVariables: string[];
  modelFiles: { skill: string; role: string; path: string; sha256: string }[];
}

/** An error as it crosses the thread boundary: class name, stable code, scope, message, issues. */
export interface SerializedError {
  name: string;
  code: string;
  /** The package that raised it (`rto-engine`, `models`); default `pool`. */
  scope?: string;
  message: string;
  issues?: StrategyIssue[];
}

/** The worker's answer: never a thrown error, so the class, code and issues survive. */
export type TaskOutcome =
  | {
      ok: true;
      result:
        | CycleResult
        | EachOutcome<CycleResult>[]
        | EvaluationOutcome[]
        | ValidationReport
        | StrategyDescription
        | string[];
      compiled: 'cached' | 'compiled';
    }
  | { ok: false; error: SerializedError };

/** Result type per task kind. */
export interface TaskResults {
  optimize: CycleResult;
  optimizeEach: EachOutcome<CycleResult>[];
  simulate: CycleResult;
  monitor: CycleResult;
  evaluate: EvaluationOutcome[];
  validate: ValidationReport;
  describe: StrategyDescription;
  files: string[];
}

/**
 * An error raised in a worker (or by the pool), rebuilt on the calling thread as a `PoError` with
 * the original's `code`, `scope`, class name (`errorClass`) and `issues`, so callers map it without
 * `instanceof`. Codes: the engine's (`STRATEGY_INVALID`, `INPUT_INVALID`, `CYCLE_FAILED`,
 * `OPTIMIZER_FAILED`, `FORMULA_INVALID`, `MODEL_LOAD_FAILED`), a model provider's, plus `TIMEOUT`,
 * `ABORTED`, `POOL_BUSY`, `POOL_CLOSED`, `WORKER_MEMORY`, `INTERNAL`.
 */
export class CycleTaskError extends PoError {
  readonly errorClass: string;
  readonly issues: readonly StrategyIssue[] | undefined;
  constructor(error: SerializedError, options?: { cause?: unknown }) {
    super(error.scope ?? 'pool', error.code, error.message, options);
    this.errorClass = error.name;
    this.issues = error.issues;
  }
}

/** Turns anything thrown into plain data; stacks never cross the boundary. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : 'INTERNAL';
    const scope = isPoError(error) ? error.scope : undefined;
    const issues =
      'issues' in error && Array.isArray(error.issues)
        ? (error.issues as StrategyIssue[]).map((i) => ({ path: String(i.path), message: String(i.message) }))
        : undefined;
    return {
      name: error.name,
      code,
      ...(scope ? { scope } : {}),
      message: error.message,
      ...(issues ? { issues } : {}),
    };
  }
  return { name: 'Error', code: 'INTERNAL', message: String(error) };
}
