/** The predecessor's compat files (test/fixtures/compat) and the model requests its strategy makes. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelRequest, SurrogateModel } from '@po/core';

export const FIXTURES = fileURLToPath(new URL('./fixtures/compat/', import.meta.url));

export interface ExpectedRow {
  x: number[];
  scaled: number[];
  input_f32: number[];
  raw_output: number;
  output: number;
}

/** One model of expected/model-outputs.json. */
export interface ExpectedModel {
  skill: string;
  model_file: string;
  scaler_file: string;
  onnx_file: string;
  scaler_params_file: string;
  metadata_file: string | null;
  inputs: string[];
  output: string;
  rows: ExpectedRow[];
}

export const expected = JSON.parse(readFileSync(`${FIXTURES}expected/model-outputs.json`, 'utf8')) as {
  models: ExpectedModel[];
};

/** The request of the predecessor's strategy, with the ONNX export and JSON scaler parameters next to the .pth/.pkl. */
export function compatRequest(model: ExpectedModel): ModelRequest {
  return { ...pthRequest(model), modelPath: model.onnx_file, scalerPath: model.scaler_params_file };
}

/** The request of the predecessor's strategy, unchanged (.pth / .pkl). */
export function pthRequest(model: ExpectedModel): ModelRequest {
  return {
    skill: model.skill,
    modelPath: model.model_file,
    scalerPath: model.scaler_file,
    metadataPath: model.metadata_file ?? undefined,
    inputs: model.inputs,
    output: model.output,
  };
}

/** `count` rows (cycling through `rows`) stacked row-major, as `SurrogateModel.predict` takes them. */
export function stackRows(rows: readonly (readonly number[])[], count = rows.length): Float64Array {
  const n = rows[0]?.length ?? 0;
  const inputs = new Float64Array(count * n);
  for (let r = 0; r < count; r++) inputs.set(rows[r % rows.length]!, r * n);
  return inputs;
}

/** The predictions of `model` for `rows`, in one batch. */
export async function predictRows(
  model: SurrogateModel,
  rows: readonly (readonly number[])[],
): Promise<Float64Array> {
  const out = new Float64Array(rows.length);
  await model.predict(stackRows(rows), rows.length, out);
  return out;
}
