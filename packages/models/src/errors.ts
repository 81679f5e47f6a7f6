import type { ModelFileRole } from './types.ts';

/** Machine-readable reasons a @po/models operation failed. */
export type PoModelsErrorCode =
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

const PREFIX = '[po/models]';

function withPrefix(message: string): string {
  return message.startsWith(PREFIX) ? message : `${PREFIX} ${message}`;
}

/** Base of every error @po/models throws. Messages start with `[po/models]` and say how to fix. */
export class PoModelsError extends Error {
  override readonly name: string = 'PoModelsError';
  readonly code: PoModelsErrorCode;

  constructor(code: PoModelsErrorCode, message: string, options?: { cause?: unknown }) {
    super(withPrefix(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** What a `ModelLoadError` is built from. */
export interface ModelLoadErrorDetails {
  code: PoModelsErrorCode;
  /** The InferenceModel skill being loaded. */
  skill: string;
  /** Which of the skill's files failed. */
  role: ModelFileRole;
  /** The path as the strategy names it. */
  path: string;
  /** What is wrong, without a trailing period. */
  problem: string;
  /** What to do about it. */
  fix: string;
  cause?: unknown;
}

/** A model, scaler or metadata file of a skill could not be loaded or does not fit the skill. */
export class ModelLoadError extends PoModelsError {
  override readonly name: string = 'ModelLoadError';
  readonly skill: string;
  readonly role: ModelFileRole;
  readonly path: string;

  constructor(details: ModelLoadErrorDetails) {
    super(
      details.code,
      `Skill '${details.skill}': ${details.role} file '${details.path}': ${details.problem}. ${details.fix}`,
      { cause: details.cause },
    );
    this.skill = details.skill;
    this.role = details.role;
    this.path = details.path;
  }
}

/** A scaler file is not valid; `key` names the scaler entry when one is at fault. */
export class ScalerFormatError extends PoModelsError {
  override readonly name: string = 'ScalerFormatError';
  readonly file: string;
  readonly key: string | undefined;

  constructor(file: string, key: string | undefined, problem: string, options?: { cause?: unknown }) {
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
export class ModelPredictError extends PoModelsError {
  override readonly name: string = 'ModelPredictError';
  readonly skill: string;

  constructor(code: PoModelsErrorCode, skill: string, problem: string, options?: { cause?: unknown }) {
    super(code, `Skill '${skill}': predict failed: ${problem}`, options);
    this.skill = skill;
  }
}

/** `buildMlpOnnx` was given a layer stack it cannot encode. */
export class MlpSpecError extends PoModelsError {
  override readonly name: string = 'MlpSpecError';

  constructor(problem: string) {
    super('INVALID_MLP_SPEC', `MLP spec: ${problem}. Fix the layer list passed to buildMlpOnnx.`);
  }
}

/** A short description of any thrown value, for error messages. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message.replace(/\s+/g, ' ').trim();
  return String(cause);
}

/** A file reader could not deliver a file: not found, unsafe path or unreadable. */
export class ModelFileError extends PoModelsError {
  override readonly name: string = 'ModelFileError';
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
    options?: { cause?: unknown },
  ) {
    super(code, `File '${path}': ${problem}. ${fix}`, options);
    this.path = path;
    this.problem = problem;
    this.fix = fix;
  }
}
