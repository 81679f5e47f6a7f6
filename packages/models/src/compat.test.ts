import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compatRequest, expected, FIXTURES, predictRows, stackRows } from '../test/compat.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';
import { parseScalerFile, scalerKey } from './scalers.ts';

const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
afterAll(() => provider.dispose());

describe.each(expected.models.map((m) => [m.skill, m] as const))('compat model %s', (_skill, model) => {
  it('scales every input exactly like scikit-learn (float64)', () => {
    const set = parseScalerFile(
      readFileSync(`${FIXTURES}models/${model.scaler_params_file}`),
      model.scaler_params_file,
    );
    for (const row of model.rows) {
      model.inputs.forEach((name, j) => {
        const scaler = set.scalers.get(scalerKey(name));
        expect(scaler, name).toBeDefined();
        expect(scaler!.transform(row.x[j]!)).toBe(row.scaled[j]);
        expect(Math.fround(row.scaled[j]!)).toBe(row.input_f32[j]);
      });
    }
  });

  it("reproduces the predecessor's raw and inverse-scaled outputs for all 30 rows", async () => {
    const surrogate = await provider.load(compatRequest(model));
    expect(surrogate.warnings).toEqual([]);
    expect(surrogate.onnxInputName).toBe('input');
    expect(surrogate.onnxOutputName).toBe('output');
    const out = await predictRows(
      surrogate,
      model.rows.map((row) => row.x),
    );

    const set = parseScalerFile(readFileSync(`${FIXTURES}models/${model.scaler_params_file}`), 'x');
    const outputScaler = set.scalers.get(scalerKey(model.output))!;
    model.rows.forEach((row, r) => {
      // The network output is recovered exactly from the prediction (float64 round trip within 1 ulp-ish).
      const raw = outputScaler.transform(out[r]!);
      expect(Math.abs(raw - row.raw_output)).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(out[r]! - row.output)).toBeLessThanOrEqual(1e-5 * Math.abs(row.output));
    });
    await surrogate.dispose();
  });

  it('gives the exact float32 network output when run on input_f32 without scalers', async () => {
    const surrogate = await provider.load({ ...compatRequest(model), scalerPath: undefined });
    expect(surrogate.warnings).toHaveLength(1);
    expect(surrogate.warnings[0]).toContain(`no scaler for output '${model.output}'`);
    const out = await predictRows(
      surrogate,
      model.rows.map((row) => row.input_f32),
    );
    model.rows.forEach((row, r) => {
      expect(Math.abs(out[r]! - row.raw_output)).toBeLessThanOrEqual(1e-6);
    });
    await surrogate.dispose();
  });

  it('gives the same predictions for batches of 1, 11, 64 and 1024 as row by row', async () => {
    const surrogate = await provider.load(compatRequest(model));
    const n = model.inputs.length;
    const rows = 1024;
    const inputs = stackRows(
      model.rows.map((row) => row.x),
      rows,
    );
    // Perturb so that rows differ beyond the 30 fixtures.
    for (let i = 0; i < inputs.length; i++) inputs[i] = inputs[i]! * (1 + ((i * 7919) % 13) / 100);

    const single = new Float64Array(rows);
    const one = new Float64Array(1);
    for (let r = 0; r < rows; r++) {
      await surrogate.predict(inputs.subarray(r * n, (r + 1) * n), 1, one);
      single[r] = one[0]!;
    }
    for (const batch of [1, 11, 64, 1024]) {
      const out = new Float64Array(rows);
      for (let start = 0; start < rows; start += batch) {
        const count = Math.min(batch, rows - start);
        await surrogate.predict(inputs.subarray(start * n, (start + count) * n), count, out.subarray(start));
      }
      for (let r = 0; r < rows; r++) expect(out[r], `batch ${batch} row ${r}`).toBeCloseTo(single[r]!, 12);
    }
    await surrogate.dispose();
  });
});

describe('compat provenance', () => {
  it('lists each file with its role, path and SHA-256', async () => {
    const model = expected.models[0]!;
    const surrogate = await provider.load(compatRequest(model));
    expect(surrogate.files.map((f) => [f.role, f.path])).toEqual([
      ['model', model.onnx_file],
      ['scaler', model.scaler_params_file],
      ['metadata', model.metadata_file],
    ]);
    for (const file of surrogate.files) expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
    await surrogate.dispose();
  });
});
