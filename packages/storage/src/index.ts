export { type WriteAtomicOptions, type WrittenFile, writeFileAtomic } from './atomic-file.ts';
export {
  createLocalStore,
  DRIVER_NAME as LOCAL_DRIVER_NAME,
  type LocalStoreOptions,
} from './drivers/local.ts';
export {
  isStoreError,
  StoreError,
  type StoreErrorCode,
  StrategyRejectedError,
} from './errors.ts';
export {
  MAX_KEY_BYTES,
  MAX_SEGMENT_BYTES,
  MODELS_PREFIX,
  modelKey,
  RESERVED_SEGMENT_PREFIX,
  validateKey,
  validatePrefix,
} from './keys.ts';
export {
  DEPLOY_POINTER_KEY,
  type DeployOptions,
  deployVersion,
  formatDeployPointer,
  formatNaiveTimestamp,
  LAST_RUN_KEY,
  parseDeployPointer,
  parseLastRunTimestamp,
  readDeployPointer,
  readLastRunTimestamp,
  readStoreDeployPointer,
  writeDeployPointer,
  writeLastRunTimestamp,
  writeStoreDeployPointer,
} from './pointer.ts';
export { compareKeys, defineObjectStore } from './store.ts';
export type { NotModified, ObjectInfo, ObjectStore, PutOptions, StoredObject } from './types.ts';
export {
  MODEL_FOLDERS,
  type UploadedModelFile,
  type UploadModelsOptions,
  type UploadModelsResult,
  type UploadProgress,
  uploadModels,
} from './upload.ts';
export {
  CONFIGS_PREFIX,
  checkVersion,
  listVersions,
  readStrategy,
  type StrategyDocument,
  type StrategyValidator,
  type StrategyVersion,
  strategyKey,
  type UploadStrategyOptions,
  type UploadStrategyResult,
  uploadStrategy,
} from './versions.ts';
