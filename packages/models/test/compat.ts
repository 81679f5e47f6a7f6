/** The predecessor's compat files (test/fixtures/compat) and the model requests its strategy makes. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelRequest } from '@po/core';

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
