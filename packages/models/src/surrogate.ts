import type {
  ModelFile,
  ModelRequest,
  SurrogateModel,
  SurrogateModelGroup,
  TrainingDomain,
  TrainingError,
} from '@po/core';
import { describeError } from '@po/core';
import * as ort from 'onnxruntime-node';
import { type DenseKernel, denseKernel } from './dense-kernel.ts';
import { ModelPredictError } from './errors.ts';
import type { ModelMetadata } from './metadata.ts';
import { type OnnxSignature, releaseSession, runSession } from './onnx-session.ts';
import type { AffineStep } from './scalers.ts';

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

const OP_MUL_ADD = 0;
const OP_SUB_DIV = 1;

export interface SurrogateParts {
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
  domain: TrainingDomain;
  onDispose: () => Promise<void>;
}

/** Smallest input buffer, in rows: enough for the usual optimizer batches without growing. */
const MIN_CAPACITY_ROWS = 64;

export class OnnxSurrogateModel implements LoadedModel {
  readonly skill: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly onnxInputName: string;
  readonly onnxOutputName: string;
  readonly files: readonly ModelFile[];
  readonly warnings: readonly string[];
  readonly metadata: ModelMetadata | undefined;
  readonly activation: string | undefined;
  readonly domain: TrainingDomain;
  readonly trainingError: TrainingError | undefined;

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
  /** The typed-array value-and-Jacobian kernel, when the graph is a small dense network. */
  readonly #kernel: DenseKernel | undefined;
  /** d network input / d engine input, per input (the input scaling's slope). */
  readonly #inputSlope: Float64Array;
  #scaled = new Float64Array(0);
  #buffer: Float32Array;
  /**
   * The prediction and its exact Jacobian (float64, the dense kernel), when the network is one
   * the kernel runs; absent otherwise (the engine then uses finite differences of `predict`).
   */
  readonly valueAndJacobian?: (
    inputs: Float64Array,
    count: number,
    out: Float64Array,
    jacobian: Float64Array,
  ) => Promise<void>;
  /** `valueAndJacobian` without the promise, when the kernel runs the network. */
  readonly valueAndJacobianSync?: (
    inputs: Float64Array,
    count: number,
    out: Float64Array,
    jacobian: Float64Array,
  ) => void;
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
    this.domain = parts.domain;
    this.trainingError = parts.metadata?.trainingError;
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
    this.#inputSlope = Float64Array.from(parts.inputSteps, (s) => (s.op === 'mulAdd' ? s.a : 1 / s.b));
    this.#kernel = denseKernel(parts.onnxBytes, this.#width);
    if (this.#kernel !== undefined) {
      this.valueAndJacobianSync = (inputs, count, out, jacobian) => {
        this.#check(inputs, count, out);
        this.#jacobian(inputs, count, out, jacobian);
      };
      this.valueAndJacobian = (inputs, count, out, jacobian) => {
        try {
          this.#check(inputs, count, out);
          this.#jacobian(inputs, count, out, jacobian);
          return Promise.resolve();
        } catch (error) {
          return Promise.reject(error);
        }
      };
    }
  }

  /** Rejects a disposed model and a batch whose arrays are too small. */
  #check(inputs: Float64Array, count: number, out: Float64Array): void {
    if (this.#disposed !== undefined) {
      throw new ModelPredictError(
        'DISPOSED',
        this.skill,
        'the model was disposed. Load it again from the provider.',
      );
    }
    if (!Number.isInteger(count) || count < 0) {
      throw new ModelPredictError(
        'INVALID_BATCH',
        this.skill,
        `count must be a non-negative integer, got ${count}.`,
      );
    }
    if (inputs.length < count * this.#width || out.length < count) {
      throw new ModelPredictError(
        'INVALID_BATCH',
        this.skill,
        `a batch of ${count} row(s) needs ${count * this.#width} input values (${this.#width} per row) and ` +
          `${count} output slots; got ${inputs.length} and ${out.length}. Size the arrays for the batch.`,
      );
    }
  }

  /** The kernel's rows: scaled in float64, a forward pass and one reverse sweep, inverse-scaled with the chain rule. */
  #jacobian(inputs: Float64Array, count: number, out: Float64Array, jacobian: Float64Array): void {
    const width = this.#width;
    if (jacobian.length < count * width) {
      throw new ModelPredictError(
        'INVALID_BATCH',
        this.skill,
        `a Jacobian of ${count} row(s) needs ${count * width} slots; got ${jacobian.length}.`,
      );
    }
    if (this.#scaled.length < width) this.#scaled = new Float64Array(width);
    const scaled = this.#scaled;
    const kernel = this.#kernel!;
    const outSlope = this.#outOp === OP_MUL_ADD ? this.#outA : 1 / this.#outB;
    for (let r = 0; r < count; r++) {
      const base = r * width;
      for (let j = 0; j < width; j++) {
        const x = inputs[base + j]!;
        scaled[j] =
          this.#ops[j] === OP_MUL_ADD ? x * this.#a[j]! + this.#b[j]! : (x - this.#a[j]!) / this.#b[j]!;
      }
      const y = kernel.run(scaled, 0, this.#inputSlope, jacobian, base);
      out[r] = this.#outOp === OP_MUL_ADD ? y * this.#outA + this.#outB : (y - this.#outA) / this.#outB;
      for (let j = 0; j < width; j++) jacobian[base + j]! *= outSlope;
    }
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
      const results = await runSession(this.#session, { [this.onnxInputName]: this.#tensor });
      result = results[this.onnxOutputName];
    } catch (cause) {
      throw new ModelPredictError(
        'PREDICT_FAILED',
        this.skill,
        `ONNX Runtime failed on a batch of ${count} row(s) (${describeError(cause, { oneLine: true })}). Check the model file.`,
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

/**
 * Independent models placed side by side in one ONNX graph: one session run per batch for
 * all of them, with each member's own scaling around it.
 */
export class OnnxModelGroup implements SurrogateModelGroup {
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
      results = await runSession(this.session, feeds);
    } catch (cause) {
      throw new ModelPredictError(
        'PREDICT_FAILED',
        this.members.map((m) => m.skill).join(', '),
        `ONNX Runtime failed on a batch of ${count} row(s) (${describeError(cause, { oneLine: true })}).`,
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
    await releaseSession(this.session);
  }
}
