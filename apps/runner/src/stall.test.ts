import type { CompiledStrategy } from '@po/rto-engine';
import { waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileDemoStrategy } from '../test/helpers.ts';
import { createRunner, staticStrategySource } from './index.ts';

// A data source whose read never answers stands for a read on a half-open link (the real link
// is in apps/cli/src/blackhole.postgres.test.ts); the clock is the real one.
let compiled: CompiledStrategy;
beforeAll(async () => {
  compiled = await compileDemoStrategy();
});
afterAll(async () => {
  await compiled?.dispose();
});

describe('a runner whose read hangs', () => {
  it('reports itself stalled (unhealthy, with the reason) and stops at once', async () => {
    let reads = 0;
    const runner = createRunner({
      strategies: staticStrategySource(compiled, '1.0.0'),
      data: { next: () => (reads++ === 0 ? Promise.resolve(undefined) : new Promise(() => {})) },
      results: { lastProcessed: async () => undefined, recordCycle: async () => true },
      intervalMs: 50,
      staleAfterMs: 300,
    });
    runner.start();
    await waitFor(() => runner.status().lastSuccessAt, 10_000, 'the first check');
    expect(runner.status().healthy).toBe(true);
    const stalled = await waitFor(() => !runner.status().healthy && runner.status(), 10_000, 'stalled');
    expect(stalled.state).toBe('running');
    expect(stalled.degraded).toEqual([
      expect.stringMatching(
        /^stalled: no successful check for \d+\.\d s \(limit 0\.3 s; the last at .*; a database read is pending\)$/,
      ),
    ]);
    // The pending read is not waited for: stop resolves although the read never will.
    await runner.stop({ timeoutMs: 60_000 });
    expect(runner.status()).toMatchObject({ state: 'stopped', healthy: true });
  });
});
