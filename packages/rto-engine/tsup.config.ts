import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

// `testing` is its own entry (the in-memory model provider and the ModelProvider conformance suite).
export default defineConfig({
  ...baseBuild,
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
});
