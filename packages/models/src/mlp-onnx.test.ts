import { mulberry32 } from '@po/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { MlpSpecError } from './errors.ts';
import { gelu } from './math.ts';
import { type ActivationFunction, buildMlpOnnx, type MlpLayer, type MlpSpec } from './mlp-onnx.ts';
import { createModelProvider } from './provider.ts';

/** Deterministic pseudo-random numbers in [-1, 1). */
function random(seed: number) {
  const uniform = mulberry32(seed);
  return () => uniform() * 2 - 1;
}

const f32 = Math.fround;

/** Plain float64 forward pass over the float32-rounded parameters. */
function forward(spec: MlpSpec, x: readonly number[]): number[] {
  let h = [...x];
  for (const layer of spec.layers) {
    if (layer.kind === 'linear') {
      const rows = layer.weight as readonly (readonly number[])[];
      h = rows.map((row, o) =>
        row.reduce((s, w, i) => s + f32(w) * h[i]!, f32((layer.bias as number[])[o]!)),
      );
    } else if (layer.kind === 'batchnorm') {
      const eps = layer.eps ?? 1e-5;
      h = h.map(
        (v, i) =>
          ((v - f32(layer.runningMean[i]!)) / Math.sqrt(f32(layer.runningVar[i]!) + eps)) *
            f32(layer.weight[i]!) +
          f32(layer.bias[i]!),
      );
    } else {
      const alpha = layer.alpha ?? 0.01;
      const fns: Record<ActivationFunction, (v: number) => number> = {
        gelu,
        relu: (v) => Math.max(0, v),
        tanh: Math.tanh,
        sigmoid: (v) => 1 / (1 + Math.exp(-v)),
        leaky_relu: (v) => (v >= 0 ? v : alpha * v),
        silu: (v) => v / (1 + Math.exp(-v)),
      };
      h = h.map(fns[layer.fn]);
    }
  }
  return h;
}

function linear(rand: () => number, out: number, inp: number, scale = 1): MlpLayer {
  return {
    kind: 'linear',
    weight: Array.from({ length: out }, () => Array.from({ length: inp }, () => rand() * scale)),
    bias: Array.from({ length: out }, () => rand() * 0.5),
  };
}

function batchnorm(rand: () => number, n: number): MlpLayer {
  return {
    kind: 'batchnorm',
    weight: Array.from({ length: n }, () => 1 + rand() * 0.5),
    bias: Array.from({ length: n }, () => rand() * 0.3),
    runningMean: Array.from({ length: n }, () => rand() * 0.4),
    runningVar: Array.from({ length: n }, () => 0.5 + Math.abs(rand())),
    eps: 1e-5,
  };
}

async function runOnnx(bytes: Uint8Array, rows: number[][], width: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    const data = Float32Array.from(rows.flat());
    const result = await session.run({ input: new ort.Tensor('float32', data, [rows.length, width]) });
    return result.output!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function sampleRows(rand: () => number, count: number, width: number): number[][] {
  return Array.from({ length: count }, () => Array.from({ length: width }, () => f32(rand() * 2)));
}

describe('buildMlpOnnx', () => {
  it('encodes the predecessor ANNModel stack and matches a float64 forward pass', async () => {
    const rand = random(42);
    const spec: MlpSpec = {
      inputSize: 6,
      layers: [
        linear(rand, 5, 6),
        batchnorm(rand, 5),
        { kind: 'activation', fn: 'gelu' },
        linear(rand, 10, 5),
        batchnorm(rand, 10),
        { kind: 'activation', fn: 'gelu' },
        linear(rand, 5, 10),
        batchnorm(rand, 5),
        { kind: 'activation', fn: 'gelu' },
        linear(rand, 1, 5),
      ],
      metadata: { purpose: 'test' },
    };
    const bytes = buildMlpOnnx(spec);
    expect(buildMlpOnnx(spec)).toEqual(bytes);
    const rows = sampleRows(rand, 33, 6);
    const got = await runOnnx(bytes, rows, 6);
    rows.forEach((row, r) => {
      const want = forward(spec, row)[0]!;
      expect(Math.abs(got[r]! - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
    });
  });

  it.each<ActivationFunction>(['gelu', 'relu', 'tanh', 'sigmoid', 'leaky_relu', 'silu'])(
    'exports %s',
    async (fn) => {
      const rand = random(fn.length * 97);
      const spec: MlpSpec = {
        inputSize: 3,
        layers: [linear(rand, 4, 3, 2), { kind: 'activation', fn, alpha: 0.2 }, linear(rand, 2, 4)],
      };
      const rows = sampleRows(rand, 17, 3);
      const got = await runOnnx(buildMlpOnnx(spec), rows, 3);
      expect(got).toHaveLength(34);
      rows.forEach((row, r) => {
        forward(spec, row).forEach((want, o) => {
          expect(Math.abs(got[r * 2 + o]! - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
        });
      });
    },
  );

  it('accepts a flat Float32Array weight and loads through the provider', async () => {
    const spec: MlpSpec = {
      inputSize: 2,
      layers: [{ kind: 'linear', weight: new Float32Array([2, -1]), bias: [0.5] }],
    };
    const bytes = buildMlpOnnx(spec);
    const provider = createModelProvider({ readFile: async () => bytes });
    const model = await provider.load({ skill: 's', modelPath: 'm.onnx', inputs: ['a', 'b'], output: 'y' });
    const out = new Float64Array(2);
    await model.predict(new Float64Array([1, 1, 3, 2]), 2, out);
    expect(Array.from(out)).toEqual([1.5, 4.5]);
    expect(model.warnings[0]).toContain("no scaler for output 'y'");
    const wide = await provider
      .load({ skill: 's', modelPath: 'm.onnx', inputs: ['a'], output: 'y' })
      .catch((e) => e);
    expect(wide.code).toBe('MODEL_SHAPE_MISMATCH');
    await provider.dispose();
  });

  it('refuses a layer stack it cannot encode', () => {
    const bad: [MlpSpec, string][] = [
      [{ inputSize: 0, layers: [] }, 'inputSize'],
      [{ inputSize: 2, layers: [] }, 'empty'],
      [{ inputSize: 2, layers: [{ kind: 'linear', weight: [[1, 2, 3]] }] }, 'row 0 has 3 values'],
      [{ inputSize: 2, layers: [{ kind: 'linear', weight: [[1, Number.NaN]] }] }, 'not a finite number'],
      [{ inputSize: 2, layers: [{ kind: 'linear', weight: [[1, 2]], bias: [1, 2] }] }, 'bias has 2 values'],
      [
        {
          inputSize: 2,
          layers: [
            { kind: 'batchnorm', weight: [1, 1], bias: [0, 0], runningMean: [0, 0], runningVar: [1, -1] },
          ],
        },
        'negative',
      ],
      [{ inputSize: 2, layers: [{ kind: 'activation', fn: 'softmax' as ActivationFunction }] }, "'softmax'"],
    ];
    for (const [spec, message] of bad) {
      expect(() => buildMlpOnnx(spec)).toThrow(MlpSpecError);
      expect(() => buildMlpOnnx(spec)).toThrow(message);
    }
  });
});
