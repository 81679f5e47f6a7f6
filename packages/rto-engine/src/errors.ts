import { PoError, type PoErrorOptions } from '@po/core';

/**
 * Every error the engine raises itself: a `PoError` of scope `rto-engine`; `code` is stable,
 * messages start with `[po/rto-engine]`. A model that does not load is @po/core's
 * `ModelLoadError` (from the provider, or wrapped by the engine with code `MODEL_LOAD_FAILED`).
 */
export class EngineError extends PoError {
  constructor(code: string, message: string, options?: PoErrorOptions) {
    super('rto-engine', code, message, options);
  }
}

/** One problem found in a strategy, with where it is (`skills.x.config.formula`). */
export interface StrategyIssue {
  path: string;
  message: string;
  /** Set when the strategy is refused for a bound (`limits.*`), not for a mistake in it. */
  code?: 'LIMIT_EXCEEDED';
}

/** A strategy that does not validate: every problem at once. */
export class StrategyValidationError extends EngineError {
  readonly issues: readonly StrategyIssue[];
  /** `cause`: what made the problems, when they come from errors (e.g. the models that did not load). */
  constructor(issues: readonly StrategyIssue[], source?: string, options?: PoErrorOptions) {
    const where = source ? ` ${source}` : '';
    super(
      'STRATEGY_INVALID',
      `Strategy${where} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues
        .map((i) => `  - ${i.path}: ${i.message}`)
        .join('\n')}`,
      options,
    );
    this.issues = issues;
  }
}

/** A formula that does not compile. */
export class FormulaError extends EngineError {
  constructor(message: string) {
    super('FORMULA_INVALID', message);
  }
}

/** The plant state given to a cycle does not fit the strategy. */
export class InputDataError extends EngineError {
  constructor(message: string) {
    super('INPUT_INVALID', message);
  }
}

/** A cycle could not be computed (e.g. a non-finite value at the current state). */
export class CycleError extends EngineError {
  constructor(message: string, options?: PoErrorOptions) {
    super('CYCLE_FAILED', message, options);
  }
}

/** The optimizer was given a malformed problem or found no finite cost. */
export class OptimizerError extends EngineError {
  constructor(message: string) {
    super('OPTIMIZER_FAILED', message);
  }
}
