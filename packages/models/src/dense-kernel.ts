/**
 * A typed-array value-and-Jacobian kernel for the small dense networks po runs (Linear/Gemm,
 * MatMul, BatchNormalization in inference mode, exact GELU as Div/Erf/Add/Mul, ReLU, tanh,
 * sigmoid, leaky ReLU, and elementwise arithmetic with constants): the ONNX graph is read once,
 * simplified (affine steps folded into the neighbouring Gemm, the GELU pattern fused into one
 * step) and run row by row in float64, a forward pass for the values and one reverse sweep from
 * the scalar output for d output / d every input, so one call gives a batch's outputs and their
 * Jacobian. Every step is an object holding its own typed arrays; a row allocates nothing.
 * A graph with anything else (another op, another shape) gets no kernel: `denseKernel` returns
 * undefined and the engine falls back to finite differences of the ONNX Runtime predictions.
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { fastErf as erf } from './math.ts';

const { onnx } = onnxProto;

/** A step of the compiled graph (data, before it is made runnable); slots index the row buffers. */
type Step =
  | { op: 'gemm'; x: number; y: number; w: Float64Array; b: Float64Array; rows: number; cols: number }
  | { op: 'affine'; x: number; y: number; scale: Float64Array; shift: Float64Array }
  | { op: 'unary'; x: number; y: number; fn: Unary; alpha: number }
  | { op: 'binary'; x: number; z: number; y: number; fn: '+' | '-' | '*' | '/' }
  /** y = x * (p * erf(a * x + c) + q), elementwise: exact GELU and its exports' variants. */
  | {
      op: 'erfGate';
      x: number;
      y: number;
      a: Float64Array;
      c: Float64Array;
      p: Float64Array;
      q: Float64Array;
    };

type Unary = 'erf' | 'relu' | 'tanh' | 'sigmoid' | 'leaky_relu' | 'identity';

/** A value known at load time: a scalar or a vector broadcast over the batch. */
type Constant = Float64Array;

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** One runnable step: values forward, adjoints backward (added to its inputs' adjoints). */
interface RowStep {
  forward(): void;
  backward(): void;
}

/** The compiled kernel of one network: `run` evaluates one row and its gradient. */
export class DenseKernel {
  readonly inputWidth: number;
  private readonly steps: readonly RowStep[];
  private readonly values: Float64Array[];
  private readonly adjoints: Float64Array[];
  /** The adjoints the steps read or write (slots of folded steps are left out). */
  private readonly liveAdjoints: Float64Array[];
  private readonly output: number;

  constructor(inputWidth: number, widths: readonly number[], steps: readonly Step[], output: number) {
    this.inputWidth = inputWidth;
    this.values = widths.map((w) => new Float64Array(w));
    this.adjoints = widths.map((w) => new Float64Array(w));
    this.steps = steps.map((step) => runnable(step, this.values, this.adjoints));
    const live = new Set([
      0,
      output,
      ...steps.flatMap((s) => (s.op === 'binary' ? [s.x, s.z, s.y] : [s.x, s.y])),
    ]);
    this.liveAdjoints = [...live].map((slot) => this.adjoints[slot]!);
    this.output = output;
  }

  /** Fills the slots that hold constants. */
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
    // Forward: values. Backward: one reverse sweep from the scalar output gives d output / d every
    // input (cheaper than d forward tangents).
    const steps = this.steps;
    for (let s = 0; s < steps.length; s++) steps[s]!.forward();
    const live = this.liveAdjoints;
    // Loops, not `fill`: the builtin's call costs more than zeroing a layer's few values.
    for (let k = 0; k < live.length; k++) {
      const a = live[k]!;
      for (let i = 0; i < a.length; i++) a[i] = 0;
    }
    const adjoints = this.adjoints;
    adjoints[this.output]![0] = 1;
    for (let s = steps.length - 1; s >= 0; s--) steps[s]!.backward();
    const a0 = adjoints[0]!;
    for (let i = 0; i < d; i++) gradient[gOffset + i] = a0[i]! * inputScale[i]!;
    return this.values[this.output]![0]!;
  }

  /** How many steps a row runs (after folding and fusing), for tests. */
  get stepCount(): number {
    return this.steps.length;
  }
}

function runnable(step: Step, values: Float64Array[], adjoints: Float64Array[]): RowStep {
  const io = { xv: values[step.x]!, xa: adjoints[step.x]!, yv: values[step.y]!, ya: adjoints[step.y]! };
  switch (step.op) {
    case 'gemm':
      return new GemmStep(io, step.w, full(step.b, step.rows), step.rows, step.cols);
    case 'affine':
      return new AffineStep(io, full(step.scale, io.yv.length), full(step.shift, io.yv.length));
    case 'unary':
      return new UnaryStep(io, step.fn, step.alpha);
    case 'binary':
      return new BinaryStep(io, values[step.z]!, adjoints[step.z]!, step.fn);
    case 'erfGate':
      return new ErfGateStep(io, step.a, step.c, step.p, step.q);
  }
}

/** The input and output slots of a step: values and adjoints. */
interface StepIo {
  xv: Float64Array;
  xa: Float64Array;
  yv: Float64Array;
  ya: Float64Array;
}

class GemmStep implements RowStep {
  constructor(
    private readonly io: StepIo,
    private readonly w: Float64Array,
    private readonly b: Float64Array,
    private readonly rows: number,
    private readonly cols: number,
  ) {}

  forward(): void {
    const { xv, yv } = this.io;
    const { w, b, rows, cols } = this;
    for (let o = 0, base = 0; o < rows; o++, base += cols) {
      let sum = b[o]!;
      for (let k = 0; k < cols; k++) sum += w[base + k]! * xv[k]!;
      yv[o] = sum;
    }
  }

  backward(): void {
    const { xa, ya } = this.io;
    const { w, rows, cols } = this;
    for (let o = 0, base = 0; o < rows; o++, base += cols) {
      const a = ya[o]!;
      if (a === 0) continue;
      for (let k = 0; k < cols; k++) xa[k]! += w[base + k]! * a;
    }
  }
}

class AffineStep implements RowStep {
  constructor(
    private readonly io: StepIo,
    private readonly scale: Float64Array,
    private readonly shift: Float64Array,
  ) {}

  forward(): void {
    const { xv, yv } = this.io;
    const { scale, shift } = this;
    for (let k = 0; k < yv.length; k++) yv[k] = xv[k]! * scale[k]! + shift[k]!;
  }

  backward(): void {
    const { xa, ya } = this.io;
    const scale = this.scale;
    for (let k = 0; k < ya.length; k++) xa[k]! += scale[k]! * ya[k]!;
  }
}

class UnaryStep implements RowStep {
  constructor(
    private readonly io: StepIo,
    private readonly fn: Unary,
    private readonly alpha: number,
  ) {}

  forward(): void {
    const { xv, yv } = this.io;
    const n = yv.length;
    switch (this.fn) {
      case 'erf':
        for (let k = 0; k < n; k++) yv[k] = erf(xv[k]!);
        return;
      case 'relu':
        for (let k = 0; k < n; k++) yv[k] = Math.max(xv[k]!, 0);
        return;
      case 'leaky_relu':
        for (let k = 0; k < n; k++) yv[k] = xv[k]! > 0 ? xv[k]! : this.alpha * xv[k]!;
        return;
      case 'tanh':
        for (let k = 0; k < n; k++) yv[k] = Math.tanh(xv[k]!);
        return;
      case 'sigmoid':
        for (let k = 0; k < n; k++) yv[k] = 1 / (1 + Math.exp(-xv[k]!));
        return;
      default:
        for (let k = 0; k < n; k++) yv[k] = xv[k]!;
    }
  }

  backward(): void {
    const { xv, xa, yv, ya } = this.io;
    const n = ya.length;
    switch (this.fn) {
      case 'erf':
        for (let k = 0; k < n; k++) xa[k]! += TWO_OVER_SQRT_PI * Math.exp(-xv[k]! * xv[k]!) * ya[k]!;
        return;
      case 'relu':
        for (let k = 0; k < n; k++) if (xv[k]! > 0) xa[k]! += ya[k]!;
        return;
      case 'leaky_relu':
        for (let k = 0; k < n; k++) xa[k]! += (xv[k]! > 0 ? 1 : this.alpha) * ya[k]!;
        return;
      case 'tanh':
        for (let k = 0; k < n; k++) xa[k]! += (1 - yv[k]! * yv[k]!) * ya[k]!;
        return;
      case 'sigmoid':
        for (let k = 0; k < n; k++) xa[k]! += yv[k]! * (1 - yv[k]!) * ya[k]!;
        return;
      default:
        for (let k = 0; k < n; k++) xa[k]! += ya[k]!;
    }
  }
}

class BinaryStep implements RowStep {
  private readonly scalarX: boolean;
  private readonly scalarZ: boolean;

  constructor(
    private readonly io: StepIo,
    private readonly zv: Float64Array,
    private readonly za: Float64Array,
    private readonly fn: '+' | '-' | '*' | '/',
  ) {
    this.scalarX = io.xv.length === 1;
    this.scalarZ = zv.length === 1;
  }

  forward(): void {
    const { xv, yv } = this.io;
    const zv = this.zv;
    for (let k = 0; k < yv.length; k++) {
      const a = xv[this.scalarX ? 0 : k]!;
      const b = zv[this.scalarZ ? 0 : k]!;
      yv[k] = this.fn === '+' ? a + b : this.fn === '-' ? a - b : this.fn === '*' ? a * b : a / b;
    }
  }

  backward(): void {
    const { xv, xa, ya } = this.io;
    const { zv, za } = this;
    for (let k = 0; k < ya.length; k++) {
      const ka = this.scalarX ? 0 : k;
      const kb = this.scalarZ ? 0 : k;
      const a = xv[ka]!;
      const b = zv[kb]!;
      const g = ya[k]!;
      if (this.fn === '+') {
        xa[ka]! += g;
        za[kb]! += g;
      } else if (this.fn === '-') {
        xa[ka]! += g;
        za[kb]! -= g;
      } else if (this.fn === '*') {
        xa[ka]! += b * g;
        za[kb]! += a * g;
      } else {
        xa[ka]! += g / b;
        za[kb]! -= (a * g) / (b * b);
      }
    }
  }
}

/** y = x * (p * erf(a x + c) + q); keeps a x + c and the gate for the backward sweep. */
class ErfGateStep implements RowStep {
  private readonly t: Float64Array;
  private readonly gate: Float64Array;

  constructor(
    private readonly io: StepIo,
    private readonly a: Float64Array,
    private readonly c: Float64Array,
    private readonly p: Float64Array,
    private readonly q: Float64Array,
  ) {
    this.t = new Float64Array(io.yv.length);
    this.gate = new Float64Array(io.yv.length);
  }

  forward(): void {
    const { xv, yv } = this.io;
    const { a, c, p, q, t, gate } = this;
    for (let k = 0; k < yv.length; k++) {
      const x = xv[k]!;
      const tk = a[k]! * x + c[k]!;
      const g = p[k]! * erf(tk) + q[k]!;
      t[k] = tk;
      gate[k] = g;
      yv[k] = x * g;
    }
  }

  backward(): void {
    const { xv, xa, ya } = this.io;
    const { a, p, t, gate } = this;
    for (let k = 0; k < ya.length; k++) {
      const tk = t[k]!;
      const slope = gate[k]! + xv[k]! * p[k]! * TWO_OVER_SQRT_PI * Math.exp(-tk * tk) * a[k]!;
      xa[k]! += slope * ya[k]!;
    }
  }
}

function at(c: Constant, k: number): number {
  return c.length === 1 ? c[0]! : c[k]!;
}

/** A constant broadcast to `width` values. */
function full(c: Constant, width: number): Float64Array {
  return c.length === width ? c : Float64Array.from({ length: width }, (_, k) => at(c, k));
}

/**
 * Simplifies the compiled steps without changing what they compute (up to rounding): the GELU
 * pattern (affine, erf, affine, times its own input) becomes one `erfGate` step, and an affine
 * step whose input or output is used by a Gemm alone is folded into that Gemm's weights.
 */
function simplify(steps: Step[], widths: readonly number[], output: number): Step[] {
  let current = steps;
  for (let changed = true; changed; ) {
    changed = false;
    const uses = new Int32Array(widths.length);
    const producer = new Map<number, Step>();
    uses[output]!++;
    for (const step of current) {
      uses[step.x]!++;
      if (step.op === 'binary') uses[step.z]!++;
      producer.set(step.y, step);
    }
    const only = (slot: number) => uses[slot] === 1;
    const consumer = new Map<number, Step>();
    for (const step of current) {
      if (only(step.x)) consumer.set(step.x, step);
      if (step.op === 'binary' && only(step.z)) consumer.set(step.z, step);
    }
    const removed = new Set<Step>();
    const replaced = new Map<Step, Step>();
    for (const step of current) {
      if (removed.has(step) || replaced.has(step)) continue;
      const gate =
        step.op === 'binary' && step.fn === '*' ? erfGate(step, widths, producer, only) : undefined;
      if (gate) {
        replaced.set(step, gate.step);
        for (const s of gate.removes) removed.add(s);
        changed = true;
        break;
      }
      if (step.op !== 'affine') continue;
      const before = producer.get(step.x);
      if (before?.op === 'gemm' && only(step.x) && !removed.has(before) && !replaced.has(before)) {
        // y = s (W x + b) + h
        const w = before.w.map((v, i) => v * at(step.scale, Math.floor(i / before.cols)));
        const b = Float64Array.from(
          { length: before.rows },
          (_, o) => at(step.scale, o) * at(before.b, o) + at(step.shift, o),
        );
        replaced.set(before, { ...before, y: step.y, w, b });
        removed.add(step);
        changed = true;
        break;
      }
      const after = consumer.get(step.y);
      if (after?.op === 'gemm' && only(step.y) && !removed.has(after) && !replaced.has(after)) {
        // W (s x + h) + b = (W diag s) x + (W h + b)
        const w = after.w.map((v, i) => v * at(step.scale, i % after.cols));
        const b = Float64Array.from({ length: after.rows }, (_, o) => {
          let v = at(after.b, o);
          for (let k = 0; k < after.cols; k++) v += after.w[o * after.cols + k]! * at(step.shift, k);
          return v;
        });
        replaced.set(after, { ...after, x: step.x, w, b });
        removed.add(step);
        changed = true;
        break;
      }
    }
    current = current.filter((s) => !removed.has(s)).map((s) => replaced.get(s) ?? s);
  }
  return current;
}

/** `step` (x * u) as an erfGate when u = p erf(a x + c) + q through single-use slots. */
function erfGate(
  step: Extract<Step, { op: 'binary' }>,
  widths: readonly number[],
  producer: ReadonlyMap<number, Step>,
  only: (slot: number) => boolean,
): { step: Step; removes: Step[] } | undefined {
  for (const [x, u] of [
    [step.x, step.z],
    [step.z, step.x],
  ] as const) {
    const outer = producer.get(u);
    if (outer?.op !== 'affine' || !only(u)) continue;
    const e = producer.get(outer.x);
    if (e?.op !== 'unary' || e.fn !== 'erf' || !only(outer.x)) continue;
    const inner = producer.get(e.x);
    if (inner?.op !== 'affine' || inner.x !== x || !only(e.x)) continue;
    const width = widths[x]!;
    if (widths[step.y] !== width) continue;
    return {
      step: {
        op: 'erfGate',
        x,
        y: step.y,
        a: full(inner.scale, width),
        c: full(inner.shift, width),
        p: full(outer.scale, width),
        q: full(outer.shift, width),
      },
      removes: [outer, e, inner],
    };
  }
  return undefined;
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
  const kernel = new DenseKernel(inputWidth, c.widths, simplify(c.steps, c.widths, output), output);
  kernel.setConstants(c.constantSlots);
  return kernel;
}
