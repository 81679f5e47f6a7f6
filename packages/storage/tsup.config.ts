import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

// `s3` is its own entry so that the minio SDK loads only when `@po/storage/s3` is imported.
export default defineConfig({
  ...baseBuild,
  entry: { index: 'src/index.ts', s3: 'src/drivers/s3.ts', conformance: 'src/conformance.ts' },
  // Shared chunks, so that StoreError is one class whichever entry threw it.
  splitting: true,
});
