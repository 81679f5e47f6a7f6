import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

// The CLI ships as bundles (workspace packages point at their TypeScript sources): `po`, the
// `po-api` and `po-runner` services, and the cycle worker the pool loads from next to them.
// Packages that load files next to themselves stay external: native binaries (onnxruntime-node),
// worker scripts (piscina), WASM (PGlite), and tar, which a child process loads by its path to
// unpack the embedded database's template.
export default defineConfig({
  ...baseBuild,
  entry: {
    bin: 'src/bin.ts',
    'po-api': 'src/po-api.ts',
    'po-runner': 'src/po-runner.ts',
    worker: '../api/src/pool/worker.ts',
  },
  dts: false,
  // Chunks: code reached only by a dynamic import (the fleet's pg-boss, the S3 driver, pg) is
  // neither parsed nor run by a process that does not use it (the embedded default).
  splitting: true,
  external: ['onnxruntime-node', 'piscina', '@electric-sql/pglite', 'pg-native', 'tar'],
  noExternal: [/^(?!(onnxruntime-node|piscina|@electric-sql\/pglite|pg-native|tar)(\/|$))/],
  banner: {
    js: "import { createRequire as __poCreateRequire } from 'node:module'; const require = __poCreateRequire(import.meta.url);",
  },
});
