import { defineConfig } from 'vitest/config';

// Each test runs the real `po` binary (a fresh Node.js process loading ONNX Runtime). On CI's
// two cores the files run in two lanes side by side: the ones that bound a time (a restart, a
// kill, a half-open link, a page updating within seconds) one at a time, the command tests one at
// a time beside them; then the fleet test (3 workers, 50 units every second: it takes the whole
// machine) alone.
const timed = [
  'src/blackhole.postgres.test.ts',
  'src/kill9.pglite.test.ts',
  'src/kill9-new-folder.pglite.test.ts',
  'src/start-failures.test.ts',
  'src/start.test.ts',
  'src/dashboard.e2e.test.ts',
];
const fleet = ['src/fleet.postgres.test.ts'];
const lane = { testTimeout: 60_000, maxWorkers: 1 };

export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      { test: { ...lane, name: 'timed', include: timed, sequence: { groupOrder: 0 } } },
      {
        test: {
          ...lane,
          name: 'commands',
          include: ['src/**/*.test.ts'],
          exclude: [...timed, ...fleet],
          sequence: { groupOrder: 0 },
        },
      },
      { test: { ...lane, name: 'fleet', include: fleet, sequence: { groupOrder: 1 } } },
    ],
  },
});
