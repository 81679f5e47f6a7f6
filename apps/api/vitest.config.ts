import { defineConfig } from 'vitest/config';

// The tests start the real server on a loopback port with a real worker pool (ONNX Runtime in each worker).
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 60_000 } });
