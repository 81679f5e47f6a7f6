import { PoError } from './errors.ts';

/**
 * The contract between the engine and whatever runs surrogate models. @po/rto-engine consumes it;
 * @po/models implements it with ONNX Runtime; `@po/rto-engine/testing` has an in-memory one and
 * the conformance suite every implementation must pass.
 *
 * Call order: `load` once per InferenceModel skill when a strategy is compiled (every file is
 * read before the first cycle); `fuse` optionally, once per run of independent models; `predict`
 * any number of times, one call at a time per model; `dispose` once when the strategy is replaced.
 */
export interface ModelProvider {
  /**
   * Loads the model, its scalers and its metadata for one InferenceModel skill. Every file is
   * read and parsed here (nothing is loaded lazily). Rejects with a `PoError` naming the skill,
   * the file's role and its path when a file is missing or unreadable, or when the model does not
   * fit the skill's inputs and output.
   */
  load(request: ModelRequest): Promise<SurrogateModel>;
  /**
   * Optional. Evaluates several loaded models that do not depend on each other with one runtime
   * call per batch (the engine asks for each run of consecutive, independent model skills in the
   * cost sequence). Resolves undefined when they cannot be fused; the caller then runs them one
   * by one. Results must be identical to the members' own.
   */
  fuse?(models: readonly SurrogateModel[]): Promise<SurrogateModelGroup | undefined>;
}

/** Everything a strategy says about one InferenceModel skill. */
export interface ModelRequest {
  /** The skill's name, for error messages. */
  skill: string;
  /** `config.model_path` as written in the strategy. */
  modelPath: string;
  /** `config.scaler_path`, when the strategy gives one. */
  scalerPath?: string | undefined;
  /** `config.metadata_path`, when the strategy gives one. */
  metadataPath?: string | undefined;
  /** `config.model_type` (informative; the predecessor ignored it). */
  modelType?: string | undefined;
  /** `config.activation`, for networks whose files do not say it. */
  activation?: string | undefined;
  /** The skill's input variable names, in the order the network expects them. */
  inputs: readonly string[];
  /** The skill's output variable name. */
  output: string;
}

/** A loaded surrogate model: scaling and network, ready for batches. */
export interface SurrogateModel {
  /**
   * Predicts a batch. `inputs` holds `count` rows of `inputs.length` values, row-major, in engine
   * units; the model scales them, runs the network once for the whole batch and writes `count`
   * inverse-scaled predictions into `out`. Never allocates per row.
   */
  predict(inputs: Float64Array, count: number, out: Float64Array): Promise<void>;
  /**
   * Optional: the prediction and its exact derivatives for a batch. Writes `count` predictions
   * into `out` (as `predict`, possibly computed in float64 where `predict` runs in float32) and,
   * row-major, `count × inputs-per-row` partial derivatives d prediction / d input (engine units,
   * scaling included) into `jacobian`. Models without it are differentiated by the engine with
   * finite differences of `predict`.
   */
  valueAndJacobian?(
    inputs: Float64Array,
    count: number,
    out: Float64Array,
    jacobian: Float64Array,
  ): Promise<void>;
  /**
   * Optional: `valueAndJacobian` computed synchronously (same arguments and results), present
   * only when the model needs no runtime hop for it (a typed-array kernel). Throws where
   * `valueAndJacobian` rejects. The engine uses it when every model of the cost has it, so an
   * evaluation costs no promise per model.
   */
  valueAndJacobianSync?(inputs: Float64Array, count: number, out: Float64Array, jacobian: Float64Array): void;
  /** Files this model was built from (path and SHA-256), for result provenance. */
  readonly files: readonly ModelFile[];
  /** Human-readable notes from loading (e.g. a missing output scaler). */
  readonly warnings: readonly string[];
  /**
   * What the model was trained on, as far as its files say (metadata first, else the fitted
   * scalers); undefined when the provider cannot tell at all. Inputs it cannot bound are listed
   * in `unknown`, never guessed.
   */
  readonly domain?: TrainingDomain | undefined;
  /** How well the model fitted its held-out data, when its metadata says (output units). */
  readonly trainingError?: TrainingError | undefined;
  /** Releases the runtime session. */
  dispose(): Promise<void>;
}

/** The range of one variable in a model's training data, in engine units. */
export interface VariableRange {
  min: number;
  max: number;
  /** The training mean, when known. */
  mean?: number | undefined;
  /**
   * True when the range is an estimate rather than the data's extremes (a StandardScaler's mean
   * ± 3 standard deviations): checked and reported like any range, marked as soft.
   */
  soft?: boolean | undefined;
}

/**
 * A model's training domain. `variables` holds the skill's inputs (as fed to the network: a Delta
 * input as dof - current) and may hold other strategy variables the metadata names (e.g. the
 * absolute operating point a delta model was trained around, checked at their dof value).
 */
export interface TrainingDomain {
  /** Where the ranges come from. */
  source: 'metadata' | 'scalers';
  variables: Readonly<Record<string, VariableRange>>;
  /** Inputs without a known range, with why (e.g. a RobustScaler has no data range). */
  unknown: Readonly<Record<string, string>>;
  /** Training covariance of some of the variables, when the metadata gives it (row-major, symmetric). */
  covariance?: { variables: readonly string[]; matrix: readonly (readonly number[])[] } | undefined;
}

/** A model's error on held-out data, in output units. */
export interface TrainingError {
  /** Root-mean-square error. */
  rmse?: number | undefined;
  /** Mean absolute error. */
  meanAbs?: number | undefined;
}

/** Models evaluated together: member i reads `inputs[i]` and writes `outs[i]`, as `SurrogateModel.predict`. */
export interface SurrogateModelGroup {
  predict(inputs: readonly Float64Array[], count: number, outs: readonly Float64Array[]): Promise<void>;
  /** Releases what the group holds (the members stay loaded). */
  dispose(): Promise<void>;
}

/** The role a file plays for an InferenceModel skill. */
export type ModelFileRole = 'model' | 'scaler' | 'metadata';

/** One file a model was built from. */
export interface ModelFile {
  /** The role of the file for the skill. */
  role: ModelFileRole;
  /** The path as the strategy names it. */
  path: string;
  /** Hex SHA-256 of the bytes that were loaded. */
  sha256: string;
}

/**
 * Reads a model, scaler or metadata file by the path the strategy names (a local folder, the
 * store, a cache in front of it). Rejects when the file does not exist or cannot be read; a
 * `PoError` with code `FILE_NOT_FOUND` or `UNSAFE_PATH` gives the clearest message.
 */
export type ModelFileReader = (path: string) => Promise<Uint8Array>;

/** What a `ModelLoadError` is built from. */
export interface ModelLoadErrorDetails {
  /** The InferenceModel skill being loaded. */
  skill: string;
  /** Which of the skill's files failed, when one did. */
  role?: ModelFileRole | undefined;
  /** That file's path as the strategy names it. */
  path?: string | undefined;
  /** What is wrong, without a trailing period. */
  problem: string;
  /** What to do about it. */
  fix?: string | undefined;
  /** Stable code (default `MODEL_LOAD_FAILED`; a provider may be more precise: `FILE_NOT_FOUND`). */
  code?: string | undefined;
  /** The package that raised it (default `models`). */
  scope?: string | undefined;
  cause?: unknown;
}

/**
 * The model, scaler or metadata file of an InferenceModel skill could not be loaded, or does not
 * fit the skill: `ModelProvider.load` rejects with it, naming the skill, the file's role and path.
 */
export class ModelLoadError extends PoError {
  readonly skill: string;
  readonly role: ModelFileRole | undefined;
  readonly path: string | undefined;

  constructor(details: ModelLoadErrorDetails) {
    const file = details.role === undefined ? '' : ` ${details.role} file '${details.path ?? '?'}':`;
    super(
      details.scope ?? 'models',
      details.code ?? 'MODEL_LOAD_FAILED',
      `Skill '${details.skill}':${file} ${details.problem}.${details.fix ? ` ${details.fix}` : ''}`,
      { cause: details.cause },
    );
    this.skill = details.skill;
    this.role = details.role;
    this.path = details.path;
  }
}
