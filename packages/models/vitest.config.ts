import { defineConfig } from 'vitest/config';

// Fitting and simulating the demo kiln is CPU-bound; CI runs every package's tests at once on 2 cores.
export default defineConfig({ test: { testTimeout: 60_000 } });
