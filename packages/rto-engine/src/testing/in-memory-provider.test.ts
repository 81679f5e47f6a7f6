import { ModelLoadError } from '@po/core';
import { describe, expect, it } from 'vitest';
import { createInMemoryModelProvider, testModelProvider } from './index.ts';

const models = {
  'models/affine.onnx': { weights: [2, -1, 0.5], bias: 3 },
  'models/square.onnx': (row: Float64Array) => row[0]! * row[0]! - row[1]!,
};
const files = { 'scalers/affine.json': '{"scalers":{}}', 'meta/affine.json': '{"inputs":3}' };
const request = {
  skill: 'im_affine',
  modelPath: 'models/affine.onnx',
  scalerPath: 'scalers/affine.json',
  metadataPath: 'meta/affine.json',
  inputs: ['a', 'b', 'c'],
  output: 'y',
};
const other = { skill: 'im_square', modelPath: 'models/square.onnx', inputs: ['a', 'b'], output: 'z' };

const domain = {
  source: 'metadata' as const,
  variables: { a: { min: -1, max: 1, mean: 0 }, b: { min: 0, max: 2 } },
  unknown: { c: 'the metadata gives no range for it' },
};

testModelProvider({
  name: 'in-memory (fuses)',
  create: () => createInMemoryModelProvider({ models, files, domains: { 'models/affine.onnx': domain } }),
  domain,
  request,
  other,
  missing: { ...request, skill: 'im_missing', modelPath: 'models/none.onnx' },
  fuses: true,
  reference: (row) => 2 * row[0]! - row[1]! + 0.5 * row[2]! + 3,
});

testModelProvider({
  name: 'in-memory (no fuse), a missing scaler',
  create: () => createInMemoryModelProvider({ models, files, fuse: false }),
  request: other,
  missing: { ...other, scalerPath: 'scalers/none.json' },
  missingRole: 'scaler',
  fuses: false,
  domain: null,
  reference: (row) => row[0]! * row[0]! - row[1]!,
});

describe('createInMemoryModelProvider', () => {
  it('hashes the definition: the same model gives the same SHA-256, another model another', async () => {
    const provider = createInMemoryModelProvider({
      models: { 'a.onnx': { weights: [1, 2] }, 'b.onnx': { weights: [1, 2] }, 'c.onnx': { weights: [1, 3] } },
    });
    const load = (modelPath: string) =>
      provider.load({ skill: 's', modelPath, inputs: ['x', 'y'], output: 'o' });
    const [a, b, c] = await Promise.all(['a.onnx', 'b.onnx', 'c.onnx'].map(load));
    expect(a!.files[0]!.sha256).toBe(b!.files[0]!.sha256);
    expect(c!.files[0]!.sha256).not.toBe(a!.files[0]!.sha256);
  });

  it('refuses an affine model whose weights do not fit the inputs, and a data file as a model', async () => {
    const provider = createInMemoryModelProvider({
      models: { 'm.onnx': { weights: [1] } },
      files: { 'x.json': '{}' },
    });
    const wrong = await provider
      .load({ skill: 's', modelPath: 'm.onnx', inputs: ['a', 'b'], output: 'o' })
      .catch((e) => e);
    expect(wrong).toBeInstanceOf(ModelLoadError);
    expect(wrong.code).toBe('MODEL_SHAPE_MISMATCH');
    expect(wrong.message).toBe(
      "[po/rto-engine] Skill 's': model file 'm.onnx': the affine model has 1 weights for 2 inputs (a, b). Give one weight per input of the skill.",
    );
    const data = await provider
      .load({ skill: 's', modelPath: 'x.json', inputs: ['a'], output: 'o' })
      .catch((e) => e);
    expect(data.message).toMatch(/model file 'x.json': the file is not a model/);
  });

  it('counts loads, predictions and fused runs', async () => {
    const provider = createInMemoryModelProvider({ models, files });
    const a = await provider.load(request);
    const b = await provider.load(other);
    await a.predict(new Float64Array(3), 1, new Float64Array(1));
    const group = await provider.fuse!([a, b]);
    await group!.predict([new Float64Array(3), new Float64Array(2)], 1, [
      new Float64Array(1),
      new Float64Array(1),
    ]);
    expect(provider.stats).toEqual({ loads: 2, predicts: 1, groups: 1, fusedModels: 2, groupPredicts: 1 });
    expect(await provider.fuse!([a])).toBeUndefined();
  });
});
