import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import {
  describeCause,
  ModelFileError,
  ModelLoadError,
  ModelPredictError,
  PoModelsError,
  type PoModelsErrorCode,
  ScalerFormatError,
} from './errors.ts';
import { fuseOnnxModels } from './fuse.ts';
import { ModelImportError } from './import/errors.ts';
import { importPthModel } from './import/network.ts';
import { importScalerPickle } from './import/scalers-pickle.ts';
import { describeMetadataMismatch, type ModelMetadata, parseModelMetadata } from './metadata.ts';
import { createSession, type OnnxSignature, readSignature, staticDim } from './onnx-session.ts';
import { type AffineStep, parseScalerFile, type ScalerSet, scalerKey, scalerSteps } from './scalers.ts';
import type {
  ModelFile,
  ModelFileReader,
  ModelFileRole,
  ModelProvider,
  ModelRequest,
  ModelsLogger,
  SurrogateModel,
  SurrogateModelGroup,
} from './types.ts';

/** Options of `createModelProvider`. */
export interface ModelProviderOptions {
  /**
   * Reads a file by the path the strategy names (`model_path`, `scaler_path`,
   * `metadata_path`). Use `localModelFiles(dir)` for a local folder laid out like the bucket.
   */
  readFile: ModelFileReader;
  /** Diagnostics (session created or reused). Silent by default. */
  logger?: ModelsLogger | undefined;
}

/** A model provider that also releases every session it still holds. */
export interface OnnxModelProvider extends ModelProvider {
  load(request: ModelRequest): Promise<LoadedModel>;
  fuse(models: readonly SurrogateModel[]): Promise<SurrogateModelGroup | undefined>;
  /** Disposes every model this provider loaded and has not disposed yet. */
  dispose(): Promise<void>;
}

/** What `load` returns: a `SurrogateModel` plus what was read alongside it. */
export interface LoadedModel extends SurrogateModel {
  readonly skill: string;
  readonly inputs: readonly string[];
  readonly output: string;
  /** The ONNX input and output names read from the session. */
  readonly onnxInputName: string;
  readonly onnxOutputName: string;
  /** The metadata file, when the strategy names one. */
  readonly metadata: ModelMetadata | undefined;
  /** The activation from the request, else from the metadata. */
  readonly activation: string | undefined;
}

const FIXES: Partial<Record<PoModelsErrorCode, string>> = {
  FILE_NOT_FOUND: 'Put the file in the models folder or correct the path in the strategy.',
  UNSAFE_PATH: "Write the path relative to the models folder, e.g. 'saved_models/x.onnx'.",
  FILE_UNREADABLE: 'Check that the file exists and can be read.',
};

interface SharedSession {
  session: Promise<ort.InferenceSession>;
  refs: number;
}

/**
 * Creates the ONNX-backed `ModelProvider`. Each model file gets one ONNX Runtime session
 * (one thread, all graph optimizations), shared by every skill that loads the same bytes
 * and released when the last of them is disposed.
 */
export function createModelProvider(options: ModelProviderOptions): OnnxModelProvider {
  const { readFile } = options;
  const logger = options.logger ?? {};
  const sessions = new Map<string, SharedSession>();
  const live = new Set<OnnxSurrogateModel>();

  const acquire = (sha256: string, bytes: Uint8Array): SharedSession => {
    let shared = sessions.get(sha256);
    if (shared === undefined) {
      shared = { session: createSession(bytes), refs: 0 };
      sessions.set(sha256, shared);
      shared.session.catch(() => sessions.delete(sha256));
      logger.debug?.({ sha256 }, '[po/models] ONNX session created');
    } else {
      logger.debug?.({ sha256 }, '[po/models] ONNX session reused');
    }
    shared.refs += 1;
    return shared;
  };

  const release = async (sha256: string, shared: SharedSession): Promise<void> => {
    shared.refs -= 1;
    if (shared.refs > 0) return;
    if (sessions.get(sha256) === shared) sessions.delete(sha256);
    const session = await shared.session.catch(() => undefined);
    await session?.release();
  };

  const provider: OnnxModelProvider = {
    async load(request: ModelRequest): Promise<LoadedModel> {
      checkRequest(request);
      const { skill } = request;
      const fail = (
        role: ModelFileRole,
        path: string,
        code: PoModelsErrorCode,
        problem: string,
        fix: string,
      ) => new ModelLoadError({ code, skill, role, path, problem, fix });

      refuseUnsupportedFormats(request);

      // Read every file before parsing any, then report the first failure in role order.
      const wanted: { role: ModelFileRole; path: string }[] = [{ role: 'model', path: request.modelPath }];
      if (request.scalerPath !== undefined) wanted.push({ role: 'scaler', path: request.scalerPath });
      if (request.metadataPath !== undefined) wanted.push({ role: 'metadata', path: request.metadataPath });
      const settled = await Promise.allSettled(wanted.map((w) => readFile(w.path)));
      const bytesByRole = new Map<ModelFileRole, Uint8Array>();
      const files: ModelFile[] = [];
      for (const [i, result] of settled.entries()) {
        const { role, path } = wanted[i]!;
        if (result.status === 'rejected') throw readFailure(skill, role, path, result.reason);
        bytesByRole.set(role, result.value);
        files.push({ role, path, sha256: createHash('sha256').update(result.value).digest('hex') });
      }

      let metadata: ModelMetadata | undefined;
      if (request.metadataPath !== undefined) {
        const path = request.metadataPath;
        try {
          metadata = parseModelMetadata(bytesByRole.get('metadata')!, path);
        } catch (cause) {
          throw new ModelLoadError({
            code: 'INVALID_METADATA',
            skill,
            role: 'metadata',
            path,
            problem: stripPrefix(describeCause(cause)),
            fix: 'Fix the metadata file or remove metadata_path from the skill.',
            cause,
          });
        }
        const mismatch = describeMetadataMismatch(metadata, request.inputs, request.output);
        if (mismatch !== undefined) {
          throw fail(
            'metadata',
            path,
            'METADATA_MISMATCH',
            mismatch,
            'The skill must list the inputs (in the same order) and the output the model was trained on: ' +
              'fix the skill or point metadata_path at the right file.',
          );
        }
      }

      let scalers: ScalerSet | undefined;
      if (request.scalerPath !== undefined) {
        const path = request.scalerPath;
        try {
          const bytes = bytesByRole.get('scaler')!;
          // A .pkl is read by the restricted reader into po's JSON format: one scaling code path.
          scalers = parseScalerFile(PICKLE.test(path) ? importScalerPickle(bytes, path) : bytes, path);
        } catch (cause) {
          if (cause instanceof ModelImportError) throw importFailure(skill, 'scaler', path, cause);
          const key = cause instanceof ScalerFormatError ? cause.key : undefined;
          throw new ModelLoadError({
            code: 'INVALID_SCALER',
            skill,
            role: 'scaler',
            path,
            problem: `${key === undefined ? '' : `scaler '${key}': `}${stripPrefix(describeCause(cause))}`,
            fix: 'Fix the scaler file (see the JSON scaler format in the @po/models README).',
            cause,
          });
        }
      }

      const modelFile = files[0]!;
      let onnxBytes = bytesByRole.get('model')!;
      let sessionKey = modelFile.sha256;
      if (PYTORCH.test(request.modelPath)) {
        // A state_dict is converted in memory to ONNX; the session is keyed by the ONNX bytes
        // (the same .pth with another activation is another network).
        try {
          onnxBytes = importPthModel(onnxBytes, {
            file: request.modelPath,
            activation: request.activation,
            metadata: metadata?.raw,
            inputs: request.inputs,
          }).onnx;
        } catch (cause) {
          if (cause instanceof ModelImportError)
            throw importFailure(skill, 'model', request.modelPath, cause);
          throw cause;
        }
        sessionKey = `pth:${createHash('sha256').update(onnxBytes).digest('hex')}`;
      }
      const shared = acquire(sessionKey, onnxBytes);
      let model: OnnxSurrogateModel;
      try {
        let session: ort.InferenceSession;
        try {
          session = await shared.session;
        } catch (cause) {
          throw new ModelLoadError({
            code: 'INVALID_ONNX',
            skill,
            role: 'model',
            path: request.modelPath,
            problem: `ONNX Runtime cannot read it as an ONNX model (${describeCause(cause)})`,
            fix: 'Export the network to ONNX again (opset 17, one float32 input [batch, inputs], one output [batch, 1]).',
            cause,
          });
        }
        const signature = checkSignature(request, readSignature(session));
        const warnings: string[] = [];
        const inputSteps = request.inputs.map(
          (name) => scalerSteps(scalers?.scalers.get(scalerKey(name))).forward,
        );
        const outputScaler = scalers?.scalers.get(scalerKey(request.output));
        if (outputScaler === undefined) {
          warnings.push(
            `Skill '${skill}': no scaler for output '${request.output}' (key '${scalerKey(request.output)}'` +
              `${request.scalerPath === undefined ? ', no scaler_path' : ` in '${request.scalerPath}'`}); ` +
              'the raw network output is used as the prediction.',
          );
        }
        model = new OnnxSurrogateModel({
          request,
          session,
          onnxBytes,
          signature,
          inputSteps,
          outputStep: scalerSteps(outputScaler).inverse,
          files,
          warnings,
          metadata,
          onDispose: async () => {
            live.delete(model);
            await release(sessionKey, shared);
          },
        });
      } catch (error) {
        await release(sessionKey, shared);
        throw error;
      }
      live.add(model);
      return model;
    },

    async fuse(models: readonly SurrogateModel[]): Promise<SurrogateModelGroup | undefined> {
      const members = models.filter(
        (m): m is OnnxSurrogateModel => m instanceof OnnxSurrogateModel && live.has(m),
      );
      if (members.length !== models.length || members.length < 2) return undefined;
      const fused = fuseOnnxModels(members.map((m) => m.onnxBytes));
      if (typeof fused === 'string') {
        logger.debug?.({ skills: members.map((m) => m.skill) }, `[po/models] models not fused: ${fused}`);
        return undefined;
      }
      const group = new OnnxModelGroup(
        members,
        await createSession(fused.bytes),
        fused.inputs,
        fused.outputs,
      );
      // The fused graph must give exactly what the members give; otherwise they run one by one.
      if (!(await group.agreesWithMembers())) {
        logger.warn?.(
          {
            skills: members.map((m) => m.skill),
          },
          '[po/models] fused models disagree with the separate ones; not fused',
        );
        await group.dispose();
        return undefined;
      }
      return group;
    },

    async dispose(): Promise<void> {
      await Promise.all([...live].map((m) => m.dispose()));
    },
  };
  return provider;
}

/**
 * Independent models placed side by side in one ONNX graph: one session run per batch for
 * all of them, with each member's own scaling around it.
 */
class OnnxModelGroup implements SurrogateModelGroup {
  readonly #buffers: Float32Array[];
  #tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly members: readonly OnnxSurrogateModel[],
    private readonly session: ort.InferenceSession,
    private readonly inputNames: readonly string[],
    private readonly outputNames: readonly string[],
  ) {
    this.#buffers = members.map((m) => new Float32Array(MIN_CAPACITY_ROWS * m.width));
  }

  predict(inputs: readonly Float64Array[], count: number, outs: readonly Float64Array[]): Promise<void> {
    if (count === 0) return Promise.resolve();
    const run = this.#tail.then(() => this.#run(inputs, count, outs));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #run(inputs: readonly Float64Array[], count: number, outs: readonly Float64Array[]): Promise<void> {
    const feeds: Record<string, ort.Tensor> = {};
    this.members.forEach((m, i) => {
      const size = count * m.width;
      if (this.#buffers[i]!.length < size)
        this.#buffers[i] = new Float32Array(Math.max(size, this.#buffers[i]!.length * 2));
      m.scaleInputs(inputs[i]!, count, this.#buffers[i]!);
      feeds[this.inputNames[i]!] = new ort.Tensor('float32', this.#buffers[i]!.subarray(0, size), [
        count,
        m.width,
      ]);
    });
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(feeds);
    } catch (cause) {
      throw new ModelPredictError(
        'PREDICT_FAILED',
        this.members.map((m) => m.skill).join(', '),
        `ONNX Runtime failed on a batch of ${count} row(s) (${describeCause(cause)}).`,
        { cause },
      );
    }
    this.members.forEach((m, i) => {
      m.unscaleOutputs(results[this.outputNames[i]!]!.data as Float32Array, count, outs[i]!);
    });
  }

  /** Runs a fixed batch through the group and through each member; true when every value is identical. */
  async agreesWithMembers(): Promise<boolean> {
    const rows = 7;
    const inputs = this.members.map((m) =>
      Float64Array.from({ length: rows * m.width }, (_, k) => Math.sin(k * 1.7 + 0.3)),
    );
    const fused = this.members.map(() => new Float64Array(rows));
    const alone = this.members.map(() => new Float64Array(rows));
    await this.predict(inputs, rows, fused);
    await Promise.all(this.members.map((m, i) => m.predict(inputs[i]!, rows, alone[i]!)));
    return fused.every((f, i) => f.every((v, r) => Object.is(v, alone[i]![r])));
  }

  async dispose(): Promise<void> {
    await this.#tail;
    await this.session.release();
  }
}

function stripPrefix(message: string): string {
  return message.replace(/^\[po\/models\]\s*/, '').replace(/\.\s*$/, '');
}

function checkRequest(request: ModelRequest): void {
  const problems: string[] = [];
  if (typeof request.skill !== 'string' || request.skill === '')
    problems.push('skill must be a non-empty string');
  if (typeof request.modelPath !== 'string' || request.modelPath === '') {
    problems.push('modelPath (config.model_path) must be a non-empty string');
  }
  if (!Array.isArray(request.inputs) || request.inputs.length === 0) {
    problems.push('inputs must list at least one variable');
  } else if (!request.inputs.every((i) => typeof i === 'string' && i !== '')) {
    problems.push('every input must be a non-empty variable name');
  }
  if (typeof request.output !== 'string' || request.output === '')
    problems.push('output must be a variable name');
  if (problems.length > 0) {
    throw new PoModelsError(
      'INVALID_REQUEST',
      `Skill '${String(request.skill)}': invalid model request: ${problems.join('; ')}. ` +
        'Fix the InferenceModel skill in the strategy.',
    );
  }
}

const PYTORCH = /\.(pth|pt)$/i;
const PICKLE = /\.pkl$/i;

function refuseUnsupportedFormats(request: ModelRequest): void {
  const { skill, metadataPath } = request;
  if (metadataPath !== undefined && PICKLE.test(metadataPath)) {
    throw new ModelLoadError({
      code: 'UNSUPPORTED_FORMAT',
      skill,
      role: 'metadata',
      path: metadataPath,
      problem: 'metadata must be a JSON file',
      fix: 'Point metadata_path at a JSON file.',
    });
  }
}

/** A `.pth`/`.pkl` import failure as a load error naming the skill, the role and the file. */
function importFailure(
  skill: string,
  role: ModelFileRole,
  path: string,
  cause: ModelImportError,
): ModelLoadError {
  return new ModelLoadError({
    code: cause.code,
    skill,
    role,
    path,
    problem: cause.problem.replace(/\.\s*$/, ''),
    fix: cause.fix,
    cause,
  });
}

function readFailure(skill: string, role: ModelFileRole, path: string, cause: unknown): ModelLoadError {
  if (cause instanceof ModelFileError) {
    return new ModelLoadError({
      code: cause.code,
      skill,
      role,
      path,
      problem: cause.problem,
      fix: cause.fix,
      cause,
    });
  }
  const code = cause instanceof PoModelsError ? cause.code : 'FILE_UNREADABLE';
  return new ModelLoadError({
    code,
    skill,
    role,
    path,
    problem: `cannot be read (${stripPrefix(describeCause(cause))})`,
    fix: FIXES[code] ?? 'Check the file and the path in the strategy.',
    cause,
  });
}

function checkSignature(request: ModelRequest, signature: OnnxSignature | string): OnnxSignature {
  const fail = (code: PoModelsErrorCode, problem: string, fix: string) =>
    new ModelLoadError({ code, skill: request.skill, role: 'model', path: request.modelPath, problem, fix });
  const reexport =
    'Export the network with one float32 input [batch, inputs] and one float32 output [batch, 1], ' +
    'or fix the skill so that it lists the inputs the network was trained on.';
  if (typeof signature === 'string') throw fail('MODEL_SHAPE_MISMATCH', signature, reexport);
  if (signature.inputType !== undefined && signature.inputType !== 'float32') {
    throw fail('MODEL_SHAPE_MISMATCH', `the network input is ${signature.inputType}, not float32`, reexport);
  }
  if (signature.outputType !== undefined && signature.outputType !== 'float32') {
    throw fail(
      'MODEL_SHAPE_MISMATCH',
      `the network output is ${signature.outputType}, not float32`,
      reexport,
    );
  }
  const { inputShape, outputShape } = signature;
  if (inputShape !== undefined && inputShape.length > 0 && inputShape.length !== 2) {
    throw fail(
      'MODEL_SHAPE_MISMATCH',
      `the network input has shape [${inputShape.join(', ')}], not [batch, n]`,
      reexport,
    );
  }
  const width = staticDim(inputShape, 1);
  if (width !== undefined && width !== request.inputs.length) {
    throw fail(
      'MODEL_SHAPE_MISMATCH',
      `the network takes ${width} input(s) but the skill lists ${request.inputs.length} ` +
        `(${request.inputs.join(', ')})`,
      'List exactly the inputs the network was trained on, in its order, or point model_path at the right model.',
    );
  }
  if (outputShape !== undefined && outputShape.length > 0) {
    const last = staticDim(outputShape, outputShape.length - 1);
    if (outputShape.length > 2 || (last !== undefined && last !== 1 && outputShape.length === 2)) {
      throw fail(
        'MODEL_SHAPE_MISMATCH',
        `the network output has shape [${outputShape.join(', ')}]; po expects one value per row ([batch, 1])`,
        reexport,
      );
    }
  }
  return signature;
}

const OP_MUL_ADD = 0;
const OP_SUB_DIV = 1;

interface SurrogateParts {
  request: ModelRequest;
  session: ort.InferenceSession;
  /** The ONNX graph the session runs (for fusing side-by-side models). */
  onnxBytes: Uint8Array;
  signature: OnnxSignature;
  inputSteps: readonly AffineStep[];
  outputStep: AffineStep;
  files: readonly ModelFile[];
  warnings: readonly string[];
  metadata: ModelMetadata | undefined;
  onDispose: () => Promise<void>;
}

/** Smallest input buffer, in rows: enough for the usual optimizer batches without growing. */
const MIN_CAPACITY_ROWS = 64;

class OnnxSurrogateModel implements LoadedModel {
  readonly skill: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly onnxInputName: string;
  readonly onnxOutputName: string;
  readonly files: readonly ModelFile[];
  readonly warnings: readonly string[];
  readonly metadata: ModelMetadata | undefined;
  readonly activation: string | undefined;

  readonly #session: ort.InferenceSession;
  /** The ONNX graph of this model, for `fuse`. */
  readonly onnxBytes: Uint8Array;
  readonly #width: number;
  readonly #ops: Uint8Array;
  readonly #a: Float64Array;
  readonly #b: Float64Array;
  readonly #outOp: number;
  readonly #outA: number;
  readonly #outB: number;
  readonly #onDispose: () => Promise<void>;
  #buffer: Float32Array;
  #tensor: ort.Tensor | undefined;
  #tensorRows = -1;
  #tail: Promise<void> = Promise.resolve();
  #disposed: Promise<void> | undefined;

  constructor(parts: SurrogateParts) {
    this.skill = parts.request.skill;
    this.inputs = Object.freeze([...parts.request.inputs]);
    this.output = parts.request.output;
    this.onnxInputName = parts.signature.inputName;
    this.onnxOutputName = parts.signature.outputName;
    this.files = Object.freeze(parts.files.map((f) => Object.freeze({ ...f })));
    this.warnings = Object.freeze([...parts.warnings]);
    this.metadata = parts.metadata;
    this.activation = parts.request.activation ?? parts.metadata?.activation;
    this.#session = parts.session;
    this.onnxBytes = parts.onnxBytes;
    this.#width = parts.request.inputs.length;
    this.#ops = Uint8Array.from(parts.inputSteps, (s) => (s.op === 'mulAdd' ? OP_MUL_ADD : OP_SUB_DIV));
    this.#a = Float64Array.from(parts.inputSteps, (s) => s.a);
    this.#b = Float64Array.from(parts.inputSteps, (s) => s.b);
    this.#outOp = parts.outputStep.op === 'mulAdd' ? OP_MUL_ADD : OP_SUB_DIV;
    this.#outA = parts.outputStep.a;
    this.#outB = parts.outputStep.b;
    this.#onDispose = parts.onDispose;
    this.#buffer = new Float32Array(MIN_CAPACITY_ROWS * this.#width);
  }

  predict(inputs: Float64Array, count: number, out: Float64Array): Promise<void> {
    if (this.#disposed !== undefined) {
      return Promise.reject(
        new ModelPredictError(
          'DISPOSED',
          this.skill,
          'the model was disposed. Load it again from the provider.',
        ),
      );
    }
    if (!Number.isInteger(count) || count < 0) {
      return Promise.reject(
        new ModelPredictError(
          'INVALID_BATCH',
          this.skill,
          `count must be a non-negative integer, got ${count}.`,
        ),
      );
    }
    if (inputs.length < count * this.#width || out.length < count) {
      return Promise.reject(
        new ModelPredictError(
          'INVALID_BATCH',
          this.skill,
          `a batch of ${count} row(s) needs ${count * this.#width} input values (${this.#width} per row) and ` +
            `${count} output slots; got ${inputs.length} and ${out.length}. Size the arrays for the batch.`,
        ),
      );
    }
    if (count === 0) return Promise.resolve();
    // Runs are serialized: they share one preallocated input buffer.
    const run = this.#tail.then(() => this.#run(inputs, count, out));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #run(inputs: Float64Array, count: number, out: Float64Array): Promise<void> {
    const width = this.#width;
    const size = count * width;
    if (this.#buffer.length < size) {
      this.#buffer = new Float32Array(Math.max(size, this.#buffer.length * 2));
      this.#tensorRows = -1;
    }
    const buffer = this.#buffer;
    this.scaleInputs(inputs, count, buffer);
    if (this.#tensorRows !== count || this.#tensor === undefined) {
      this.#tensor = new ort.Tensor('float32', buffer.subarray(0, size), [count, width]);
      this.#tensorRows = count;
    }
    let result: ort.Tensor | undefined;
    try {
      const results = await this.#session.run({ [this.onnxInputName]: this.#tensor });
      result = results[this.onnxOutputName];
    } catch (cause) {
      throw new ModelPredictError(
        'PREDICT_FAILED',
        this.skill,
        `ONNX Runtime failed on a batch of ${count} row(s) (${describeCause(cause)}). Check the model file.`,
        { cause },
      );
    }
    const data = result?.data;
    if (result?.type !== 'float32' || !ArrayBuffer.isView(data) || data.length !== count) {
      throw new ModelPredictError(
        'PREDICT_FAILED',
        this.skill,
        `the network returned ${result === undefined ? 'no output' : `${result.size} ${result.type} value(s)`} ` +
          `for ${count} row(s); expected one float32 per row. ` +
          'Export the network with output [batch, 1].',
      );
    }
    this.unscaleOutputs(data as Float32Array, count, out);
  }

  /** Scales `count` rows into `buffer` in float64, in scikit-learn's order; the Float32Array store rounds. */
  scaleInputs(inputs: Float64Array, count: number, buffer: Float32Array): void {
    const width = this.#width;
    const ops = this.#ops;
    const a = this.#a;
    const b = this.#b;
    for (let row = 0; row < count; row++) {
      const base = row * width;
      for (let j = 0; j < width; j++) {
        const x = inputs[base + j]!;
        buffer[base + j] = ops[j] === OP_MUL_ADD ? x * a[j]! + b[j]! : (x - a[j]!) / b[j]!;
      }
    }
  }

  /** Inverse-scales `count` float32 network outputs into `out` in float64. */
  unscaleOutputs(data: Float32Array, count: number, out: Float64Array): void {
    const outOp = this.#outOp;
    const outA = this.#outA;
    const outB = this.#outB;
    for (let row = 0; row < count; row++) {
      const y = data[row]!;
      out[row] = outOp === OP_MUL_ADD ? y * outA + outB : (y - outA) / outB;
    }
  }

  get width(): number {
    return this.#width;
  }

  dispose(): Promise<void> {
    this.#disposed ??= this.#tail.then(() => this.#onDispose());
    return this.#disposed;
  }
}
