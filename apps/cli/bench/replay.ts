/**
 * Benchmark of `po replay`'s engine path: the demo strategy over 30 days of minute data
 * (43,200 rows of the demo kiln's generated history) in a fresh PostgreSQL schema, on the
 * worker pool. Run: `pnpm --filter @po/cli bench` (needs PostgreSQL at 127.0.0.1:5432).
 * Prints rows, seconds, cycles/s, CPU seconds and the cycle counts, then the time to read the stored cycles
 * back and compute the report (with its prediction-error post-pass). Arguments: rows, threads, and a
 * file to write the report and a hash of the stored cycles to (without their timings), to diff two runs.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createCyclePool } from '@po/api';
import { openDatabase } from '@po/db';
import { createDemoKiln } from '@po/models';
import { replayReport } from '@po/runner';
import { loadSettings } from '@po/settings';
import { openPostgresSchema } from '@po/test-kit';
import { createReplay, executeReplay, loadReplayStrategy, openReplayTables } from '../src/service/replays.ts';

const ROWS = Number(process.argv[2] ?? 43_200);
const THREADS = Number(process.argv[3] ?? availableParallelism());
/** Where to write the report and the stored cycles (without their timings) as JSON, to compare two runs. */
const DUMP = process.argv[4];
const root = join(import.meta.dirname, '../../..');
const START = new Date('2026-03-01T00:00:00Z');

// Reading 43,200 stored cycles back takes longer than the default statement timeout on a loaded machine.
const { db, cleanup } = await openPostgresSchema(
  (target) => openDatabase({ ...target, queryTimeoutMs: 600_000 }),
  {
    prefix: 'po_bench_replay',
  },
);
const pool = createCyclePool({ threads: THREADS });
try {
  const settings = loadSettings({ overrides: { 'runner.data_table': 'process_data' } });
  const tables = await openReplayTables(db, settings);
  const rows = createDemoKiln({ seed: 1 }).history({ rows: ROWS, start: START });
  await tables.data.createProcessDataTable(Object.keys(rows[0]!).filter((c) => c !== 'timestamp'));
  await tables.data.insertRows(rows);
  const strategy = await loadReplayStrategy(pool, settings, {
    config: join(root, 'config/demo/strategy.yaml'),
  });
  const to = new Date(START.getTime() + (ROWS - 1) * 60_000);
  const replay = await createReplay(tables, strategy, { from: START, to, every: 1 });
  const load = loadavg()[0]!.toFixed(1);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const outcome = await executeReplay({ tables, replay, strategy, concurrency: THREADS * 2 });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stored = (await tables.store.get(replay.id))!;
  const t1 = performance.now();
  const cycles = await tables.store.cycles(replay.id);
  const t2 = performance.now();
  const report = replayReport(stored, cycles);
  const t3 = performance.now();
  if (DUMP) {
    // The stored cycles as one hash (43,200 of them in one JSON text would be too long a string).
    const hash = createHash('sha256');
    for (const { durationMs: _timing, ...cycle } of cycles) hash.update(`${JSON.stringify(cycle)}\n`);
    await writeFile(DUMP, JSON.stringify({ report, cycles_sha256: hash.digest('hex') }, null, 1));
  }
  const drive = report.prediction_error.outputs.predicted_Kiln_Drive_Current;
  console.log(
    JSON.stringify({
      rows: ROWS,
      threads: THREADS,
      seconds: Math.round(seconds * 10) / 10,
      cycles_per_s: Math.round(outcome.storedNow / seconds),
      // This process's CPU time (main thread and workers; not PostgreSQL's): steadier than seconds on a loaded machine.
      cpu_s: Math.round((cpu.user + cpu.system) / 1e5) / 10,
      stored: outcome.stored,
      counts: stored.counts,
      read_cycles_s: Math.round(t2 - t1) / 1000,
      report_s: Math.round(t3 - t2) / 1000,
      drive_current_error: drive && { pairs: drive.pairs, rmse: drive.rmse, bias: drive.bias },
      load_average_at_start: load,
      load_average_at_end: loadavg()[0]!.toFixed(1),
      cpus: availableParallelism(),
    }),
  );
} finally {
  await pool.close();
  await cleanup();
}
