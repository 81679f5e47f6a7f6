/**
 * A typed-array value-and-Jacobian kernel for the small dense networks po runs (Linear/Gemm,
 * MatMul, BatchNormalization in inference mode, exact GELU as Div/Erf/Add/Mul, ReLU, tanh,
 * sigmoid, leaky ReLU, and elementwise arithmetic with constants): the ONNX graph is read once
 * and interpreted row by row in float64, a forward pass for the values and one reverse sweep
 * from the scalar output for d output / d every input, so one call gives a batch's outputs and
 * their Jacobian. (`apply` can also carry forward-mode tangents; the reverse sweep is cheaper
 * for one output.) A graph with anything else
 * (another op, another shape) gets no kernel: `denseKernel` returns undefined and the engine
 * falls back to finite differences of the ONNX Runtime predictions.
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { erf } from './math.ts';

const { onnx } = onnxProto;

/** A step of the compiled graph; slots index the row buffers. */
type Step =
  | { op: 'gemm'; x: number; y: number; w: Float64Array; b: Float64Array; rows: number; cols: number }
  | { op: 'affine'; x: number; y: number; scale: Float64Array; shift: Float64Array }
  | { op: 'unary'; x: number; y: number; fn: Unary; alpha: number }
  | { op: 'binary'; x: number; z: number; y: number; fn: '+' | '-' | '*' | '/' };

type Unary = 'erf' | 'relu' | 'tanh' | 'sigmoid' | 'leaky_relu' | 'identity';

/** A value known at load time: a scalar or a vector broadcast over the batch. */
type Constant = Float64Array;

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** The compiled kernel of one network: `run` evaluates one row and its gradient. */
export class DenseKernel {
  readonly inputWidth: number;
  private readonly steps: readonly Step[];
  private readonly values: Float64Array[];
  private readonly tangents: Float64Array[];
  private readonly adjoints: Float64Array[];
  private readonly output: number;

  constructor(inputWidth: number, widths: readonly number[], steps: readonly Step[], output: number) {
    this.inputWidth = inputWidth;
    this.steps = steps;
    this.values = widths.map((w) => new Float64Array(w));
    this.tangents = widths.map((w) => new Float64Array(w * inputWidth));
    this.adjoints = widths.map((w) => new Float64Array(w));
    this.output = output;
  }

  /** Fills the slots that hold constants (their tangents stay zero). */
  setConstants(constants: readonly [number, Float64Array][]): void {
    for (const [slot, values] of constants) this.values[slot]!.set(values);
  }

  /**
   * One row: `x` (network units, `inputWidth` values at `offset`) in; returns the output and writes
   * d output / d x into `gradient` (inputWidth values at `gOffset`), scaled by `inputScale[i]`
   * (the derivative of the network input i by the engine's input i).
   */
  run(
    x: Float64Array,
    offset: number,
    inputScale: Float64Array,
    gradient: Float64Array,
    gOffset: number,
  ): number {
    const d = this.inputWidth;
    const v0 = this.values[0]!;
    for (let i = 0; i < d; i++) v0[i] = x[offset + i]!;
    // Forward: values only (no tangents: d = 0). Backward: one reverse sweep from the scalar
    // output gives d output / d every input (cheaper than d forward tangents).
    const steps = this.steps;
    for (let s = 0; s < steps.length; s++) this.apply(steps[s]!, 0);
    const adjoints = this.adjoints;
    for (let k = 0; k < adjoints.length; k++) adjoints[k]!.fill(0);
    adjoints[this.output]![0] = 1;
    for (let s = steps.length - 1; s >= 0; s--) this.backward(steps[s]!);
    const a0 = adjoints[0]!;
    for (let i = 0; i < d; i++) gradient[gOffset + i] = a0[i]! * inputScale[i]!;
    return this.values[this.output]![0]!;
  }

  /** Adds the step's output adjoint, times its local derivative, to its inputs' adjoints. */
  private backward(step: Step): void {
    const ay = this.adjoints[step.y]!;
    const ax = this.adjoints[step.x]!;
    const xv = this.values[step.x]!;
    const n = ay.length;
    switch (step.op) {
      case 'gemm': {
        const { w, cols } = step;
        for (let o = 0; o < n; o++) {
          const a = ay[o]!;
          if (a === 0) continue;
          for (let k = 0; k < cols; k++) ax[k]! += w[o * cols + k]! * a;
        }
        return;
      }
      case 'affine':
        for (let k = 0; k < n; k++) ax[k]! += at(step.scale, k) * ay[k]!;
        return;
      case 'unary': {
        const yv = this.values[step.y]!;
        for (let k = 0; k < n; k++) ax[k]! += unarySlope(step.fn, step.alpha, xv[k]!, yv[k]!) * ay[k]!;
        return;
      }
      case 'binary': {
        const az = this.adjoints[step.z]!;
        const zv = this.values[step.z]!;
        for (let k = 0; k < n; k++) {
          const ka = xv.length === 1 ? 0 : k;
          const kb = zv.length === 1 ? 0 : k;
          const a = xv[ka]!;
          const b = zv[kb]!;
          const g = ay[k]!;
          if (step.fn === '+') {
            ax[ka]! += g;
            az[kb]! += g;
          } else if (step.fn === '-') {
            ax[ka]! += g;
            az[kb]! -= g;
          } else if (step.fn === '*') {
            ax[ka]! += b * g;
            az[kb]! += a * g;
          } else {
            ax[ka]! += g / b;
            az[kb]! -= (a * g) / (b * b);
          }
        }
        return;
      }
    }
  }

  private apply(step: Step, d: number): void {
    const xv = this.values[step.x]!;
    const xt = this.tangents[step.x]!;
    const yv = this.values[step.y]!;
    const yt = this.tangents[step.y]!;
    switch (step.op) {
      case 'gemm':
        gemm(step, xv, xt, yv, yt, d);
        return;
      case 'affine': {
        const n = yv.length;
        for (let k = 0; k < n; k++) {
          const s = at(step.scale, k);
          yv[k] = xv[k]! * s + at(step.shift, k);
          for (let i = 0; i < d; i++) yt[k * d + i] = xt[k * d + i]! * s;
        }
        return;
      }
      case 'unary':
        unary(step.fn, step.alpha, xv, xt, yv, yt, d);
        return;
      case 'binary':
        binary(step.fn, xv, xt, this.values[step.z]!, this.tangents[step.z]!, yv, yt, d);
        return;
    }
  }
}

function at(c: Constant, k: number): number {
  return c.length === 1 ? c[0]! : c[k]!;
}

function gemm(
  step: Extract<Step, { op: 'gemm' }>,
  xv: Float64Array,
  xt: Float64Array,
  yv: Float64Array,
  yt: Float64Array,
  d: number,
): void {
  const { w, b, rows, cols } = step;
  for (let o = 0; o < rows; o++) {
    let sum = at(b, o);
    const base = o * cols;
    for (let k = 0; k < cols; k++) sum += w[base + k]! * xv[k]!;
    yv[o] = sum;
    for (let i = 0; i < d; i++) {
      let ts = 0;
      for (let k = 0; k < cols; k++) ts += w[base + k]! * xt[k * d + i]!;
      yt[o * d + i] = ts;
    }
  }
}

function unary(
  fn: Unary,
  alpha: number,
  xv: Float64Array,
  xt: Float64Array,
  yv: Float64Array,
  yt: Float64Array,
  d: number,
): void {
  for (let k = 0; k < xv.length; k++) {
    const x = xv[k]!;
    let y: number;
    let dy: number;
    switch (fn) {
      case 'erf':
        y = erf(x);
        dy = TWO_OVER_SQRT_PI * Math.exp(-x * x);
        break;
      case 'relu':
        y = Math.max(x, 0);
        dy = x > 0 ? 1 : 0;
        break;
      case 'leaky_relu':
        y = x > 0 ? x : alpha * x;
        dy = x > 0 ? 1 : alpha;
        break;
      case 'tanh':
        y = Math.tanh(x);
        dy = 1 - y * y;
        break;
      case 'sigmoid':
        y = 1 / (1 + Math.exp(-x));
        dy = y * (1 - y);
        break;
      default:
        y = x;
        dy = 1;
    }
    yv[k] = y;
    for (let i = 0; i < d; i++) yt[k * d + i] = xt[k * d + i]! * dy;
  }
}

/** d unary(x) / dx, given x and y = unary(x). */
function unarySlope(fn: Unary, alpha: number, x: number, y: number): number {
  switch (fn) {
    case 'erf':
      return TWO_OVER_SQRT_PI * Math.exp(-x * x);
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'leaky_relu':
      return x > 0 ? 1 : alpha;
    case 'tanh':
      return 1 - y * y;
    case 'sigmoid':
      return y * (1 - y);
    default:
      return 1;
  }
}

function binary(
  fn: '+' | '-' | '*' | '/',
  av: Float64Array,
  at_: Float64Array,
  bv: Float64Array,
  bt: Float64Array,
  yv: Float64Array,
  yt: Float64Array,
  d: number,
): void {
  const n = yv.length;
  for (let k = 0; k < n; k++) {
    const ka = av.length === 1 ? 0 : k;
    const kb = bv.length === 1 ? 0 : k;
    const a = av[ka]!;
    const b = bv[kb]!;
    let y = a / b;
    let da = 1 / b;
    let db = -a / (b * b);
    if (fn === '+') {
      y = a + b;
      da = 1;
      db = 1;
    } else if (fn === '-') {
      y = a - b;
      da = 1;
      db = -1;
    } else if (fn === '*') {
      y = a * b;
      da = b;
      db = a;
    }
    yv[k] = y;
    for (let i = 0; i < d; i++) yt[k * d + i] = da * at_[ka * d + i]! + db * bt[kb * d + i]!;
  }
}

/** The float values of a tensor (raw little-endian bytes or float_data), or undefined for other types. */
function tensorValues(t: Onnx.ITensorProto): Float64Array | undefined {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) return undefined;
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Float64Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
  }
  return Float64Array.from(t.floatData ?? []);
}

function attribute(node: Onnx.INodeProto, name: string): Onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

const UNARY: Readonly<Record<string, Unary>> = {
  Erf: 'erf',
  Relu: 'relu',
  Tanh: 'tanh',
  Sigmoid: 'sigmoid',
  LeakyRelu: 'leaky_relu',
  Identity: 'identity',
};
const BINARY: Readonly<Record<string, '+' | '-' | '*' | '/'>> = { Add: '+', Sub: '-', Mul: '*', Div: '/' };

/** The graph being compiled: constants by name, runtime tensors by name (slot and width). */
class Compiler {
  readonly constants = new Map<string, Constant>();
  readonly slots = new Map<string, number>();
  readonly widths: number[] = [];
  readonly steps: Step[] = [];

  slot(name: string, width: number): number {
    this.widths.push(width);
    this.slots.set(name, this.widths.length - 1);
    return this.widths.length - 1;
  }

  /** A runtime tensor's slot; a constant becomes a slot with zero tangents when it must. */
  operand(name: string): number | undefined {
    const slot = this.slots.get(name);
    if (slot !== undefined) return slot;
    const c = this.constants.get(name);
    if (c === undefined) return undefined;
    const s = this.slot(`const:${name}`, c.length);
    this.constantSlots.push([s, c]);
    return s;
  }

  readonly constantSlots: [number, Constant][] = [];

  /** Compiles one node; false when the kernel cannot run it. */
  node(node: Onnx.INodeProto): boolean {
    const type = node.opType ?? '';
    const inputs = node.input ?? [];
    const out = node.output?.[0];
    if (out === undefined || (node.output?.length ?? 0) !== 1) return false;
    if (type === 'Constant') {
      const t = attribute(node, 'value')?.t;
      const values = t ? tensorValues(t) : undefined;
      if (values === undefined) return false;
      this.constants.set(out, values);
      return true;
    }
    if (type === 'Gemm' || type === 'MatMul') return this.gemm(node, type, out);
    if (type === 'BatchNormalization') return this.batchNorm(node, out);
    const x = this.slots.get(inputs[0] ?? '');
    if (UNARY[type] !== undefined) {
      if (x === undefined) return false;
      const alpha = attribute(node, 'alpha')?.f ?? 0.01;
      this.steps.push({ op: 'unary', x, y: this.slot(out, this.widths[x]!), fn: UNARY[type]!, alpha });
      return true;
    }
    const fn = BINARY[type];
    if (fn === undefined || inputs.length !== 2) return false;
    return this.binary(fn, inputs[0]!, inputs[1]!, out);
  }

  private binary(fn: '+' | '-' | '*' | '/', left: string, right: string, out: string): boolean {
    const a = this.slots.get(left);
    const b = this.slots.get(right);
    const cb = this.constants.get(right);
    const ca = this.constants.get(left);
    if (a !== undefined && b === undefined && cb !== undefined && fn !== '-' && fn !== '+') {
      // x * c, x / c: an affine step.
      const scale = fn === '*' ? cb : cb.map((v) => 1 / v);
      const y = this.slot(out, this.widths[a]!);
      this.steps.push({ op: 'affine', x: a, y, scale, shift: new Float64Array(1) });
      return true;
    }
    if (a !== undefined && b === undefined && cb !== undefined) {
      const shift = fn === '+' ? cb : cb.map((v) => -v);
      const y = this.slot(out, this.widths[a]!);
      this.steps.push({ op: 'affine', x: a, y, scale: Float64Array.of(1), shift });
      return true;
    }
    if (a === undefined && ca === undefined) return false;
    if (b === undefined && cb === undefined) return false;
    const xa = this.operand(left)!;
    const xb = this.operand(right)!;
    const width = Math.max(this.widths[xa]!, this.widths[xb]!);
    if (![1, width].includes(this.widths[xa]!) || ![1, width].includes(this.widths[xb]!)) return false;
    this.steps.push({ op: 'binary', x: xa, z: xb, y: this.slot(out, width), fn });
    return true;
  }

  private gemm(node: Onnx.INodeProto, type: string, out: string): boolean {
    const [input, weight, bias] = node.input ?? [];
    const x = this.slots.get(input ?? '');
    const w = this.constants.get(weight ?? '');
    if (x === undefined || w === undefined) return false;
    const cols = this.widths[x]!;
    const transA = Number(attribute(node, 'transA')?.i ?? 0);
    const transB = type === 'Gemm' ? Number(attribute(node, 'transB')?.i ?? 0) : 0;
    if (transA !== 0 || w.length % cols !== 0) return false;
    const alpha = type === 'Gemm' ? (attribute(node, 'alpha')?.f ?? 1) : 1;
    const beta = type === 'Gemm' ? (attribute(node, 'beta')?.f ?? 1) : 1;
    const rows = w.length / cols;
    // Stored as [out, in]; a weight [in, out] (transB = 0, MatMul) is transposed here.
    const wt = new Float64Array(rows * cols);
    for (let o = 0; o < rows; o++) {
      for (let k = 0; k < cols; k++)
        wt[o * cols + k] = alpha * (transB ? w[o * cols + k]! : w[k * rows + o]!);
    }
    let b: Float64Array = new Float64Array(1);
    if (bias !== undefined && bias !== '') {
      const c = this.constants.get(bias);
      if (c === undefined || (c.length !== 1 && c.length !== rows)) return false;
      b = c.map((v) => beta * v);
    }
    this.steps.push({ op: 'gemm', x, y: this.slot(out, rows), w: wt, b, rows, cols });
    return true;
  }

  private batchNorm(node: Onnx.INodeProto, out: string): boolean {
    const [input, ...params] = node.input ?? [];
    const x = this.slots.get(input ?? '');
    const [scale, bias, mean, variance] = params.map((p) => this.constants.get(p));
    if (x === undefined || !scale || !bias || !mean || !variance) return false;
    if (Number(attribute(node, 'training_mode')?.i ?? 0) !== 0) return false;
    const eps = attribute(node, 'epsilon')?.f ?? 1e-5;
    const width = this.widths[x]!;
    const s = new Float64Array(width);
    const shift = new Float64Array(width);
    for (let k = 0; k < width; k++) {
      s[k] = at(scale, k) / Math.sqrt(at(variance, k) + eps);
      shift[k] = at(bias, k) - at(mean, k) * s[k]!;
    }
    this.steps.push({ op: 'affine', x, y: this.slot(out, width), scale: s, shift });
    return true;
  }
}

/**
 * The kernel of an ONNX network with one input [batch, inputWidth] and one output [batch, 1],
 * or undefined when the graph uses anything the kernel does not run.
 */
export function denseKernel(bytes: Uint8Array, inputWidth: number): DenseKernel | undefined {
  let model: Onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return undefined;
  }
  const graph = model.graph;
  if (!graph?.input || !graph.output || !graph.node || graph.output.length !== 1) return undefined;
  const c = new Compiler();
  for (const t of graph.initializer ?? []) {
    const values = tensorValues(t);
    if (values === undefined) return undefined;
    c.constants.set(t.name ?? '', values);
  }
  const inputs = graph.input.filter((i) => !c.constants.has(i.name ?? ''));
  if (inputs.length !== 1) return undefined;
  c.slot(inputs[0]!.name ?? '', inputWidth);
  for (const node of graph.node) if (!c.node(node)) return undefined;
  const output = c.slots.get(graph.output[0]!.name ?? '');
  if (output === undefined || c.widths[output] !== 1) return undefined;
  const kernel = new DenseKernel(inputWidth, c.widths, c.steps, output);
  kernel.setConstants(c.constantSlots);
  return kernel;
}
