import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compatRequest, expected, FIXTURES, pthRequest } from '../test/compat.ts';
import { parseModelMetadata } from './metadata.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';
import { parseScalerFile } from './scalers.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));

describe('training domains', () => {
  it('a MinMax scaler gives data_min_/data_max_, or feature_range mapped back when they are missing', () => {
    const withData = parseScalerFile(
      { scalers: { x: { kind: 'minmax', min_: -0.5, scale_: 0.25, data_min_: 2, data_max_: 6 } } },
      'a.json',
    );
    expect(withData.scalers.get('x')!.range).toEqual({ min: 2, max: 6 });
    // x * 0.25 - 0.5 maps [2, 6] onto [0, 1]; with feature_range [-1, 1] onto [-2, 6].
    const derived = parseScalerFile(
      { scalers: { x: { kind: 'minmax', min_: -0.5, scale_: 0.25 } } },
      'b.json',
    );
    expect(derived.scalers.get('x')!.range).toEqual({ min: 2, max: 6 });
    const wide = parseScalerFile(
      { scalers: { x: { kind: 'minmax', min_: -0.5, scale_: 0.25, feature_range: [-1, 1] } } },
      'c.json',
    );
    expect(wide.scalers.get('x')!.range).toEqual({ min: -2, max: 6 });
  });

  it('a StandardScaler gives a soft mean ± 3 sd; a RobustScaler says it cannot bound the data', () => {
    const set = parseScalerFile(
      {
        scalers: {
          s: { kind: 'StandardScaler', mean_: [10], scale_: [2] },
          r: { kind: 'RobustScaler', center_: [1], scale_: [3] },
          m: { kind: 'maxabs', scale_: 4 },
        },
      },
      'd.json',
    );
    expect(set.scalers.get('s')!.range).toEqual({ min: 4, max: 16, mean: 10, soft: true });
    expect(set.scalers.get('r')!.range).toMatch(/RobustScaler .* not the data range/);
    expect(set.scalers.get('m')!.range).toEqual({ min: -4, max: 4, soft: true });
  });

  it('metadata training_domain and training_error are read, and bad ones are refused naming the field', () => {
    const m = parseModelMetadata(
      {
        training_domain: {
          variables: { a: { min: 0, max: 1, mean: 0.5 }, b: { min: -1, max: 1 } },
          covariance: {
            variables: ['a', 'b'],
            matrix: [
              [1, 0],
              [0, 1],
            ],
          },
        },
        training_error: { rmse: 2, mean_abs: 1.5 },
      },
      'm.json',
    );
    expect(m.trainingDomain!.variables.a).toEqual({ min: 0, max: 1, mean: 0.5 });
    expect(m.trainingError).toEqual({ rmse: 2, meanAbs: 1.5 });
    expect(() =>
      parseModelMetadata({ training_domain: { variables: { a: { min: 2, max: 1 } } } }, 'bad.json'),
    ).toThrow(/bad\.json.*training_domain\.variables\.a.*min is above max/);
    expect(() =>
      parseModelMetadata(
        {
          training_domain: {
            variables: { a: { min: 0, max: 1 } },
            covariance: { variables: ['a'], matrix: [[1, 2]] },
          },
        },
        'cov.json',
      ),
    ).toThrow(/training_domain\.covariance.*square/);
    expect(() => parseModelMetadata({ training_error: { rmse: -1 } }, 'e.json')).toThrow(
      /training_error\.rmse/,
    );
  });

  it('the demo models carry their training ranges in the metadata, operating point included', async () => {
    const provider = createModelProvider({ readFile: localModelFiles(`${DEMO}models`) });
    const meta = JSON.parse(
      await readFile(`${DEMO}models/saved_metadata/demo_delta_Kiln_Drive_Current_metadata.json`, 'utf8'),
    );
    const model = await provider.load({
      skill: 'im_predict_delta_Kiln_Drive_Current',
      modelPath: 'saved_models/demo_delta_Kiln_Drive_Current_ann.onnx',
      scalerPath: 'saved_scalers/demo_delta_Kiln_Drive_Current_scalers.json',
      metadataPath: 'saved_metadata/demo_delta_Kiln_Drive_Current_metadata.json',
      inputs: meta.inputs,
      output: meta.output,
    });
    expect(model.domain!.source).toBe('metadata');
    expect(model.domain!.unknown).toEqual({});
    expect(model.domain!.variables.combined_Feed_rate).toEqual(
      meta.training_domain.variables.combined_Feed_rate,
    );
    expect(model.domain!.variables.delta_combined_Feed_rate!.min).toBeLessThan(0);
    expect(model.trainingError).toEqual({
      rmse: meta.training_error.rmse,
      meanAbs: meta.training_error.mean_abs,
    });
    await provider.dispose();
  });

  it("the predecessor's models: MinMax ranges from the scalers; RobustScaler inputs unknown, with why", async () => {
    const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
    const [current, co] = expected.models;
    const minmax = await provider.load(pthRequest(current!));
    expect(minmax.domain!.source).toBe('scalers');
    expect(minmax.domain!.unknown).toEqual({});
    expect(minmax.domain!.variables.delta_combined_Feed_rate!.min).toBeCloseTo(-5.99437, 4);
    expect(minmax.domain!.variables.delta_combined_Feed_rate!.max).toBeCloseTo(5.99644, 4);
    const robust = await provider.load(compatRequest(co!));
    expect(Object.keys(robust.domain!.variables)).toEqual([]);
    for (const input of co!.inputs) expect(robust.domain!.unknown[input]).toMatch(/RobustScaler/);
    await provider.dispose();
  });
});
