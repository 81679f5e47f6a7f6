import type { Logger } from '@po/core';
import type { Database, ProcessDataSource } from '@po/db';
import { createProcessDataSource } from '@po/db';
import { createDemoKiln, DEMO_KILN_OUTPUTS, DEMO_KILN_SETPOINTS, type DemoKiln } from '@po/models';
import type { Clock } from './types.ts';

export interface SeedDemoOptions {
  /** History rows to backfill when the table is empty. Default 1440 (a day of minutes). */
  rows?: number;
  /** Seed of the simulated kiln. Default 1. */
  seed?: number;
  /** Default `process_data`. */
  table?: string;
  /** Seconds between rows. Default 60. */
  intervalS?: number;
  /** Time of the last history row. Default now. */
  end?: Date;
}

/**
 * The embedded demo's plant: creates the data table with the demo kiln's tags (the demo
 * strategy's Operative and Informative variables) and backfills history from the demo
 * kiln simulator when the table is empty. Returns the kiln (to keep feeding) and the source.
 */
export async function seedDemo(
  db: Database,
  options: SeedDemoOptions = {},
): Promise<{ source: ProcessDataSource; kiln: DemoKiln; inserted: number }> {
  const rows = options.rows ?? 1440;
  const intervalS = options.intervalS ?? 60;
  const end = options.end ?? new Date();
  const source = createProcessDataSource(db, { table: options.table ?? 'process_data' });
  await source.createProcessDataTable([...DEMO_KILN_SETPOINTS, ...DEMO_KILN_OUTPUTS]);
  const kiln = createDemoKiln({ seed: options.seed ?? 1 });
  const newest = await source.next(undefined);
  if (newest) {
    // Already seeded (a restart): continue the plant from its last row.
    kiln.tick(newest.timestamp);
    return { source, kiln, inserted: 0 };
  }
  const start = new Date(end.getTime() - (rows - 1) * intervalS * 1000);
  const history = kiln.history({ rows, intervalSeconds: intervalS, start });
  const inserted = await source.insertRows(history);
  return { source, kiln, inserted };
}

/**
 * `at` with microseconds, as a plant historian stamps rows (PostgreSQL keeps them): the
 * sub-millisecond digits come from the high-resolution clock. Rows stamped this way make the
 * embedded demo exercise po's exact timestamps (a result's `data_timestamp` equals its row's).
 */
export function withMicroseconds(at: Date): string {
  const micros = Math.floor(((performance.timeOrigin + performance.now()) % 1) * 1000);
  return at.toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
}

/**
 * Inserts one live row from the kiln every `intervalMs` (the embedded demo's plant feed),
 * stamped to the microsecond (to the millisecond with an injected `clock`).
 */
export function startDemoFeeder(options: {
  source: ProcessDataSource;
  kiln: DemoKiln;
  intervalMs: number;
  clock?: Clock;
  logger?: Logger;
}): { stop(): void } {
  const now = () => options.clock?.now() ?? new Date();
  const timer = setInterval(() => {
    const at = now();
    const last = options.kiln.state().time;
    if (last !== undefined && at.getTime() <= last) return;
    const row = options.kiln.tick(at);
    const stamped = options.clock ? row : { ...row, timestamp: withMicroseconds(at) };
    options.source.insertRows([stamped]).catch((e: unknown) => {
      options.logger?.warn({ err: (e as Error).message }, '[po/runner] demo feeder could not insert a row');
    });
  }, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
