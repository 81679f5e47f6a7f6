export {
  describeCause,
  MlpSpecError,
  ModelFileError,
  ModelLoadError,
  type ModelLoadErrorDetails,
  ModelPredictError,
  PoModelsError,
  type PoModelsErrorCode,
  ScalerFormatError,
} from './errors.ts';
export { erf, gelu } from './math.ts';
export { describeMetadataMismatch, type ModelMetadata, parseModelMetadata } from './metadata.ts';
export {
  type ActivationFunction,
  type ActivationLayer,
  type BatchNormLayer,
  buildMlpOnnx,
  type LinearLayer,
  MLP_ONNX_IR_VERSION,
  MLP_ONNX_OPSET,
  type MlpLayer,
  type MlpSpec,
  type ParameterVector,
} from './mlp-onnx.ts';
export { sessionOptions } from './onnx-session.ts';
export { localModelFiles, normalizeModelPath } from './paths.ts';
export {
  createModelProvider,
  type LoadedModel,
  type ModelProviderOptions,
  type OnnxModelProvider,
} from './provider.ts';
export {
  type AffineStep,
  applyStep,
  parseScalerFile,
  type Scaler,
  type ScalerKind,
  type ScalerSet,
  scalerKey,
} from './scalers.ts';
export type {
  ModelFile,
  ModelFileReader,
  ModelFileRole,
  ModelProvider,
  ModelRequest,
  ModelsLogger,
  SurrogateModel,
} from './types.ts';
