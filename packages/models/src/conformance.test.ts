// The model-provider contract of @po/core, checked by the conformance suite beside it (@po/core/testing, also shipped as @po/rto-engine/testing),
// against the real ONNX Runtime provider on the predecessor's compat models.
import { testModelProvider } from '@po/core/testing';
import { compatRequest, expected, FIXTURES, pthRequest } from '../test/compat.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';

const [current, co] = expected.models;
const create = () => createModelProvider({ readFile: localModelFiles(FIXTURES) });

testModelProvider({
  name: 'onnx (ONNX files, JSON scalers, fused)',
  create,
  request: compatRequest(current!),
  other: compatRequest(co!),
  missing: { ...compatRequest(current!), modelPath: 'saved_models/not_uploaded.onnx' },
  fuses: true,
});

testModelProvider({
  name: 'onnx (the predecessor .pth and .pkl), a missing scaler',
  create,
  request: pthRequest(current!),
  other: pthRequest(co!),
  missing: { ...pthRequest(current!), scalerPath: 'saved_scalers/not_uploaded.pkl' },
  missingRole: 'scaler',
  fuses: true,
});
