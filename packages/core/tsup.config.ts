import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

// `testing` is its own entry: the ModelProvider conformance suite (needs vitest, the main entry nothing).
export default defineConfig({
  ...baseBuild,
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
});
