/**
 * What the engine needs from a model implementation. @po/models provides one
 * (`createModelProvider`); tests may pass their own. The engine owns this interface
 * so that it never depends on how or where models are stored.
 *
 * Call order: `load` once per InferenceModel skill when a strategy is compiled
 * (every file is loaded before the first cycle); `predict` any number of times;
 * `dispose` once when the strategy is replaced.
 */
export interface ModelProvider {
  /**
   * Loads the model, its scalers and its metadata for one InferenceModel skill.
   * Rejects with an error naming the file when any of them is missing or unreadable,
   * or when the model does not fit the skill's inputs and output.
   */
  load(request: ModelRequest): Promise<SurrogateModel>;
  /**
   * Optional. Evaluates several loaded models that do not depend on each other with one
   * runtime call per batch (the engine asks for each run of consecutive, independent model
   * skills in the cost sequence). Resolves undefined when they cannot be fused; the engine
   * then runs them one by one. Results must be identical to the members' own.
   */
  fuse?(models: readonly SurrogateModel[]): Promise<SurrogateModelGroup | undefined>;
}

/** Models evaluated together: member i reads `inputs[i]` and writes `outs[i]`, as `SurrogateModel.predict`. */
export interface SurrogateModelGroup {
  predict(inputs: readonly Float64Array[], count: number, outs: readonly Float64Array[]): Promise<void>;
  /** Releases what the group holds (the members stay loaded). */
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

export interface ModelFile {
  /** The role of the file for the skill. */
  role: 'model' | 'scaler' | 'metadata';
  /** The path as the strategy names it. */
  path: string;
  /** Hex SHA-256 of the bytes that were loaded. */
  sha256: string;
}
