/**
 * `@po/rto-engine/testing`: what tests of the engine and of model providers need. An in-memory
 * `ModelProvider` (models as functions or affine maps, no ONNX Runtime) and the conformance suite
 * every `ModelProvider` must pass (vitest).
 */
export { type ModelProviderConformanceOptions, testModelProvider } from '@po/core/testing';
export {
  createInMemoryModelProvider,
  type InMemoryModel,
  type InMemoryModelProvider,
  type InMemoryModelProviderOptions,
  type InMemoryProviderStats,
} from './in-memory-provider.ts';
