/** Every error the engine raises; `code` is stable, messages start with `[po/rto-engine]`. */
export class PoError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(`[po/rto-engine] ${message}`, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found in a strategy, with where it is (`skills.x.config.formula`). */
export interface StrategyIssue {
  path: string;
  message: string;
}

/** A strategy that does not validate: every problem at once. */
export class StrategyValidationError extends PoError {
  readonly issues: readonly StrategyIssue[];
  constructor(issues: readonly StrategyIssue[], source?: string) {
    const where = source ? ` ${source}` : '';
    super(
      'STRATEGY_INVALID',
      `Strategy${where} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues
        .map((i) => `  - ${i.path}: ${i.message}`)
        .join('\n')}`,
    );
    this.issues = issues;
  }
}

/** A formula that does not compile. */
export class FormulaError extends PoError {
  constructor(message: string) {
    super('FORMULA_INVALID', message);
  }
}

/** A model, scaler or metadata file that a skill needs did not load. */
export class ModelLoadError extends PoError {
  constructor(skill: string, cause: unknown) {
    super(
      'MODEL_LOAD_FAILED',
      `skill '${skill}': ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
  }
}

/** The plant state given to a cycle does not fit the strategy. */
export class InputDataError extends PoError {
  constructor(message: string) {
    super('INPUT_INVALID', message);
  }
}

/** A cycle could not be computed (e.g. a non-finite value at the current state). */
export class CycleError extends PoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CYCLE_FAILED', message, options);
  }
}

/** The optimizer was given a malformed problem or found no finite cost. */
export class OptimizerError extends PoError {
  constructor(message: string) {
    super('OPTIMIZER_FAILED', message);
  }
}
