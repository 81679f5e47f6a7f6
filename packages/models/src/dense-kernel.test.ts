/**
 * The value-and-Jacobian kernel on every public fixture (the predecessor's three networks, as
 * ONNX exports and as the original .pth/.pkl files), against real ONNX Runtime predictions
 * and against finite differences; and a graph the kernel does not run gets no kernel.
 */
import { fileURLToPath } from 'node:url';
import type { SurrogateModel } from '@po/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_MODELS } from '../scripts/build-demo-models.ts';
import { compatRequest, expected, FIXTURES, pthRequest, stackRows } from '../test/compat.ts';
import { denseKernel } from './dense-kernel.ts';
import { erf, fastErf } from './math.ts';
import { buildMlpOnnx } from './mlp-onnx.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/models/', import.meta.url));
const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
const loaded: SurrogateModel[] = [];
afterAll(async () => {
  await Promise.all(loaded.map((m) => m.dispose()));
});

/** The fixture rows, plus the same rows moved by a tenth of each input's spread (away from the data). */
function probeRows(rows: readonly (readonly number[])[]): number[][] {
  const width = rows[0]!.length;
  const spread = Array.from({ length: width }, (_, j) => {
    const values = rows.map((r) => r[j]!);
    return Math.max(...values) - Math.min(...values) || 1;
  });
  return [
    ...rows.map((r) => [...r]),
    ...rows.map((r, k) => r.map((v, j) => v + (k % 2 ? 0.1 : -0.1) * spread[j]!)),
  ];
}

/**
 * The model has a kernel; its values agree with ONNX Runtime, its Jacobian with central
 * differences of its own float64 values (tight) and of ONNX Runtime's float32 predictions with a
 * larger step (loose: float32 rounding over the step).
 */
async function checkJacobian(surrogate: SurrogateModel, inputNames: readonly string[], rows: number[][]) {
  expect(surrogate.valueAndJacobian, 'the kernel runs this network').toBeDefined();
  const width = inputNames.length;
  const count = rows.length;
  const inputs = stackRows(rows);
  const values = new Float64Array(count);
  const jacobian = new Float64Array(count * width);
  await surrogate.valueAndJacobian!(inputs, count, values, jacobian);
  const predicted = new Float64Array(count);
  await surrogate.predict(inputs, count, predicted);
  const scale = Math.max(...Array.from(predicted, Math.abs), 1);
  for (let r = 0; r < count; r++) expect(Math.abs(values[r]! - predicted[r]!)).toBeLessThan(1e-5 * scale);
  const spread = Array.from({ length: width }, (_, j) => {
    const column = rows.map((row) => row[j]!);
    return Math.max(...column) - Math.min(...column) || 1;
  });
  const shifted = new Float64Array(2 * width * width);
  const up = new Float64Array(2 * width);
  const scratch = new Float64Array(2 * width * width);
  for (const [h, tolerance, run] of [
    [
      1e-6,
      1e-5,
      (x: Float64Array, n: number, o: Float64Array) => surrogate.valueAndJacobian!(x, n, o, scratch),
    ],
    [1e-3, 2e-2, (x: Float64Array, n: number, o: Float64Array) => surrogate.predict(x, n, o)],
  ] as const) {
    for (let r = 0; r < count; r++) {
      for (let i = 0; i < width; i++) {
        for (const [k, sign] of [
          [2 * i, 1],
          [2 * i + 1, -1],
        ] as const) {
          shifted.set(rows[r]!, k * width);
          shifted[k * width + i]! += sign * h * spread[i]!;
        }
      }
      await run(shifted, 2 * width, up);
      for (let i = 0; i < width; i++) {
        const difference = (up[2 * i]! - up[2 * i + 1]!) / (2 * h * spread[i]!);
        const exact = jacobian[r * width + i]!;
        const floor = (1e-3 * scale) / spread[i]!;
        expect(
          Math.abs(exact - difference),
          `row ${r}, input ${inputNames[i]}: exact ${exact} vs difference ${difference} (step ${h})`,
        ).toBeLessThanOrEqual(tolerance * Math.max(Math.abs(difference), floor));
      }
    }
  }
}

describe.each(
  expected.models.flatMap((m) => [
    ['onnx', m, compatRequest(m)] as const,
    ['pth', m, pthRequest(m)] as const,
  ]),
)('%s %s', (_format, model, request) => {
  it('has a kernel that agrees with ONNX Runtime and with central differences', async () => {
    const surrogate = await provider.load(request);
    loaded.push(surrogate);
    await checkJacobian(surrogate, request.inputs, probeRows(model.rows.map((r) => r.x)));
  });
});

describe('the demo kiln models (config/demo/models)', () => {
  const demo = createModelProvider({ readFile: localModelFiles(DEMO) });
  it.each(DEMO_MODELS.map((spec) => [spec.output, spec] as const))('%s', async (_name, spec) => {
    const surrogate = await demo.load({
      skill: spec.skill,
      modelPath: `saved_models/demo_${spec.output}_ann.onnx`,
      scalerPath: `saved_scalers/demo_${spec.output}_scalers.json`,
      inputs: spec.inputs.map((i) => i.name),
      output: spec.output,
    });
    loaded.push(surrogate);
    const n = spec.inputs.length;
    const rows = [
      Array(n).fill(0),
      ...spec.inputs.flatMap((input, j) =>
        [1, -1].map((sign) => {
          const row = Array(n).fill(0);
          row[j] = sign * input.probe;
          return row;
        }),
      ),
    ];
    await checkJacobian(
      surrogate,
      spec.inputs.map((i) => i.name),
      rows,
    );
  });
});

describe('denseKernel', () => {
  it('runs every activation po exports, with derivatives matching central differences', () => {
    for (const fn of ['gelu', 'relu', 'tanh', 'sigmoid', 'leaky_relu', 'silu'] as const) {
      const bytes = buildMlpOnnx({
        inputSize: 2,
        layers: [
          {
            kind: 'linear',
            weight: [
              [0.5, -1.2],
              [0.3, 0.8],
              [-0.7, 0.1],
            ],
            bias: [0.1, -0.2, 0.05],
          },
          {
            kind: 'batchnorm',
            weight: [1, 0.5, 2],
            bias: [0, 0.1, -0.1],
            runningMean: [0.1, 0, -0.2],
            runningVar: [1, 2, 0.5],
          },
          { kind: 'activation', fn },
          { kind: 'linear', weight: [[1, -0.5, 0.25]], bias: [0.3] },
        ],
      });
      const kernel = denseKernel(bytes, 2)!;
      expect(kernel, fn).toBeDefined();
      const one = Float64Array.of(1, 1);
      const g = new Float64Array(2);
      const scratch = new Float64Array(2);
      const x = Float64Array.of(0.37, -0.61);
      kernel.run(x, 0, one, g, 0);
      for (let i = 0; i < 2; i++) {
        const h = 1e-6;
        const plus = Float64Array.from(x);
        const minus = Float64Array.from(x);
        plus[i]! += h;
        minus[i]! -= h;
        const difference =
          (kernel.run(plus, 0, one, scratch, 0) - kernel.run(minus, 0, one, scratch, 0)) / (2 * h);
        expect(Math.abs(g[i]! - difference), `${fn} d/dx${i}`).toBeLessThan(1e-7);
      }
    }
  });

  it('folds BatchNorm and scalings into the Gemms and fuses exact GELU into one step per layer', () => {
    const bytes = buildMlpOnnx({
      inputSize: 2,
      layers: [
        {
          kind: 'linear',
          weight: [
            [0.5, -1.2],
            [0.3, 0.8],
          ],
          bias: [0.1, -0.2],
        },
        { kind: 'batchnorm', weight: [1, 0.5], bias: [0, 0.1], runningMean: [0.1, 0], runningVar: [1, 2] },
        { kind: 'activation', fn: 'gelu' },
        { kind: 'linear', weight: [[1, -0.5]], bias: [0.3] },
      ],
    });
    // Gemm (with BatchNorm), the GELU gate, Gemm (with GELU's trailing 0.5).
    expect(denseKernel(bytes, 2)!.stepCount).toBe(3);
  });

  it('evaluates erf by its Chebyshev pieces as the series does', () => {
    let largest = 0;
    for (let i = -70_000; i <= 70_000; i++) {
      const x = i * 1e-4 + 3e-7;
      largest = Math.max(largest, Math.abs(fastErf(x) - erf(x)));
    }
    expect(largest).toBeLessThan(2e-13);
    expect(fastErf(Number.NaN)).toBeNaN();
    expect(Math.abs(fastErf(0))).toBeLessThan(1e-16);
    expect([fastErf(7), fastErf(-7), fastErf(Number.POSITIVE_INFINITY)]).toEqual([1, -1, 1]);
  });

  it('gives no kernel for a graph with an op it does not run, or bytes that are not ONNX', () => {
    const bytes = buildMlpOnnx({ inputSize: 1, layers: [{ kind: 'linear', weight: [[2]], bias: [1] }] });
    expect(denseKernel(bytes, 1)).toBeDefined();
    const patched = Buffer.from(bytes).toString('latin1').replace('Gemm', 'Gelu');
    expect(denseKernel(Uint8Array.from(Buffer.from(patched, 'latin1')), 1)).toBeUndefined();
    expect(denseKernel(Uint8Array.of(1, 2, 3, 255), 1)).toBeUndefined();
  });
});
