/**
 * Builds po's demo kiln models: three small MLPs with the predecessor's ANNModel shape
 * (Linear(n,5)-BN-GELU-Linear(5,10)-BN-GELU-Linear(10,5)-BN-GELU-Linear(5,1)), for the
 * skills, inputs and outputs of the compat strategy. Their responses are made up, smooth
 * and plausible for a kiln; they are NOT fitted to plant data.
 *
 *   pnpm --filter @po/models exec tsx scripts/build-demo-models.ts <outDir>
 *
 * writes <outDir>/models/saved_models/demo_<output>_ann.onnx,
 *        <outDir>/models/saved_scalers/demo_<output>_scalers.json (po JSON scaler format),
 *        <outDir>/models/saved_metadata/demo_<output>_metadata.json.
 *
 * Deterministic: seeded PRNG (mulberry32), full-batch Adam in float64, fixed step count;
 * the same bytes on every run (a test compares with config/demo/models).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildMlpOnnx, erf, type MlpLayer } from '../src/index.ts';

interface DemoInput {
  name: string;
  /** Half-width of the sampled box of deltas, engine units. */
  halfwidth: number;
}

interface DemoModelSpec {
  skill: string;
  output: string;
  units: string;
  inputs: DemoInput[];
  scalerKind: 'minmax' | 'standard';
  seed: number;
  /** The response as a formula string, for the metadata (symbols below). */
  formula: string;
  symbols: Record<string, string>;
  response: (x: readonly number[]) => number;
}

const { tanh } = Math;

export const DEMO_MODELS: readonly DemoModelSpec[] = [
  {
    skill: 'im_predict_delta_Kiln_Drive_Current',
    output: 'delta_Kiln_Drive_Current',
    units: 'A',
    inputs: [
      { name: 'delta_combined_Feed_rate', halfwidth: 6 },
      { name: 'delta_Kiln_Coal_PV', halfwidth: 0.4 },
      { name: 'delta_Calciner_temperature_PV', halfwidth: 10 },
      { name: 'delta_Kiln_Inlet_NOX', halfwidth: 0.1 },
      { name: 'delta_Kiln_Drive_Speed_PV', halfwidth: 0.2 },
    ],
    scalerKind: 'minmax',
    seed: 1101,
    formula:
      '20*tanh(F/6) + 18*tanh(C/0.3) - 6*tanh(T/8) + 10*tanh(N/0.1) + 30*tanh(S/0.15) + 3*tanh(F/6)*tanh(S/0.15)',
    symbols: {
      F: 'delta_combined_Feed_rate',
      C: 'delta_Kiln_Coal_PV',
      T: 'delta_Calciner_temperature_PV',
      N: 'delta_Kiln_Inlet_NOX',
      S: 'delta_Kiln_Drive_Speed_PV',
    },
    response: ([F = 0, C = 0, T = 0, N = 0, S = 0]) =>
      20 * tanh(F / 6) +
      18 * tanh(C / 0.3) -
      6 * tanh(T / 8) +
      10 * tanh(N / 0.1) +
      30 * tanh(S / 0.15) +
      3 * tanh(F / 6) * tanh(S / 0.15),
  },
  {
    skill: 'im_predict_Calciner_outlet_CO',
    output: 'delta_Calciner_outlet_CO',
    units: 'percent',
    inputs: [
      { name: 'delta_combined_Feed_rate', halfwidth: 6 },
      { name: 'delta_Kiln_Coal_PV', halfwidth: 0.4 },
      { name: 'delta_Calciner_temperature_PV', halfwidth: 10 },
      { name: 'delta_PH_Fan_Speed_PV', halfwidth: 20 },
    ],
    scalerKind: 'standard',
    seed: 2202,
    formula:
      '0.05*tanh(F/4) + 0.16*tanh(C/0.2) - 0.05*tanh(T/6) - 0.09*tanh(P/12) - 0.03*tanh(C/0.2)*tanh(P/12)',
    symbols: {
      F: 'delta_combined_Feed_rate',
      C: 'delta_Kiln_Coal_PV',
      T: 'delta_Calciner_temperature_PV',
      P: 'delta_PH_Fan_Speed_PV',
    },
    response: ([F = 0, C = 0, T = 0, P = 0]) =>
      0.05 * tanh(F / 4) +
      0.16 * tanh(C / 0.2) -
      0.05 * tanh(T / 6) -
      0.09 * tanh(P / 12) -
      0.03 * tanh(C / 0.2) * tanh(P / 12),
  },
  {
    skill: 'im_predict_Clinker_temperature',
    output: 'delta_Clinker_temperature',
    units: '°C',
    inputs: [
      { name: 'delta_Kiln_Drive_Current', halfwidth: 60 },
      { name: 'delta_Under_grate_Average_Pressure', halfwidth: 4 },
      { name: 'delta_Cooler_Fan_2_Flow', halfwidth: 1500 },
      { name: 'delta_Cooler_Fan_3_4_5_6_Flow', halfwidth: 7000 },
      { name: 'delta_Cooler_Fan_7_8_9_Flow', halfwidth: 5000 },
      { name: 'delta_Cooler_Fan_A_Flow', halfwidth: 1500 },
    ],
    scalerKind: 'minmax',
    seed: 3303,
    formula:
      '6*tanh(D/40) + 5*tanh(G/3) - 7*tanh(Q2/1200) - 14*tanh(Q3/5000) - 6*tanh(Q7/4000) - 3*tanh(QA/1200)',
    symbols: {
      D: 'delta_Kiln_Drive_Current',
      G: 'delta_Under_grate_Average_Pressure',
      Q2: 'delta_Cooler_Fan_2_Flow',
      Q3: 'delta_Cooler_Fan_3_4_5_6_Flow',
      Q7: 'delta_Cooler_Fan_7_8_9_Flow',
      QA: 'delta_Cooler_Fan_A_Flow',
    },
    response: ([D = 0, G = 0, Q2 = 0, Q3 = 0, Q7 = 0, QA = 0]) =>
      6 * tanh(D / 40) +
      5 * tanh(G / 3) -
      7 * tanh(Q2 / 1200) -
      14 * tanh(Q3 / 5000) -
      6 * tanh(Q7 / 4000) -
      3 * tanh(QA / 1200),
  },
];

const ROWS = 400;
const STEPS = 1200;
const LEARNING_RATE = 0.01;
const BN_EPS = 1e-5;
/** Eval-mode BatchNorm with mean 0, var 1, weight 1, bias 0 multiplies by this. */
const BN_GAIN = 1 / Math.sqrt(1 + BN_EPS);
const WIDTHS = [5, 10, 5, 1];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

interface Dense {
  w: Float64Array; // [out * in]
  b: Float64Array;
  inWidth: number;
  outWidth: number;
}

/** Affine single-column scaler as po's JSON writes it. */
interface Affine {
  forward: (x: number) => number;
  inverse: (y: number) => number;
  json: Record<string, unknown>;
}

function minmax(lo: number, hi: number): Affine {
  const scale = 1 / (hi - lo);
  const min = -lo * scale;
  return {
    forward: (x) => x * scale + min,
    inverse: (y) => (y - min) / scale,
    json: { kind: 'minmax', data_min_: [lo], data_max_: [hi], min_: [min], scale_: [scale] },
  };
}

function standard(values: readonly number[]): Affine {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const scale = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  return {
    forward: (x) => (x - mean) / scale,
    inverse: (y) => y * scale + mean,
    json: { kind: 'standard', with_mean: true, with_std: true, mean_: [mean], scale_: [scale] },
  };
}

function round(value: number, digits = 6): number {
  return Number(value.toPrecision(digits));
}

interface TrainedModel {
  layers: Dense[];
  /** Pre-BN mean and variance of each hidden layer over the training rows. */
  stats: { mean: Float64Array; variance: Float64Array }[];
  rmse: number;
  r2: number;
}

function train(spec: DemoModelSpec, xs: Float64Array[], ys: Float64Array): TrainedModel {
  const rand = mulberry32(spec.seed);
  const n = spec.inputs.length;
  const layers: Dense[] = [];
  let inWidth = n;
  for (const outWidth of WIDTHS) {
    const bound = Math.sqrt(6 / (inWidth + outWidth));
    const w = Float64Array.from({ length: outWidth * inWidth }, () => (rand() * 2 - 1) * bound);
    const b = Float64Array.from({ length: outWidth }, () => (rand() * 2 - 1) * 0.1);
    layers.push({ w, b, inWidth, outWidth });
    inWidth = outWidth;
  }
  const grads = layers.map((l) => ({ w: new Float64Array(l.w.length), b: new Float64Array(l.b.length) }));
  const m1 = layers.map((l) => ({ w: new Float64Array(l.w.length), b: new Float64Array(l.b.length) }));
  const m2 = layers.map((l) => ({ w: new Float64Array(l.w.length), b: new Float64Array(l.b.length) }));
  // Activations per layer: input h[0], pre-activation u[l] (after the BN gain), output h[l+1].
  const h = [n, ...WIDTHS].map((w) => new Float64Array(w));
  const u = WIDTHS.map((w) => new Float64Array(w));
  const delta = WIDTHS.map((w) => new Float64Array(w));
  const forward = (x: Float64Array): number => {
    h[0]!.set(x);
    layers.forEach((layer, l) => {
      const hin = h[l]!;
      const hout = h[l + 1]!;
      for (let o = 0; o < layer.outWidth; o++) {
        let z = layer.b[o]!;
        for (let i = 0; i < layer.inWidth; i++) z += layer.w[o * layer.inWidth + i]! * hin[i]!;
        if (l < layers.length - 1) {
          const v = z * BN_GAIN;
          u[l]![o] = v;
          hout[o] = 0.5 * v * (1 + erf(v / Math.SQRT2));
        } else {
          hout[o] = z;
        }
      }
    });
    return h[layers.length]![0]!;
  };

  const beta1 = 0.9;
  const beta2 = 0.999;
  for (let step = 1; step <= STEPS; step++) {
    for (const g of grads) {
      g.w.fill(0);
      g.b.fill(0);
    }
    for (let r = 0; r < xs.length; r++) {
      const y = forward(xs[r]!);
      delta[layers.length - 1]![0] = (2 * (y - ys[r]!)) / xs.length;
      for (let l = layers.length - 1; l >= 0; l--) {
        const layer = layers[l]!;
        const d = delta[l]!;
        const hin = h[l]!;
        for (let o = 0; o < layer.outWidth; o++) {
          const g = d[o]!;
          const grad = grads[l]!;
          grad.b[o] = grad.b[o]! + g;
          for (let i = 0; i < layer.inWidth; i++) {
            const k = o * layer.inWidth + i;
            grad.w[k] = grad.w[k]! + g * hin[i]!;
          }
        }
        if (l > 0) {
          const below = delta[l - 1]!;
          for (let i = 0; i < layer.inWidth; i++) {
            let s = 0;
            for (let o = 0; o < layer.outWidth; o++) s += layer.w[o * layer.inWidth + i]! * d[o]!;
            const v = u[l - 1]![i]!;
            const slope = 0.5 * (1 + erf(v / Math.SQRT2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
            below[i] = s * slope * BN_GAIN;
          }
        }
      }
    }
    const lr = LEARNING_RATE * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / STEPS)));
    const c1 = 1 - beta1 ** step;
    const c2 = 1 - beta2 ** step;
    layers.forEach((layer, l) => {
      for (const key of ['w', 'b'] as const) {
        const p = layer[key];
        const g = grads[l]![key];
        const a = m1[l]![key];
        const q = m2[l]![key];
        for (let i = 0; i < p.length; i++) {
          a[i] = beta1 * a[i]! + (1 - beta1) * g[i]!;
          q[i] = beta2 * q[i]! + (1 - beta2) * g[i]! * g[i]!;
          p[i] = p[i]! - (lr * (a[i]! / c1)) / (Math.sqrt(q[i]! / c2) + 1e-8);
        }
      }
    });
  }

  // Fit quality and the pre-BN statistics (used to give BatchNorm realistic parameters).
  const stats = WIDTHS.slice(0, -1).map((w) => ({
    mean: new Float64Array(w),
    variance: new Float64Array(w),
  }));
  let sse = 0;
  let sst = 0;
  const meanY = ys.reduce((s, v) => s + v, 0) / ys.length;
  for (let r = 0; r < xs.length; r++) {
    const y = forward(xs[r]!);
    sse += (y - ys[r]!) ** 2;
    sst += (ys[r]! - meanY) ** 2;
    stats.forEach((s, l) => {
      for (let o = 0; o < s.mean.length; o++) s.mean[o] = s.mean[o]! + u[l]![o]! / BN_GAIN / xs.length;
    });
  }
  for (let r = 0; r < xs.length; r++) {
    forward(xs[r]!);
    stats.forEach((s, l) => {
      for (let o = 0; o < s.mean.length; o++) {
        s.variance[o] = s.variance[o]! + (u[l]![o]! / BN_GAIN - s.mean[o]!) ** 2 / xs.length;
      }
    });
  }
  return { layers, stats, rmse: Math.sqrt(sse / xs.length), r2: 1 - sse / sst };
}

/**
 * Turns the trained stack into ONNX layers. Training used BatchNorm with mean 0, var 1,
 * weight 1, bias 0; here each BatchNorm gets the real pre-BN statistics as running
 * mean/var and a weight and bias that make it compute the same function.
 */
function toLayers(model: TrainedModel): MlpLayer[] {
  const out: MlpLayer[] = [];
  model.layers.forEach((layer, l) => {
    out.push({ kind: 'linear', weight: Float32Array.from(layer.w), bias: Float32Array.from(layer.b) });
    const s = model.stats[l];
    if (s === undefined) return;
    const mean = Float32Array.from(s.mean);
    const variance = Float32Array.from(s.variance);
    out.push({
      kind: 'batchnorm',
      runningMean: mean,
      runningVar: variance,
      weight: Float32Array.from(variance, (v) => Math.sqrt(v + BN_EPS) * BN_GAIN),
      bias: Float32Array.from(mean, (m) => m * BN_GAIN),
      eps: BN_EPS,
    });
    out.push({ kind: 'activation', fn: 'gelu' });
  });
  return out;
}

function fileNames(output: string) {
  return {
    model: `saved_models/demo_${output}_ann.onnx`,
    scalers: `saved_scalers/demo_${output}_scalers.json`,
    metadata: `saved_metadata/demo_${output}_metadata.json`,
  };
}

/** The generated files of one model, by path relative to `<outDir>/models/`. */
export function buildDemoModel(spec: DemoModelSpec): Map<string, Uint8Array> {
  const rand = mulberry32(spec.seed * 7 + 1);
  const n = spec.inputs.length;
  const raw = Array.from({ length: ROWS }, () =>
    spec.inputs.map((input) => (rand() * 2 - 1) * input.halfwidth),
  );
  const targets = raw.map((x) => spec.response(x));

  const inputScalers = spec.inputs.map((input) =>
    spec.scalerKind === 'minmax'
      ? minmax(-input.halfwidth, input.halfwidth)
      : standard(raw.map((x) => x[spec.inputs.indexOf(input)]!)),
  );
  const lo = Math.min(...targets);
  const hi = Math.max(...targets);
  const outputScaler = spec.scalerKind === 'minmax' ? minmax(lo, hi) : standard(targets);

  const xs = raw.map((x) => Float64Array.from(x, (v, j) => inputScalers[j]!.forward(v)));
  const ys = Float64Array.from(targets, (t) => outputScaler.forward(t));
  const model = train(spec, xs, ys);
  const files = fileNames(spec.output);

  const layers = toLayers(model);
  const onnxBytes = buildMlpOnnx({
    inputSize: n,
    layers,
    name: `demo_${spec.output}_ann`,
    docString: `po demo model for ${spec.skill}: synthetic, not plant data. ${spec.output} = ${spec.formula}`,
    metadata: { inputs: spec.inputs.map((i) => i.name).join(','), output: spec.output },
  });

  const key = (name: string) => name.replaceAll('delta_', '');
  const scalers: Record<string, unknown> = {};
  spec.inputs.forEach((input, j) => {
    scalers[key(input.name)] = inputScalers[j]!.json;
  });
  scalers[key(spec.output)] = outputScaler.json;
  const scalerJson = {
    format: 'po-scalers/1',
    description: `Scalers of the po demo model for ${spec.skill} (synthetic).`,
    model: files.model,
    lookup: "scaler_id = variable_name.replaceAll('delta_', '')",
    scalers,
  };

  // Slope of the response at zero delta, per input, by central differences.
  const sensitivity: Record<string, number> = {};
  spec.inputs.forEach((input, j) => {
    const step = input.halfwidth * 1e-4;
    const plus = spec.inputs.map((_, i) => (i === j ? step : 0));
    const minus = spec.inputs.map((_, i) => (i === j ? -step : 0));
    sensitivity[input.name] = round((spec.response(plus) - spec.response(minus)) / (2 * step));
  });

  const metadata = {
    name: `demo_${spec.output}_ann`,
    description:
      'po demo model: a small network trained on a made-up smooth response (see synthetic_response), not on plant data.',
    engine_skill: spec.skill,
    files: { model: files.model, scalers: files.scalers },
    inputs: spec.inputs.map((i) => i.name),
    output: spec.output,
    output_units: spec.units,
    scaler_ids: Object.fromEntries([...spec.inputs.map((i) => i.name), spec.output].map((v) => [v, key(v)])),
    scaler_kind: spec.scalerKind,
    activation: 'gelu',
    architecture: {
      class: 'ANNModel',
      input_size: n,
      hidden_size: 5,
      output_size: 1,
      layers: [
        `Linear(${n},5)`,
        'BatchNorm1d(5)',
        'GELU(exact,erf)',
        'Linear(5,10)',
        'BatchNorm1d(10)',
        'GELU(exact,erf)',
        'Linear(10,5)',
        'BatchNorm1d(5)',
        'GELU(exact,erf)',
        'Linear(5,1)',
      ],
      batchnorm_eps: BN_EPS,
      dtype: 'float32',
    },
    onnx: {
      file: files.model,
      opset: 17,
      input_name: 'input',
      input_shape: ['batch', n],
      output_name: 'output',
      output_shape: ['batch', 1],
    },
    synthetic_response: {
      target_delta: spec.formula,
      symbols: spec.symbols,
      noise_sigma: 0,
      slope_at_zero: sensitivity,
    },
    training: {
      generator: 'packages/models/scripts/build-demo-models.ts',
      seed: spec.seed,
      rows: ROWS,
      input_box_halfwidth: Object.fromEntries(spec.inputs.map((i) => [i.name, i.halfwidth])),
      optimizer: 'full-batch Adam, float64',
      steps: STEPS,
      lr: LEARNING_RATE,
      lr_schedule: 'cosine to 5%',
      loss: 'MSE on scaled target',
      train_r2: round(model.r2),
      train_rmse_scaled: round(model.rmse),
    },
  };
  const text = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  return new Map([
    [files.model, onnxBytes],
    [files.scalers, text(scalerJson)],
    [files.metadata, text(metadata)],
  ]);
}

/** Writes every demo model under `<outDir>/models/`; returns the written paths. */
export async function buildDemoModels(outDir: string): Promise<string[]> {
  const written: string[] = [];
  for (const spec of DEMO_MODELS) {
    for (const [path, bytes] of buildDemoModel(spec)) {
      const target = join(resolve(outDir), 'models', path);
      await mkdir(join(target, '..'), { recursive: true });
      await writeFile(target, bytes);
      written.push(target);
    }
  }
  return written;
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(resolve(invokedPath)).href) {
  const outDir = process.argv[2];
  if (outDir === undefined) {
    process.stderr.write('usage: tsx scripts/build-demo-models.ts <outDir>\n');
    process.exit(2);
  }
  const started = performance.now();
  for (const path of await buildDemoModels(outDir)) process.stdout.write(`wrote ${path}\n`);
  process.stdout.write(`done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
