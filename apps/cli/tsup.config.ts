import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

// The CLI ships as one bundle (workspace packages point at their TypeScript sources);
// onnxruntime-node stays external because it loads native binaries next to itself.
export default defineConfig({
  ...baseBuild,
  entry: ['src/bin.ts'],
  dts: false,
  noExternal: [/^(?!onnxruntime-node)/],
  banner: {
    js: "import { createRequire as __poCreateRequire } from 'node:module'; const require = __poCreateRequire(import.meta.url);",
  },
});
