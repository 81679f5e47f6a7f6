import { createHash } from 'node:crypto';
import {
  type ModelFile,
  type ModelFileRole,
  ModelLoadError,
  type ModelProvider,
  type ModelRequest,
  PoError,
  type SurrogateModel,
  type SurrogateModelGroup,
  type TrainingDomain,
  type TrainingError,
} from '@po/core';

/**
 * A model in engine units: a plain function of one input row (the skill's inputs in order, a
 * buffer reused between rows: read it, do not keep it), or an affine map `weights · row + bias`.
 * Its value is the prediction the engine adds to the output's current value.
 */
export type InMemoryModel = ((row: Float64Array) => number) | { weights: readonly number[]; bias?: number };

export interface InMemoryModelProviderOptions {
  /** The models, by the path a strategy names in `config.model_path`. */
  models: Readonly<Record<string, InMemoryModel>>;
  /**
   * Other files (scalers, metadata), by path: they are not interpreted, only listed with their
   * SHA-256 when a skill names them. A skill naming a path that is in neither map fails to load.
   */
  files?: Readonly<Record<string, string | Uint8Array>>;
  /** Training domains, by model path: what the loaded model reports as `domain` (none without one). */
  domains?: Readonly<Record<string, TrainingDomain>>;
  /** Training errors, by model path: what the loaded model reports as `trainingError`. */
  trainingErrors?: Readonly<Record<string, TrainingError>>;
  /**
   * Offer `fuse` (default true): independent models then run as one group per batch, as the
   * ONNX provider does, so that the engine's fusion paths are exercised. False: no `fuse` method.
   */
  fuse?: boolean;
}

/** What the engine asked of an in-memory provider, for tests that count runs. */
export interface InMemoryProviderStats {
  /** Models loaded. */
  loads: number;
  /** `predict` calls of single models (a group's members are not counted here). */
  predicts: number;
  /** Groups made by `fuse`, and their members. */
  groups: number;
  fusedModels: number;
  /** `predict` calls of groups. */
  groupPredicts: number;
}

export interface InMemoryModelProvider extends ModelProvider {
  readonly stats: InMemoryProviderStats;
}

const SCOPE = 'rto-engine';

const sha256 = (content: string | Uint8Array) => createHash('sha256').update(content).digest('hex');

/** The text a model is identified by: what its SHA-256 is taken of. */
function definitionOf(model: InMemoryModel): string {
  return typeof model === 'function'
    ? model.toString()
    : JSON.stringify({ weights: model.weights, bias: model.bias ?? 0 });
}

/** One loaded in-memory model; `run` is synchronous so that a group can run its members in one call. */
class InMemorySurrogate implements SurrogateModel {
  disposed = false;
  private readonly row: Float64Array;

  constructor(
    readonly skill: string,
    private readonly model: InMemoryModel,
    readonly width: number,
    readonly files: readonly ModelFile[],
    private readonly stats: InMemoryProviderStats,
    readonly domain: TrainingDomain | undefined,
    readonly trainingError: TrainingError | undefined,
  ) {
    this.row = new Float64Array(width);
  }

  readonly warnings: readonly string[] = [];

  async predict(inputs: Float64Array, count: number, out: Float64Array): Promise<void> {
    this.stats.predicts++;
    this.run(inputs, count, out);
  }

  /** Writes `count` predictions into `out[0..count)`; allocates nothing. */
  run(inputs: Float64Array, count: number, out: Float64Array): void {
    if (this.disposed) {
      throw new PoError(
        SCOPE,
        'MODEL_DISPOSED',
        `Skill '${this.skill}': the model was disposed; load it again.`,
      );
    }
    const { width, model, row } = this;
    if (!(Number.isInteger(count) && count >= 0) || inputs.length < count * width || out.length < count) {
      throw new PoError(
        SCOPE,
        'PREDICT_FAILED',
        `Skill '${this.skill}': a batch of ${count} row(s) needs ${count * width} inputs and ${count} outputs (got ${inputs.length} and ${out.length}).`,
      );
    }
    if (typeof model === 'function') {
      for (let r = 0; r < count; r++) {
        for (let j = 0; j < width; j++) row[j] = inputs[r * width + j]!;
        out[r] = model(row);
      }
      return;
    }
    const bias = model.bias ?? 0;
    for (let r = 0; r < count; r++) {
      let y = bias;
      for (let j = 0; j < width; j++) y += model.weights[j]! * inputs[r * width + j]!;
      out[r] = y;
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

/**
 * A `ModelProvider` whose models are plain functions or affine maps held in memory: engine tests
 * run without ONNX Runtime, with files that carry the real SHA-256 of their definition. It passes
 * `testModelProvider` (the conformance suite every provider must pass).
 */
export function createInMemoryModelProvider(options: InMemoryModelProviderOptions): InMemoryModelProvider {
  const stats: InMemoryProviderStats = { loads: 0, predicts: 0, groups: 0, fusedModels: 0, groupPredicts: 0 };
  const live = new Set<InMemorySurrogate>();

  const provider: InMemoryModelProvider = {
    stats,
    async load(request: ModelRequest): Promise<SurrogateModel> {
      const model = Object.hasOwn(options.models, request.modelPath)
        ? options.models[request.modelPath]!
        : undefined;
      const files = [modelFile(request, model, options)];
      for (const [role, path] of [
        ['scaler', request.scalerPath],
        ['metadata', request.metadataPath],
      ] as const) {
        if (path !== undefined) files.push(dataFile(request.skill, role, path, options));
      }
      const width = request.inputs.length;
      if (typeof model !== 'function' && model!.weights.length !== width) {
        throw new ModelLoadError({
          skill: request.skill,
          role: 'model',
          path: request.modelPath,
          problem: `the affine model has ${model!.weights.length} weights for ${width} inputs (${request.inputs.join(', ')})`,
          fix: 'Give one weight per input of the skill.',
          code: 'MODEL_SHAPE_MISMATCH',
          scope: SCOPE,
        });
      }
      const loaded = new InMemorySurrogate(
        request.skill,
        model!,
        width,
        files,
        stats,
        lookup(options.domains, request.modelPath),
        lookup(options.trainingErrors, request.modelPath),
      );
      stats.loads++;
      live.add(loaded);
      return loaded;
    },
  };
  if (options.fuse !== false) {
    provider.fuse = async (models) => {
      const members = models.filter(
        (m): m is InMemorySurrogate => m instanceof InMemorySurrogate && live.has(m),
      );
      if (members.length !== models.length || members.length < 2) return undefined;
      stats.groups++;
      stats.fusedModels += members.length;
      return inMemoryGroup(members, stats);
    };
  }
  return provider;
}

function inMemoryGroup(
  members: readonly InMemorySurrogate[],
  stats: InMemoryProviderStats,
): SurrogateModelGroup {
  return {
    async predict(inputs, count, outs) {
      stats.groupPredicts++;
      for (let i = 0; i < members.length; i++) members[i]!.run(inputs[i]!, count, outs[i]!);
    },
    async dispose() {},
  };
}

const lookup = <T>(map: Readonly<Record<string, T>> | undefined, key: string): T | undefined =>
  map !== undefined && Object.hasOwn(map, key) ? map[key] : undefined;

function missingFile(skill: string, role: ModelFileRole, path: string, problem: string): ModelLoadError {
  return new ModelLoadError({
    skill,
    role,
    path,
    problem,
    fix: 'Give it to createInMemoryModelProvider (models for model files, files for the others).',
    code: 'FILE_NOT_FOUND',
    scope: SCOPE,
  });
}

function modelFile(
  request: ModelRequest,
  model: InMemoryModel | undefined,
  options: InMemoryModelProviderOptions,
): ModelFile {
  if (model === undefined) {
    const isData = options.files !== undefined && Object.hasOwn(options.files, request.modelPath);
    throw missingFile(
      request.skill,
      'model',
      request.modelPath,
      isData ? 'the file is not a model (it is one of the data files)' : 'the file does not exist',
    );
  }
  return { role: 'model', path: request.modelPath, sha256: sha256(definitionOf(model)) };
}

function dataFile(
  skill: string,
  role: ModelFileRole,
  path: string,
  options: InMemoryModelProviderOptions,
): ModelFile {
  const content = options.files && Object.hasOwn(options.files, path) ? options.files[path] : undefined;
  if (content === undefined) throw missingFile(skill, role, path, 'the file does not exist');
  return { role, path, sha256: sha256(content) };
}
