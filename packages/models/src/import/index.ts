export { detectForeignPickle } from './detect.ts';
export { type ImportProblem, ModelImportError } from './errors.ts';
export {
  describeModelFile,
  modelFileFormat,
  type NetworkDescription,
  type ScalerDescription,
} from './inspect.ts';
export {
  type Activation,
  type ActivationSource,
  type ImportedLayer,
  type ImportedNetwork,
  importPthModel,
  networkFromStateDict,
  type PthImportOptions,
  parseActivation,
} from './network.ts';
export { NUMPY_GLOBALS, NumpyArray, NumpyDType } from './numpy.ts';
export { readPickle } from './pickle.ts';
export type { PickleLimits, ReadPickleOptions } from './pickle-machine.ts';
export {
  isTuple,
  type PickleBuildable,
  type PickleGlobal,
  PickleGlobalRef,
  type PickleGlobals,
  type PickleTuple,
  SET_STATE,
} from './pickle-values.ts';
export {
  PTH_PICKLE_GLOBALS,
  type PthLimits,
  readStateDict,
  type StateDict,
  type StateDictTensor,
  type TensorDType,
} from './pth.ts';
export {
  importScalerPickle,
  type PoScalerEntry,
  type PoScalerFile,
  SCALER_PICKLE_GLOBALS,
  SklearnObject,
  type SklearnScalerClass,
} from './scalers-pickle.ts';
