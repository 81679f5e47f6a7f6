/**
 * The shapes @po/models implements. They mirror the `ModelProvider` interface that
 * @po/rto-engine owns (packages/rto-engine/src/model-provider.ts) structurally:
 * dependencies point one way, so this package never imports the engine.
 */

/** Loads the surrogate model of one InferenceModel skill. */
export interface ModelProvider {
  /**
   * Loads the model, its scalers and its metadata for one InferenceModel skill.
   * Every file is read and parsed here (nothing is loaded lazily). Rejects with a
   * `ModelLoadError` naming the skill, the file's role and its path.
   */
  load(request: ModelRequest): Promise<SurrogateModel>;
  /**
   * Optional: evaluates several loaded, mutually independent models with one runtime call
   * per batch. Resolves undefined when they cannot be fused (the caller runs them one by one).
   */
  fuse?(models: readonly SurrogateModel[]): Promise<SurrogateModelGroup | undefined>;
}

/** Models evaluated together: member i reads `inputs[i]` and writes `outs[i]`, as `SurrogateModel.predict`. */
export interface SurrogateModelGroup {
  predict(inputs: readonly Float64Array[], count: number, outs: readonly Float64Array[]): Promise<void>;
  /** Releases the group's runtime session (the members stay loaded). */
  dispose(): Promise<void>;
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
   * Predicts a batch. `inputs` holds `count` rows of `inputs.length` values, row-major,
   * in engine units; the model scales them, runs the network once for the whole batch
   * and writes `count` inverse-scaled predictions into `out`. Never allocates per row.
   */
  predict(inputs: Float64Array, count: number, out: Float64Array): Promise<void>;
  /** Files this model was built from (path and SHA-256), for result provenance. */
  readonly files: readonly ModelFile[];
  /** Human-readable notes from loading (e.g. a missing output scaler). */
  readonly warnings: readonly string[];
  /** Releases the runtime session. */
  dispose(): Promise<void>;
}

/** The role a file plays for a skill. */
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
 * Reads a model, scaler or metadata file by the path the strategy names.
 * Rejects when the file does not exist or cannot be read; a `PoModelsError` with
 * code `FILE_NOT_FOUND` or `UNSAFE_PATH` gets the clearest message.
 */
export type ModelFileReader = (path: string) => Promise<Uint8Array>;

/** Optional sink for diagnostics. The default is silent. */
export interface ModelsLogger {
  debug?(fields: Record<string, unknown>, message: string): void;
  warn?(fields: Record<string, unknown>, message: string): void;
}
