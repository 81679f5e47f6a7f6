import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

// Workspace packages point at their TypeScript sources, so they are bundled in; packages that
// load files next to themselves (native binaries, worker scripts, transports) stay external.
// The worker is an entry of its own: the pool loads dist/worker.js.
export default defineConfig({
  ...baseBuild,
  entry: { index: 'src/index.ts', worker: 'src/pool/worker.ts' },
  dts: { entry: { index: 'src/index.ts' } },
  noExternal: [
    /^(?!(onnxruntime-node|piscina|pino|prom-client|hono|@hono\/node-server|zod|yaml|lru-cache)(\/|$))/,
  ],
  banner: {
    js: "import { createRequire as __poCreateRequire } from 'node:module'; const require = __poCreateRequire(import.meta.url);",
  },
});
