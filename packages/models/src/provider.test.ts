import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ModelLoadError, type ModelRequest, PoError } from '@po/core';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelPredictError, ModelsError } from './errors.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const DRIVE_ONNX = 'saved_models/MA_MinMax_lag0_Kiln_Drive_Current_ann_model_fold_5.onnx';
const DRIVE_SCALERS = 'saved_scalers/Kiln_Drive_Current_minmax_scalers.params.json';
const DRIVE_METADATA = 'saved_metadata/Kiln_Drive_Current_metadata.json';
const CO_METADATA = 'saved_metadata/Calciner_outlet_CO_metadata.json';
const SKILL = 'im_predict_delta_Kiln_Drive_Current';

const driveRequest: ModelRequest = {
  skill: SKILL,
  modelPath: DRIVE_ONNX,
  scalerPath: DRIVE_SCALERS,
  metadataPath: DRIVE_METADATA,
  modelType: 'ANN',
  inputs: [
    'delta_combined_Feed_rate',
    'delta_Kiln_Coal_PV',
    'delta_Calciner_temperature_PV',
    'delta_Kiln_Inlet_NOX',
    'delta_Kiln_Drive_Speed_PV',
  ],
  output: 'delta_Kiln_Drive_Current',
};

const local = createModelProvider({ readFile: localModelFiles(FIXTURES) });
afterAll(() => local.dispose());

/** A provider over in-memory files: the fixture files, with overrides. */
function memoryProvider(overrides: Record<string, Uint8Array | string>) {
  return createModelProvider({
    readFile: async (path) => {
      const value = overrides[path];
      if (value !== undefined) return typeof value === 'string' ? new TextEncoder().encode(value) : value;
      return readFileSync(`${FIXTURES}models/${path}`);
    },
  });
}

async function loadError(promise: Promise<unknown>): Promise<ModelLoadError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelLoadError);
  const loadError = error as ModelLoadError;
  // @po/core's ModelLoadError: a PoError of scope 'models' (no longer a subclass of this package's base).
  expect(loadError).toBeInstanceOf(PoError);
  expect(loadError.scope).toBe('models');
  expect(loadError.message.startsWith('[po/models] ')).toBe(true);
  expect(loadError.message).toContain(`Skill '${loadError.skill}'`);
  return loadError;
}

describe('createModelProvider: files', () => {
  it('loads a model with scalers and metadata and keeps the metadata', async () => {
    const model = await local.load(driveRequest);
    expect(model.metadata?.inputs).toEqual(driveRequest.inputs);
    expect(model.activation).toBeUndefined();
    expect(model.warnings).toEqual([]);
    await model.dispose();
    await model.dispose(); // idempotent
  });

  it('names the skill, role and path of a missing model file', async () => {
    const error = await loadError(local.load({ ...driveRequest, modelPath: 'saved_models/missing.onnx' }));
    expect(error.code).toBe('FILE_NOT_FOUND');
    expect([error.skill, error.role, error.path]).toEqual([SKILL, 'model', 'saved_models/missing.onnx']);
    expect(error.message).toContain("model file 'saved_models/missing.onnx'");
    expect(error.message).toContain('correct the path in the strategy');
  });

  it('names the role of a missing scaler and metadata file', async () => {
    const scaler = await loadError(local.load({ ...driveRequest, scalerPath: 'saved_scalers/none.json' }));
    expect([scaler.code, scaler.role, scaler.path]).toEqual([
      'FILE_NOT_FOUND',
      'scaler',
      'saved_scalers/none.json',
    ]);
    const metadata = await loadError(
      local.load({ ...driveRequest, metadataPath: 'saved_metadata/none.json' }),
    );
    expect([metadata.code, metadata.role]).toEqual(['FILE_NOT_FOUND', 'metadata']);
  });

  it('drops leading ../ like the predecessor, then refuses to leave the folder', async () => {
    const model = await local.load({ ...driveRequest, modelPath: `../${DRIVE_ONNX}` });
    expect(model.files[0]!.path).toBe(`../${DRIVE_ONNX}`);
    await model.dispose();

    const error = await loadError(local.load({ ...driveRequest, modelPath: '../../etc/passwd' }));
    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain(`${FIXTURES}models/etc/passwd`);
    expect(error.message).not.toContain(' /etc/passwd');
  });

  it('refuses absolute paths, inner .., backslashes and NUL', async () => {
    for (const modelPath of [
      '/etc/passwd',
      'saved_models/../../x.onnx',
      'saved_models\\x.onnx',
      'x\0.onnx',
    ]) {
      const error = await loadError(local.load({ ...driveRequest, modelPath }));
      expect(error.code, modelPath).toBe('UNSAFE_PATH');
      expect(error.message).toContain('relative to the models folder');
    }
  });

  it('reads .pth and .pkl through the restricted importer (src/import/provider-import.test.ts covers them)', async () => {
    const model = await local.load({
      ...driveRequest,
      modelPath: 'saved_models/MA_MinMax_lag0_Kiln_Drive_Current_ann_model_fold_5.pth',
      scalerPath: 'saved_scalers/Kiln_Drive_Current_minmax_scalers.pkl',
    });
    expect(model.files.map((f) => f.role)).toEqual(['model', 'scaler', 'metadata']);
    await model.dispose();
  });

  it('wraps a custom reader failure', async () => {
    const provider = createModelProvider({
      readFile: async () => {
        throw new Error('bucket unreachable');
      },
    });
    const error = await loadError(provider.load(driveRequest));
    expect(error.code).toBe('FILE_UNREADABLE');
    expect(error.message).toContain('bucket unreachable');
  });
});

describe('createModelProvider: contents', () => {
  it('reports an unreadable ONNX file', async () => {
    const provider = memoryProvider({ [DRIVE_ONNX]: 'this is not a protobuf' });
    const error = await loadError(provider.load(driveRequest));
    expect([error.code, error.role, error.path]).toEqual(['INVALID_ONNX', 'model', DRIVE_ONNX]);
    expect(error.message).toContain('Export the network to ONNX again');
  });

  it('reports a network whose input width differs from the skill', async () => {
    const error = await loadError(
      local.load({ ...driveRequest, metadataPath: undefined, inputs: driveRequest.inputs.slice(0, 4) }),
    );
    expect(error.code).toBe('MODEL_SHAPE_MISMATCH');
    expect(error.message).toContain('the network takes 5 input(s) but the skill lists 4');
  });

  it('names the scaler key of a bad scaler entry', async () => {
    const params = JSON.parse(readFileSync(`${FIXTURES}models/${DRIVE_SCALERS}`, 'utf8'));
    params.scalers.Kiln_Coal_PV.scale_ = ['abc'];
    const error = await loadError(
      memoryProvider({ [DRIVE_SCALERS]: JSON.stringify(params) }).load(driveRequest),
    );
    expect([error.code, error.role, error.path]).toEqual(['INVALID_SCALER', 'scaler', DRIVE_SCALERS]);
    expect(error.message).toContain("scaler 'Kiln_Coal_PV'");
    expect(error.message).toContain('scalers.Kiln_Coal_PV.scale_');
  });

  it('reports a scaler file that is not JSON', async () => {
    const error = await loadError(memoryProvider({ [DRIVE_SCALERS]: '{"scalers": ' }).load(driveRequest));
    expect(error.code).toBe('INVALID_SCALER');
    expect(error.message).toContain('not valid UTF-8 JSON');
  });

  it('reports metadata that disagrees with the skill, naming both', async () => {
    const error = await loadError(local.load({ ...driveRequest, metadataPath: CO_METADATA }));
    expect([error.code, error.role, error.path]).toEqual(['METADATA_MISMATCH', 'metadata', CO_METADATA]);
    expect(error.message).toContain('delta_PH_Fan_Speed_PV');
    expect(error.message).toContain('delta_Kiln_Drive_Speed_PV');
    expect(error.message).toContain(
      "output 'delta_Calciner_outlet_CO' but the skill has 'delta_Kiln_Drive_Current'",
    );
  });

  it('reports metadata that is not a JSON object', async () => {
    const error = await loadError(memoryProvider({ [DRIVE_METADATA]: '[1, 2]' }).load(driveRequest));
    expect([error.code, error.role]).toEqual(['INVALID_METADATA', 'metadata']);
  });

  it('keeps the activation a metadata file names', async () => {
    const metadata = JSON.stringify({ inputs: driveRequest.inputs, activation: 'gelu' });
    const model = await memoryProvider({ [DRIVE_METADATA]: metadata }).load(driveRequest);
    expect(model.activation).toBe('gelu');
    expect(model.metadata?.raw).toEqual({ inputs: driveRequest.inputs, activation: 'gelu' });
    await model.dispose();
  });

  it('rejects an invalid request before reading anything', async () => {
    const error = await local.load({ ...driveRequest, inputs: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelsError);
    expect((error as ModelsError).code).toBe('INVALID_REQUEST');
  });
});

describe('SurrogateModel.predict', () => {
  it('rejects batches that do not fit and calls after dispose', async () => {
    const model = await local.load(driveRequest);
    const bad = [
      () => model.predict(new Float64Array(5), 2, new Float64Array(2)),
      () => model.predict(new Float64Array(10), 2, new Float64Array(1)),
      () => model.predict(new Float64Array(10), -1, new Float64Array(2)),
      () => model.predict(new Float64Array(10), 1.5, new Float64Array(2)),
    ];
    for (const call of bad) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelPredictError);
      expect((error as ModelPredictError).code).toBe('INVALID_BATCH');
    }
    await model.predict(new Float64Array(0), 0, new Float64Array(0));
    await model.dispose();
    const error = await model.predict(new Float64Array(5), 1, new Float64Array(1)).catch((e: unknown) => e);
    expect((error as ModelPredictError).code).toBe('DISPOSED');
  });

  it('serializes concurrent calls on one model and shares the session between skills', async () => {
    const a = await local.load(driveRequest);
    const b = await local.load({ ...driveRequest, skill: 'copy' });
    const x = new Float64Array([1, 0.1, 2, 0.01, 0.05, -1, -0.1, -2, -0.01, -0.05]);
    const ref = new Float64Array(2);
    await a.predict(x, 2, ref);
    const outs = Array.from({ length: 8 }, () => new Float64Array(2));
    await Promise.all(outs.map((out, i) => (i % 2 === 0 ? a : b).predict(x, 2, out)));
    for (const out of outs) expect(Array.from(out)).toEqual(Array.from(ref));
    await a.dispose();
    const after = new Float64Array(2);
    await b.predict(x, 2, after);
    expect(Array.from(after)).toEqual(Array.from(ref));
    await b.dispose();
  });
});
