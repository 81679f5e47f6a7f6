import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzz, startTarget } from '../test/fuzz.ts';

let target: Awaited<ReturnType<typeof startTarget>>;
beforeAll(async () => {
  // The time limit has its own tests (reliability.test.ts); here a loaded CI machine must not turn
  // a queued optimization into a 504.
  target = await startTarget({ requestTimeoutMs: 300_000 });
});
afterAll(() => target.close());

describe('fuzz (seeded; the full run is `pnpm --filter @po/api fuzz`)', () => {
  it('2000 random and malformed requests on every route: no 5xx, no crash', async () => {
    const report = await fuzz(target.url, target.state, { seed: 9, count: 2_000 });
    expect(report.failures).toEqual([]);
    expect(report.requests).toBe(2_000);
    // The bodies reach the routes: successes and client errors both occur.
    expect(report.byStatus['200']).toBeGreaterThan(0);
    expect(report.byStatus['400']).toBeGreaterThan(0);
    expect((await fetch(`${target.url}/health`)).status).toBe(200);
  }, 300_000); // ~40 s on a quiet 2-CPU machine; a hang guard
});
