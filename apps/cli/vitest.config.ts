import { defineConfig } from 'vitest/config';

// Each test runs the real `po` binary (a fresh Node.js process loading ONNX Runtime).
export default defineConfig({ test: { testTimeout: 60_000 } });
