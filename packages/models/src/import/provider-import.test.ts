/**
 * The predecessor's own files (.pth state_dicts, .pkl scalers) through `createModelProvider`
 * reproduce the predecessor's numbers in expected/model-outputs.json.
 */
import { readFileSync } from 'node:fs';
import { ModelLoadError } from '@po/core';
import { afterAll, describe, expect, it } from 'vitest';
import { expected, FIXTURES, predictRows, pthRequest } from '../../test/compat.ts';
import { dict, pickle, global as pyGlobal, reduce, sklearnScaler, tuple } from '../../test/pickle-writer.ts';
import { localModelFiles } from '../paths.ts';
import { createModelProvider } from '../provider.ts';

const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
afterAll(() => provider.dispose());

describe.each(expected.models.map((m) => [m.skill, m] as const))('%s from .pth + .pkl', (_skill, model) => {
  it('uses the files the strategy names', () => {
    expect(model.model_file).toMatch(/\.pth$/);
    expect(model.scaler_file).toMatch(/\.pkl$/);
  });

  it('reproduces raw_output (1e-6) and output (1e-5 relative) on all 30 rows', async () => {
    const surrogate = await provider.load(pthRequest(model));
    expect(surrogate.warnings).toEqual([]);
    const out = await predictRows(
      surrogate,
      model.rows.map((row) => row.x),
    );

    // The raw network output: the same .pth without scalers, fed the predecessor's float32 inputs.
    const raw = await provider.load({ ...pthRequest(model), scalerPath: undefined });
    const rawOut = await predictRows(
      raw,
      model.rows.map((row) => row.input_f32),
    );

    model.rows.forEach((row, r) => {
      expect(Math.abs(rawOut[r]! - row.raw_output), `row ${r} raw`).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(out[r]! - row.output), `row ${r} output`).toBeLessThanOrEqual(
        1e-5 * Math.abs(row.output),
      );
    });
    await Promise.all([surrogate.dispose(), raw.dispose()]);
  });
});

describe('createModelProvider: import errors name the skill, the role and the file', () => {
  const [drive] = expected.models;
  const request = pthRequest(drive!);

  function memory(overrides: Record<string, Uint8Array>) {
    return createModelProvider({
      readFile: async (path) => overrides[path] ?? readFileSync(`${FIXTURES}models/${path}`),
    });
  }

  async function loadError(promise: Promise<unknown>): Promise<ModelLoadError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelLoadError);
    const e = error as ModelLoadError;
    expect(e.message).toContain(`Skill '${request.skill}'`);
    return e;
  }

  it('a malicious scaler pickle', async () => {
    const evil = pickle(dict([['x', reduce(pyGlobal('os', 'system'), tuple('true'))]]), 2);
    const e = await loadError(memory({ [request.scalerPath!]: evil }).load(request));
    expect([e.role, e.path, e.code]).toEqual(['scaler', request.scalerPath, 'UNSUPPORTED_FORMAT']);
    expect(e.message).toContain(`scaler file '${request.scalerPath}'`);
    expect(e.message).toContain("'os.system'");
  });

  it('an unsupported scaler class', async () => {
    const data = pickle(dict([['x', sklearnScaler('PowerTransformer', [])]]));
    const e = await loadError(memory({ [request.scalerPath!]: data }).load(request));
    expect(e.message).toContain('sklearn.preprocessing._data.PowerTransformer');
  });

  it('a truncated .pth', async () => {
    const bytes = readFileSync(`${FIXTURES}models/${request.modelPath}`);
    const e = await loadError(memory({ [request.modelPath]: bytes.subarray(0, 2000) }).load(request));
    expect([e.role, e.path, e.code]).toEqual(['model', request.modelPath, 'FILE_UNREADABLE']);
    expect(e.message).toContain(`model file '${request.modelPath}'`);
    expect(e.message).toContain('truncated');
  });

  it('a .pth whose network does not take the skill’s inputs', async () => {
    const e = await loadError(
      provider.load({ ...request, metadataPath: undefined, inputs: [...request.inputs, 'delta_extra'] }),
    );
    expect(e.code).toBe('MODEL_SHAPE_MISMATCH');
    expect(e.message).toContain('the network takes 5 input(s) but the skill lists 6');
  });

  it('an unsupported activation in the skill', async () => {
    const e = await loadError(provider.load({ ...request, activation: 'softplus' }));
    expect(e.message).toContain("activation 'softplus' is not supported");
  });

  it('the activation changes the network (a separate session), the same one reuses it', async () => {
    const relu = await provider.load({ ...request, activation: 'relu' });
    const gelu = await provider.load(request);
    const x = new Float64Array(drive!.rows[20]!.x);
    const a = new Float64Array(1);
    const b = new Float64Array(1);
    await relu.predict(x, 1, a);
    await gelu.predict(x, 1, b);
    expect(a[0]).not.toBe(b[0]);
    expect(Math.abs(b[0]! - drive!.rows[20]!.output)).toBeLessThanOrEqual(
      1e-5 * Math.abs(drive!.rows[20]!.output),
    );
    await Promise.all([relu.dispose(), gelu.dispose()]);
  });
});
