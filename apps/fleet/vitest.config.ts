import { defineConfig } from 'vitest/config';

// PGlite takes seconds to start on a small machine; PostgreSQL tests run against a real server.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 60_000 } });
