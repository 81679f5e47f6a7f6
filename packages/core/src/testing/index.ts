/**
 * `@po/core/testing`: the conformance suite every `ModelProvider` must pass (vitest), kept beside
 * the contract it checks. `@po/rto-engine/testing` re-exports it with its in-memory provider.
 */
export { type ModelProviderConformanceOptions, testModelProvider } from './conformance.ts';
