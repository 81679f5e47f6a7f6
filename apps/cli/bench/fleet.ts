/**
 * Fleet throughput: a backlog of rows for 20 units (the demo strategy, advisory), run by 1 and
 * by 2 `po start --mode worker` processes (the built CLI) on the real PostgreSQL. Prints
 * cycles/s, the engine's own time per cycle, and the queue overhead per cycle (wall time per
 * cycle slot minus engine time). `pnpm --filter @po/cli bench:fleet` (build first).
 * BENCH_ROWS (rows per unit, default 30), BENCH_CONCURRENCY (PO_FLEET_CONCURRENCY, default 2)
 * and BENCH_THREADS (PO_THREADS, default 1) change the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '@po/db';
import { createDemoKiln, DEMO_KILN_OUTPUTS, DEMO_KILN_SETPOINTS } from '@po/models';
import { randomName, TEST_DATABASE_URL, tempDir } from '@po/test-kit';
import { root } from '../test/po.ts';

const UNITS = 20;
const ROWS_PER_UNIT = Number(process.env.BENCH_ROWS ?? 30);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);
const THREADS = process.env.BENCH_THREADS ?? '1';
const columns = [...DEMO_KILN_SETPOINTS, ...DEMO_KILN_OUTPUTS];

async function run(workers: number): Promise<void> {
  const schema = randomName('po_fleet_bench');
  const dir = await tempDir('po-fleet-bench');
  const db = await openDatabase({ url: TEST_DATABASE_URL, schema });
  const children: ChildProcess[] = [];
  try {
    await db.query(
      `CREATE TABLE plant ("timestamp" timestamptz NOT NULL, kiln text NOT NULL,
         ${columns.map((c) => `"${c}" double precision`).join(', ')}, PRIMARY KEY (kiln, "timestamp"))`,
    );
    const units = Array.from({ length: UNITS }, (_, i) => ({
      id: `kiln-${i}`,
      data: { table: 'plant', filter: { kiln: `k${i}` } },
      interval_s: 1,
    }));
    writeFileSync(join(dir.path, 'units.yaml'), JSON.stringify({ units }));
    const env = {
      ...process.env,
      DATABASE_URL: TEST_DATABASE_URL,
      PO_DATABASE_SCHEMA: schema,
      PO_FLEET_QUEUE_SCHEMA: `${schema}_q`,
      PO_UNITS_FILE: join(dir.path, 'units.yaml'),
      PO_STRATEGY_FILE: join(root, 'config/demo/strategy.yaml'),
      PO_THREADS: THREADS,
      PO_FLEET_CONCURRENCY: String(CONCURRENCY),
      PO_FLEET_MAX_LATE_S: '3600',
      PO_LOG_PRETTY: 'false',
      PO_LOG_LEVEL: 'warn',
    };
    // Workers start on an empty table (their start-up is not measured), then the backlog lands.
    for (let i = 0; i < workers; i++)
      children.push(
        spawn(process.execPath, [join(root, 'apps/cli/dist/bin.js'), 'start', '--mode', 'worker'], {
          cwd: dir.path,
          env,
          stdio: 'ignore',
        }),
      );
    await new Promise((r) => setTimeout(r, 20_000));
    const now = Date.now();
    for (let i = 0; i < UNITS; i++) {
      const kiln = createDemoKiln({ seed: i + 1 });
      const rows = Array.from({ length: ROWS_PER_UNIT }, (_, j) =>
        kiln.tick(now - (ROWS_PER_UNIT - j) * 1000),
      );
      for (const row of rows) {
        const r = row as Record<string, unknown>;
        await db.query(
          `INSERT INTO plant ("timestamp", kiln, ${columns.map((c) => `"${c}"`).join(', ')})
           VALUES (${[...columns.keys(), 0, 1].map((_, k) => `$${k + 1}`).join(', ')})`,
          [new Date(String(r.timestamp)), `k${i}`, ...columns.map((c) => r[c] ?? null)],
        );
      }
    }
    const total = UNITS * ROWS_PER_UNIT;
    const started = Date.now();
    let first: number | undefined;
    for (;;) {
      const r = await db
        .query<{ n: string; d: string | null }>(
          'SELECT count(*) AS n, avg(duration_ms) AS d FROM optimization_results',
        )
        .catch(() => ({ rows: [{ n: '0', d: null }] }));
      const n = Number(r.rows[0]!.n);
      if (n > 0 && first === undefined) first = Date.now();
      if (n >= total) {
        const wallS = (Date.now() - (first ?? started)) / 1000;
        const perS = total / wallS;
        const engineMs = Number(r.rows[0]!.d);
        const slotMs = (wallS * 1000 * workers * CONCURRENCY) / total;
        console.log(
          JSON.stringify({
            workers,
            concurrencyPerWorker: CONCURRENCY,
            threads: Number(THREADS),
            cycles: total,
            wallS: Math.round(wallS * 10) / 10,
            cyclesPerS: Math.round(perS * 10) / 10,
            engineMsPerCycle: Math.round(engineMs * 10) / 10,
            wallMsPerCycleSlot: Math.round(slotMs * 10) / 10,
          }),
        );
        break;
      }
      if (Date.now() - started > 300_000) throw new Error(`only ${n} of ${total} cycles after 300 s`);
      await new Promise((res) => setTimeout(res, 200));
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 3000));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.query(`DROP SCHEMA IF EXISTS "${schema}_q" CASCADE`);
    await db.close();
    await dir.remove();
  }
}

for (const workers of [1, 2]) await run(workers);
