// The public surface of @po/models: the model provider the engine uses, model import and
// inspection (for the CLI), the MLP -> ONNX builder, scaler files, and the demo kiln.
export {
  createDemoKiln,
  DEMO_KILN_OUTPUTS,
  DEMO_KILN_SETPOINTS,
  type DemoKiln,
  type DemoKilnDrift,
  DemoKilnError,
  type DemoKilnHistoryOptions,
  type DemoKilnOptions,
  type DemoKilnRow,
  type DemoKilnSetpoints,
  type DemoKilnState,
} from './demo-kiln/index.ts';
export {
  MlpSpecError,
  ModelFileError,
  ModelPredictError,
  ModelsError,
  type ModelsErrorCode,
  ScalerFormatError,
} from './errors.ts';
export {
  type Activation,
  describeModelFile,
  type ImportedLayer,
  importPthModel,
  importScalerPickle,
  ModelImportError,
  modelFileFormat,
  type NetworkDescription,
  type PthImportOptions,
  type ScalerDescription,
} from './import/index.ts';
export { type MetadataDomain, type ModelMetadata, parseModelMetadata } from './metadata.ts';
export {
  type ActivationFunction,
  buildMlpOnnx,
  type MlpLayer,
  type MlpSpec,
} from './mlp-onnx.ts';
export { guardOnnxRuntimeCalls, type OnnxRuntimeCallGuard } from './onnx-session.ts';
export { localModelFiles } from './paths.ts';
export {
  createModelProvider,
  type ModelProviderOptions,
  type OnnxModelProvider,
} from './provider.ts';
export { parseScalerFile, type Scaler, type ScalerKind, type ScalerSet } from './scalers.ts';
export type { LoadedModel } from './surrogate.ts';
