import { describeError, PoError, type PoErrorOptions } from '@po/core';

/** Machine-readable reasons a @po/models operation failed. */
export type ModelsErrorCode =
  | 'FILE_NOT_FOUND'
  | 'UNSAFE_PATH'
  | 'FILE_UNREADABLE'
  | 'UNSUPPORTED_FORMAT'
  | 'INVALID_ONNX'
  | 'MODEL_SHAPE_MISMATCH'
  | 'INVALID_SCALER'
  | 'INVALID_METADATA'
  | 'METADATA_MISMATCH'
  | 'INVALID_REQUEST'
  | 'INVALID_BATCH'
  | 'PREDICT_FAILED'
  | 'DISPOSED'
  | 'INVALID_MLP_SPEC';

/**
 * Base of every error @po/models throws (scope `models`): messages start with `[po/models]`
 * and say how to fix. A provider's `load` rejects with @po/core's `ModelLoadError` instead,
 * which carries the same scope and one of these codes.
 */
export class ModelsError extends PoError {
  declare readonly code: ModelsErrorCode;

  constructor(code: ModelsErrorCode, message: string, options?: PoErrorOptions) {
    super('models', code, message, options);
  }
}

/**
 * A thrown value as a clause inside another message: no `[po/<scope>]` prefix, one line, no
 * trailing period.
 */
export function causeClause(cause: unknown): string {
  return describeError(cause, { scope: false, oneLine: true }).replace(/\.$/, '');
}

/** A scaler file is not valid; `key` names the scaler entry when one is at fault. */
export class ScalerFormatError extends ModelsError {
  readonly file: string;
  readonly key: string | undefined;

  constructor(file: string, key: string | undefined, problem: string, options?: PoErrorOptions) {
    super(
      'INVALID_SCALER',
      `Scaler file '${file}'${key === undefined ? '' : `, scaler '${key}'`}: ${problem}. ` +
        'Fix the file: see the JSON scaler format in the @po/models README.',
      options,
    );
    this.file = file;
    this.key = key;
  }
}

/** `predict` was called with arguments that do not fit, after `dispose`, or the runtime failed. */
export class ModelPredictError extends ModelsError {
  readonly skill: string;

  constructor(code: ModelsErrorCode, skill: string, problem: string, options?: PoErrorOptions) {
    super(code, `Skill '${skill}': predict failed: ${problem}`, options);
    this.skill = skill;
  }
}

/** `buildMlpOnnx` was given a layer stack it cannot encode. */
export class MlpSpecError extends ModelsError {
  constructor(problem: string) {
    super('INVALID_MLP_SPEC', `MLP spec: ${problem}. Fix the layer list passed to buildMlpOnnx.`);
  }
}

/** A file reader could not deliver a file: not found, unsafe path or unreadable. */
export class ModelFileError extends ModelsError {
  /** The path as it was asked for. */
  readonly path: string;
  /** What is wrong, without a trailing period. */
  readonly problem: string;
  /** What to do about it. */
  readonly fix: string;

  constructor(
    code: 'FILE_NOT_FOUND' | 'UNSAFE_PATH' | 'FILE_UNREADABLE',
    path: string,
    problem: string,
    fix: string,
    options?: PoErrorOptions,
  ) {
    super(code, `File '${path}': ${problem}. ${fix}`, options);
    this.path = path;
    this.problem = problem;
    this.fix = fix;
  }
}
