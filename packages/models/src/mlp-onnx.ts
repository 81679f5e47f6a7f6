import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { MlpSpecError } from './errors.ts';

const { onnx } = onnxProto;

/** A vector of float32 parameters. */
export type ParameterVector = Float32Array | readonly number[];

/** `y = x W^T + b` (PyTorch `nn.Linear`), exported as Gemm with transB = 1. */
export interface LinearLayer {
  kind: 'linear';
  /** [out, in]: rows of `in` numbers, or a row-major Float32Array of out × in values. */
  weight: Float32Array | readonly (readonly number[])[];
  /** [out]; zeros when omitted. */
  bias?: ParameterVector | undefined;
}

/** Inference-mode batch normalization (PyTorch `nn.BatchNorm1d` in eval mode). */
export interface BatchNormLayer {
  kind: 'batchnorm';
  weight: ParameterVector;
  bias: ParameterVector;
  runningMean: ParameterVector;
  runningVar: ParameterVector;
  /** Default 1e-5 (PyTorch's). */
  eps?: number | undefined;
}

/** The activations po can export. GELU is the exact (erf) form. */
export type ActivationFunction = 'gelu' | 'relu' | 'tanh' | 'sigmoid' | 'leaky_relu' | 'silu';

export interface ActivationLayer {
  kind: 'activation';
  fn: ActivationFunction;
  /** Negative slope of leaky_relu; default 0.01 (PyTorch's). */
  alpha?: number | undefined;
}

export type MlpLayer = LinearLayer | BatchNormLayer | ActivationLayer;

/** A feed-forward stack to encode as ONNX. */
export interface MlpSpec {
  /** Width of the network input (the number of model inputs). */
  inputSize: number;
  layers: readonly MlpLayer[];
  /** Graph name; default 'po_mlp'. */
  name?: string | undefined;
  /** Stored as the model's doc_string. */
  docString?: string | undefined;
  /** Stored as metadata_props, in key order as given. */
  metadata?: Readonly<Record<string, string>> | undefined;
}

/** ONNX opset and IR version of every model `buildMlpOnnx` writes. */
export const MLP_ONNX_OPSET = 17;
export const MLP_ONNX_IR_VERSION = 8;

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function floatBytes(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

function tensor(name: string, dims: number[], values: ArrayLike<number>): Onnx.ITensorProto {
  return { name, dims, dataType: FLOAT, rawData: floatBytes(values) };
}

function valueInfo(name: string, width: number): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } },
    },
  };
}

function checkFinite(where: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new MlpSpecError(`${where}[${i}] is not a finite number`);
  }
}

function vector(where: string, values: ParameterVector | undefined, length: number, fill = 0): Float32Array {
  if (values === undefined) return new Float32Array(length).fill(fill);
  if (values.length !== length) {
    throw new MlpSpecError(`${where} has ${values.length} values; expected ${length}`);
  }
  checkFinite(where, values);
  return Float32Array.from(values);
}

function linearWeight(where: string, weight: LinearLayer['weight'], inWidth: number) {
  if (weight instanceof Float32Array) {
    if (weight.length === 0 || weight.length % inWidth !== 0) {
      throw new MlpSpecError(
        `${where}.weight has ${weight.length} values, not a multiple of the input width ${inWidth}`,
      );
    }
    checkFinite(`${where}.weight`, weight);
    return { outWidth: weight.length / inWidth, values: weight };
  }
  if (!Array.isArray(weight) || weight.length === 0) throw new MlpSpecError(`${where}.weight has no rows`);
  const values = new Float32Array(weight.length * inWidth);
  weight.forEach((row: readonly number[], r: number) => {
    if (row.length !== inWidth) {
      throw new MlpSpecError(
        `${where}.weight row ${r} has ${row.length} values; expected the input width ${inWidth}`,
      );
    }
    checkFinite(`${where}.weight[${r}]`, row);
    values.set(row, r * inWidth);
  });
  return { outWidth: weight.length, values };
}

/** The nodes and initializers of the graph being written, with unique names in creation order. */
class GraphBuilder {
  readonly nodes: Onnx.INodeProto[] = [];
  readonly initializers: Onnx.ITensorProto[] = [];
  readonly #constants = new Map<number, string>();
  #counter = 0;

  /** The name of a scalar float constant, added once per value. */
  scalar(value: number): string {
    let name = this.#constants.get(value);
    if (name === undefined) {
      name = `const_${this.#constants.size}`;
      this.#constants.set(value, name);
      this.initializers.push(tensor(name, [], [value]));
    }
    return name;
  }

  /** Adds a node; returns the name of its output. */
  node(opType: string, inputs: string[], attribute: Onnx.IAttributeProto[] = []): string {
    const output = `${opType.toLowerCase()}_${this.#counter++}`;
    this.nodes.push({ name: `${output}_node`, opType, input: inputs, output: [output], attribute });
    return output;
  }
}

const { FLOAT: FLOAT_ATTR, INT: INT_ATTR } = onnx.AttributeProto.AttributeType;

/** Gemm (transB = 1) for a Linear layer; returns the output name and width. */
function emitLinear(
  g: GraphBuilder,
  input: string,
  width: number,
  layer: LinearLayer,
  index: number,
): { output: string; width: number } {
  const where = `layers[${index}]`;
  const { outWidth, values } = linearWeight(where, layer.weight, width);
  const w = `layer${index}.weight`;
  const b = `layer${index}.bias`;
  g.initializers.push(tensor(w, [outWidth, width], values));
  g.initializers.push(tensor(b, [outWidth], vector(`${where}.bias`, layer.bias, outWidth)));
  const output = g.node(
    'Gemm',
    [input, w, b],
    [
      { name: 'alpha', type: FLOAT_ATTR, f: 1 },
      { name: 'beta', type: FLOAT_ATTR, f: 1 },
      { name: 'transB', type: INT_ATTR, i: 1 },
    ],
  );
  return { output, width: outWidth };
}

/** BatchNormalization (inference) for a BatchNorm1d layer. */
function emitBatchNorm(g: GraphBuilder, input: string, width: number, layer: BatchNormLayer, index: number) {
  const where = `layers[${index}]`;
  const eps = layer.eps ?? 1e-5;
  if (!Number.isFinite(eps) || eps < 0) throw new MlpSpecError(`${where}.eps must be a finite number >= 0`);
  const names = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => `layer${index}.${n}`);
  const params = [layer.weight, layer.bias, layer.runningMean, layer.runningVar];
  const fields = ['weight', 'bias', 'runningMean', 'runningVar'];
  params.forEach((p, i) => {
    g.initializers.push(tensor(names[i]!, [width], vector(`${where}.${fields[i]}`, p, width)));
  });
  if (Array.from(params[3]!).some((v) => v < 0))
    throw new MlpSpecError(`${where}.runningVar has a negative value`);
  return g.node(
    'BatchNormalization',
    [input, ...names],
    [
      { name: 'epsilon', type: FLOAT_ATTR, f: eps },
      { name: 'momentum', type: FLOAT_ATTR, f: 0.9 },
    ],
  );
}

/** The nodes of each activation, from input `x`; each returns its output name. */
const ACTIVATION_NODES: Readonly<
  Record<ActivationFunction, (g: GraphBuilder, x: string, layer: ActivationLayer, where: string) => string>
> = {
  // Exact GELU as PyTorch exports it: x * (1 + erf(x / sqrt 2)) * 0.5.
  gelu: (g, x) => {
    const scaled = g.node('Div', [x, g.scalar(Math.SQRT2)]);
    const erfOut = g.node('Erf', [scaled]);
    const onePlus = g.node('Add', [erfOut, g.scalar(1)]);
    const times = g.node('Mul', [x, onePlus]);
    return g.node('Mul', [times, g.scalar(0.5)]);
  },
  relu: (g, x) => g.node('Relu', [x]),
  tanh: (g, x) => g.node('Tanh', [x]),
  sigmoid: (g, x) => g.node('Sigmoid', [x]),
  silu: (g, x) => g.node('Mul', [x, g.node('Sigmoid', [x])]),
  leaky_relu: (g, x, layer, where) => {
    const alpha = layer.alpha ?? 0.01;
    if (!Number.isFinite(alpha)) throw new MlpSpecError(`${where}.alpha must be a finite number`);
    return g.node('LeakyRelu', [x], [{ name: 'alpha', type: FLOAT_ATTR, f: alpha }]);
  },
};

function emitActivation(g: GraphBuilder, input: string, layer: ActivationLayer, index: number): string {
  const where = `layers[${index}]`;
  const emit = Object.hasOwn(ACTIVATION_NODES, layer.fn) ? ACTIVATION_NODES[layer.fn] : undefined;
  if (emit === undefined) {
    throw new MlpSpecError(
      `${where}.fn '${String((layer as { fn: unknown }).fn)}' is not one of gelu, relu, tanh, sigmoid, leaky_relu, silu`,
    );
  }
  return emit(g, input, layer, where);
}

/**
 * Encodes a feed-forward stack as an ONNX ModelProto (opset 17, IR version 8): input
 * `input` float32 [batch, inputSize], output `output` float32 [batch, out]. Linear layers
 * become Gemm (transB = 1), batch norms BatchNormalization (inference), GELU the exact
 * Div/Erf/Add/Mul form PyTorch exports. Deterministic: the same spec gives the same bytes.
 */
export function buildMlpOnnx(spec: MlpSpec): Uint8Array {
  if (!Number.isInteger(spec.inputSize) || spec.inputSize < 1) {
    throw new MlpSpecError(`inputSize must be a positive integer, got ${spec.inputSize}`);
  }
  if (spec.layers.length === 0) throw new MlpSpecError('the layer list is empty');
  const g = new GraphBuilder();
  let width = spec.inputSize;
  let current = 'input';
  spec.layers.forEach((layer, index) => {
    switch (layer.kind) {
      case 'linear':
        ({ output: current, width } = emitLinear(g, current, width, layer, index));
        return;
      case 'batchnorm':
        current = emitBatchNorm(g, current, width, layer, index);
        return;
      case 'activation':
        current = emitActivation(g, current, layer, index);
        return;
      default:
        throw new MlpSpecError(
          `layers[${index}].kind '${String((layer as { kind: unknown }).kind)}' is not one of linear, batchnorm, activation`,
        );
    }
  });

  // The last node writes the graph output directly.
  const last = g.nodes[g.nodes.length - 1]!;
  last.output = ['output'];

  const model: Onnx.IModelProto = {
    irVersion: MLP_ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: MLP_ONNX_OPSET }],
    producerName: 'po',
    docString: spec.docString ?? '',
    graph: {
      name: spec.name ?? 'po_mlp',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo('input', spec.inputSize)],
      output: [valueInfo('output', width)],
    },
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
