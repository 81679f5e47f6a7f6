/**
 * kill -9 on the embedded default: the real `po start` (continuous, PGlite folder, the demo
 * kiln fed every second with microsecond timestamps) is killed with SIGKILL twice while it runs
 * cycles, started again each time, and finally stopped with SIGTERM. Then the PGlite folder is
 * opened and checked by SQL: every result joins its source row exactly (`data_timestamp =
 * timestamp`, microseconds included), no row has two results, and every plant row up to the last
 * result is accounted for exactly once (a result, or counted in the next result's `skipped_rows`:
 * the runner takes the newest row and says how many older ones it passed over).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@po/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployDemo, root } from '../test/po.ts';

const dir = mkdtempSync(join(tmpdir(), 'po-kill9-'));
const env = {
  PO_MODE: 'continuous',
  PO_CYCLE_INTERVAL_S: '1',
  PO_THREADS: '1',
  PO_LOG_PRETTY: 'false',
};
const CYCLE_LINE = /\[po\/runner\] cycle"/g;
let child: ChildProcess | undefined;

/** Starts `po start` in `dir`; resolves once it has logged `cycles` more cycle lines. */
function startUntilCycles(cycles: number): Promise<{ child: ChildProcess; log: () => string }> {
  const proc = spawn(process.execPath, [join(root, 'apps/cli/dist/bin.js'), 'start'], {
    cwd: dir,
    env: { ...process.env, ...env },
  });
  child = proc;
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      log += b.toString();
      if ((log.match(CYCLE_LINE) ?? []).length >= cycles) {
        proc.stdout!.off('data', onData);
        resolve({ child: proc, log: () => log });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
    });
    proc.once('exit', (code, signal) =>
      reject(
        new Error(`po start exited (${code ?? signal}) before ${cycles} cycles; log:\n${log.slice(-3000)}`),
      ),
    );
  });
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null)
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

beforeAll(async () => {
  await deployDemo(dir);
}, 120_000);

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('po start on PGlite, killed with SIGKILL mid-run', () => {
  it('keeps results joined exactly to their source rows, none doubled, none lost', async () => {
    for (let kill = 0; kill < 2; kill++) {
      const { child: proc } = await startUntilCycles(3);
      // Mid-run: the next cycle is due within the second (reading, optimizing or recording).
      await new Promise((r) => setTimeout(r, 300 + 400 * kill));
      proc.kill('SIGKILL');
      expect(await exited(proc)).toEqual({ code: null, signal: 'SIGKILL' });
    }
    const last = await startUntilCycles(3);
    last.child.kill('SIGTERM');
    expect(await exited(last.child), last.log().slice(-3000)).toEqual({ code: 0, signal: null });

    const db = await openDatabase({ dataDir: join(dir, 'data/pglite') });
    try {
      const counts = await db.query<{ results: string; joined: string; micro: string }>(
        `SELECT count(*) AS results,
                count(p.timestamp) AS joined,
                count(*) FILTER (WHERE extract(microseconds FROM r.data_timestamp)::bigint % 1000 <> 0) AS micro
           FROM optimization_results r
           LEFT JOIN process_data p ON p.timestamp = r.data_timestamp`,
      );
      const { results, joined, micro } = counts.rows[0]!;
      // Three runs of at least three cycles each.
      expect(Number(results)).toBeGreaterThanOrEqual(9);
      // Every result has its source row at full precision (a join at milliseconds would miss these).
      expect(joined).toBe(results);
      expect(Number(micro)).toBeGreaterThan(0);

      const doubled = await db.query(
        `SELECT data_timestamp, count(*) FROM optimization_results GROUP BY data_timestamp HAVING count(*) > 1`,
      );
      expect(doubled.rows).toEqual([]);

      // Rows between one result and the next are the ones the later cycle says it passed over.
      const unaccounted = await db.query<{ at: string; skipped_rows: number; rows_before: string }>(
        `SELECT to_char(r.data_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at,
                r.skipped_rows,
                (SELECT count(*) FROM process_data p
                  WHERE p.timestamp < r.data_timestamp
                    AND p.timestamp > coalesce(
                      (SELECT max(q.data_timestamp) FROM optimization_results q
                        WHERE q.data_timestamp < r.data_timestamp), '-infinity')) AS rows_before
           FROM optimization_results r
          ORDER BY r.data_timestamp`,
      );
      const mismatched = unaccounted.rows.filter((r) => Number(r.rows_before) !== Number(r.skipped_rows));
      expect(mismatched).toEqual([]);

      // Results were recorded in the order of their rows: no restart went back in time.
      const order = await db.query<{ back: string }>(
        `SELECT count(*) AS back FROM (
           SELECT data_timestamp < lag(data_timestamp) OVER (ORDER BY id) AS went_back FROM optimization_results
         ) s WHERE went_back`,
      );
      expect(Number(order.rows[0]!.back)).toBe(0);
    } finally {
      await db.close();
    }
  }, 300_000);
});
