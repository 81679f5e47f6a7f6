import type { CycleResult, PlantState, StrategyIssue } from '@po/rto-engine';
import type { StrategyBundle } from './bundle.ts';

/** What a worker can do with a bundle. */
export type CycleTaskKind = 'optimize' | 'simulate' | 'monitor' | 'validate' | 'describe';

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
    }
  | {
      kind: 'simulate';
      bundle: StrategyBundle;
      state: PlantState;
      decisions?: Readonly<Record<string, number>>;
    }
  | { kind: 'monitor'; bundle: StrategyBundle; state: PlantState }
  /** Validates by compiling (models included). Never fails for a property of the strategy. */
  | {
      kind: 'validate';
      bundle: StrategyBundle;
      /** Also load every model (false: schema and semantics only, for a caller without model files). */
      models?: boolean;
    }
  /** Compiles (or reuses) and reports what a deployed strategy needs to describe itself. */
  | { kind: 'describe'; bundle: StrategyBundle };

/** What `validate` answers. */
export interface ValidationReport {
  valid: boolean;
  errors: StrategyIssue[];
  warnings: StrategyIssue[];
}

/** What `describe` answers: the compiled strategy's public facts. */
export interface StrategyDescription {
  version: string | null;
  spec: unknown;
  warnings: StrategyIssue[];
  decisionVariables: string[];
  modelFiles: { skill: string; role: string; path: string; sha256: string }[];
}

/** An error as it crosses the thread boundary: class name, stable code, message, issues. */
export interface SerializedError {
  name: string;
  code: string;
  message: string;
  issues?: StrategyIssue[];
}

/** The worker's answer: never a thrown error, so the class, code and issues survive. */
export type TaskOutcome =
  | {
      ok: true;
      result: CycleResult | ValidationReport | StrategyDescription;
      compiled: 'cached' | 'compiled';
    }
  | { ok: false; error: SerializedError };

/** Result type per task kind. */
export interface TaskResults {
  optimize: CycleResult;
  simulate: CycleResult;
  monitor: CycleResult;
  validate: ValidationReport;
  describe: StrategyDescription;
}

/**
 * An error raised in a worker (or by the pool), rebuilt on the calling thread with the
 * engine error's `code`, class name and `issues`, so callers map it without `instanceof`.
 * Codes: the engine's (`STRATEGY_INVALID`, `INPUT_INVALID`, `CYCLE_FAILED`, `OPTIMIZER_FAILED`,
 * `FORMULA_INVALID`, `MODEL_LOAD_FAILED`), plus `TIMEOUT`, `ABORTED`, `POOL_CLOSED`, `INTERNAL`.
 */
export class CycleTaskError extends Error {
  readonly code: string;
  readonly errorClass: string;
  readonly issues: readonly StrategyIssue[] | undefined;
  constructor(error: SerializedError, options?: { cause?: unknown }) {
    super(error.message, options);
    this.name = 'CycleTaskError';
    this.code = error.code;
    this.errorClass = error.name;
    this.issues = error.issues;
  }
}

/** Turns anything thrown into plain data; stacks never cross the boundary. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : 'INTERNAL';
    const issues =
      'issues' in error && Array.isArray(error.issues)
        ? (error.issues as StrategyIssue[]).map((i) => ({ path: String(i.path), message: String(i.message) }))
        : undefined;
    return { name: error.name, code, message: error.message, ...(issues ? { issues } : {}) };
  }
  return { name: 'Error', code: 'INTERNAL', message: String(error) };
}
