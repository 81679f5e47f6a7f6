/**
 * The fleet as operators run it: three `po start --mode worker` processes (the built binary)
 * on the real PostgreSQL, 50 units on 1 s intervals fed a row per second each. One worker is
 * killed with SIGKILL twice and restarted; then the workers' link to PostgreSQL is cut (a TCP
 * proxy stopped and started, the server untouched). Afterwards every row was run exactly once
 * or dropped late (counted, only when really late, a bounded share), and every unit made
 * progress in every phase (before, between and after the kills, through the cut), by SQL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, openDatabase } from '@po/db';
import { createDemoKiln, DEMO_KILN_OUTPUTS, DEMO_KILN_SETPOINTS, type DemoKiln } from '@po/models';
import { randomName, startTcpProxy, type TcpProxy, TEST_DATABASE_URL, tempDir } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { po, root } from '../test/po.ts';

const UNITS = 50;
const schema = randomName('po_fleet');
const queueSchema = `${schema}_q`;
const columns = [...DEMO_KILN_SETPOINTS, ...DEMO_KILN_OUTPUTS];
let db: Database;
let proxy: TcpProxy;
let dir: Awaited<ReturnType<typeof tempDir>>;
const workers: { child: ChildProcess; log: string }[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startWorker(env: Record<string, string>): { child: ChildProcess; log: string } {
  const w = {
    child: spawn(process.execPath, [join(root, 'apps/cli/dist/bin.js'), 'start', '--mode', 'worker'], {
      cwd: dir.path,
      env: { ...process.env, ...env },
    }),
    log: '',
  };
  w.child.stdout!.on('data', (b: Buffer) => {
    w.log += b.toString();
  });
  w.child.stderr!.on('data', (b: Buffer) => {
    w.log += b.toString();
  });
  return w;
}

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}; logs:\n${workers.map((w) => w.log.slice(-1500)).join('\n---\n')}`,
      );
    await sleep(250);
  }
}

const started = (w: { log: string }) => w.log.includes('[po/fleet] worker started');

beforeAll(async () => {
  dir = await tempDir('po-fleet');
  db = await openDatabase({ url: TEST_DATABASE_URL, schema });
  await db.query(
    `CREATE TABLE plant ("timestamp" timestamptz NOT NULL, kiln text NOT NULL,
       ${columns.map((c) => `"${c}" double precision`).join(', ')}, PRIMARY KEY (kiln, "timestamp"))`,
  );
  const units = Array.from({ length: UNITS }, (_, i) => ({
    id: `kiln-${i}`,
    name: `Kiln ${i}`,
    data: { table: 'plant', filter: { kiln: `k${i}` } },
    interval_s: 1,
    mode: 'monitor',
  }));
  writeFileSync(join(dir.path, 'units.yaml'), JSON.stringify({ units }));
  const u = new URL(TEST_DATABASE_URL);
  proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
}, 60_000);

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await proxy?.close();
  await db?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db?.query(`DROP SCHEMA IF EXISTS "${queueSchema}" CASCADE`);
  await db?.close();
  await dir?.remove();
});

describe('fleet mode without PostgreSQL', () => {
  it('says that it needs DATABASE_URL, and po units too', async () => {
    const env = { DATABASE_URL: '', PO_LOG_PRETTY: 'false' };
    const start = await po(['start', '--mode', 'worker'], { cwd: dir.path, env });
    expect(start.code).toBe(1);
    expect(start.stdout + start.stderr).toContain(
      '--mode worker (PO_MODE=worker) runs a fleet of units on PostgreSQL: set DATABASE_URL',
    );
    const list = await po(['units', 'list'], { cwd: dir.path, env });
    expect(list.code).toBe(1);
    expect(list.stderr).toContain('set DATABASE_URL');
  });
});

describe('a fleet of 50 units on 3 worker processes', () => {
  it('runs every row exactly once through two SIGKILLs and a cut database link', async () => {
    const viaProxy = new URL(TEST_DATABASE_URL);
    viaProxy.port = String(proxy.port);
    const env = {
      DATABASE_URL: viaProxy.toString(),
      PO_DATABASE_SCHEMA: schema,
      PO_FLEET_QUEUE_SCHEMA: queueSchema,
      PO_UNITS_FILE: join(dir.path, 'units.yaml'),
      PO_STRATEGY_FILE: join(root, 'config/demo/strategy.yaml'),
      PO_THREADS: '1',
      PO_FLEET_CONCURRENCY: '4',
      PO_FLEET_EXPIRE_S: '3',
      PO_FLEET_MAX_LATE_S: '30',
      PO_LOG_PRETTY: 'false',
      PO_LOG_LEVEL: 'info',
    };
    for (let i = 0; i < 3; i++) workers.push(startWorker(env));
    await until('three workers', () => workers.every(started), 120_000);

    // The plant: a row per unit per second, straight into PostgreSQL (not through the cut link).
    const kilns: DemoKiln[] = Array.from({ length: UNITS }, (_, i) => createDemoKiln({ seed: i + 1 }));
    let feeding = true;
    const feeder = (async () => {
      while (feeding) {
        const at = new Date();
        const values: unknown[] = [];
        const tuples = kilns.map((kiln, i) => {
          const row = kiln.tick(at) as Record<string, unknown>;
          values.push(at, `k${i}`, ...columns.map((c) => row[c] ?? null));
          const base = values.length - columns.length - 2;
          return `(${Array.from({ length: columns.length + 2 }, (_, j) => `$${base + j + 1}`).join(', ')})`;
        });
        await db.query(
          `INSERT INTO plant ("timestamp", kiln, ${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${tuples.join(', ')}`,
          values,
        );
        await sleep(1000 - (Date.now() - at.getTime()));
      }
    })();

    // The phases of the run, by wall clock: each unit must make progress in every one.
    const marks: { name: string; at: Date }[] = [{ name: 'start', at: new Date() }];
    const victim = 0;
    for (let kill = 1; kill <= 2; kill++) {
      await sleep(5000);
      marks.push({ name: `kill ${kill}`, at: new Date() });
      workers[victim]!.child.kill('SIGKILL');
      await new Promise((r) => workers[victim]!.child.once('exit', r));
      workers[victim] = startWorker(env);
      await until('the restarted worker', () => started(workers[victim]!), 120_000);
      marks.push({ name: `restart ${kill}`, at: new Date() });
    }
    const survivors = workers.map((w) => w.child.pid);

    await sleep(3000);
    const cutAt = new Date();
    marks.push({ name: 'link cut', at: cutAt });
    await proxy.stop();
    await sleep(4000);
    await proxy.start();
    marks.push({ name: 'link back', at: new Date() });
    await sleep(6000);
    feeding = false;
    await feeder;
    marks.push({ name: 'end', at: new Date() });

    const pending = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM plant p WHERE NOT EXISTS (SELECT 1 FROM optimization_results r
               WHERE r.unit = 'kiln-' || substr(p.kiln, 2) AND r.data_timestamp = p."timestamp")
             AND NOT EXISTS (SELECT 1 FROM po_unit_dropped d
               WHERE d.unit = 'kiln-' || substr(p.kiln, 2) AND d.data_timestamp = p."timestamp")`,
          )
        ).rows[0]!.n,
      );
    await until('every row run or dropped', async () => (await pending()) === 0, 90_000);

    const tally = (
      await db.query<Record<string, string>>(
        `SELECT
           (SELECT count(*) FROM plant) AS rows,
           (SELECT count(*) FROM optimization_results) AS results,
           (SELECT count(*) FROM po_unit_dropped) AS dropped,
           (SELECT count(*) FROM (SELECT unit, data_timestamp FROM optimization_results
              GROUP BY unit, data_timestamp HAVING count(*) > 1) d) AS doubled,
           (SELECT count(*) FROM optimization_results r JOIN po_unit_dropped d
              ON d.unit = r.unit AND d.data_timestamp = r.data_timestamp) AS both_ways,
           (SELECT count(*) FROM optimization_results r WHERE NOT EXISTS (SELECT 1 FROM plant p
              WHERE 'kiln-' || substr(p.kiln, 2) = r.unit AND p."timestamp" = r.data_timestamp)) AS made_up,
           (SELECT count(*) FROM optimization_results WHERE data_timestamp > $1)
             + (SELECT count(*) FROM po_unit_dropped WHERE data_timestamp > $1) AS after_cut`,
        [cutAt],
      )
    ).rows[0]!;
    const n = Object.fromEntries(Object.entries(tally).map(([k, v]) => [k, Number(v)])) as Record<
      'rows' | 'results' | 'dropped' | 'doubled' | 'both_ways' | 'made_up' | 'after_cut',
      number
    >;
    console.log('[fleet test]', n);
    expect(n.rows).toBeGreaterThan(UNITS * 20);
    expect(n.doubled).toBe(0);
    expect(n.both_ways).toBe(0);
    expect(n.made_up).toBe(0);
    expect(n.results + n.dropped).toBe(n.rows);
    expect(n.after_cut).toBeGreaterThan(0);

    // Dropped late: only rows really older than PO_FLEET_MAX_LATE_S (30 s) when taken, and a
    // bounded share. A quiet machine drops none; the bound leaves room for a loaded 2-core one
    // (a fleet that dropped more than half its rows would not be keeping up at all).
    const early = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM po_unit_dropped WHERE age_s <= 30',
    );
    expect(Number(early.rows[0]!.n)).toBe(0);
    expect(n.dropped).toBeLessThanOrEqual(n.rows / 2);

    // Progress in every phase (before the kills, between them, after the last restart, through
    // the cut): each unit's rows of each phase were run, at least one per unit and phase (a phase
    // spans several seconds, a row per unit per second).
    const phases = marks
      .slice(1)
      .map((m, i) => ({ name: `${marks[i]!.name} -> ${m.name}`, from: marks[i]!.at, to: m.at }));
    const perPhase = await db.query<{ phase: number; units_run: string; run: string; dropped: string }>(
      `SELECT p.i AS phase,
         (SELECT count(DISTINCT unit) FROM optimization_results r
            WHERE r.data_timestamp >= p.f AND r.data_timestamp < p.t) AS units_run,
         (SELECT count(*) FROM optimization_results r WHERE r.data_timestamp >= p.f AND r.data_timestamp < p.t) AS run,
         (SELECT count(*) FROM po_unit_dropped d WHERE d.data_timestamp >= p.f AND d.data_timestamp < p.t) AS dropped
       FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS p(f, t, i) ORDER BY p.i`,
      [phases.map((p) => p.from), phases.map((p) => p.to)],
    );
    const progress = perPhase.rows.map((r) => ({
      phase: phases[Number(r.phase) - 1]!.name,
      unitsRun: Number(r.units_run),
      run: Number(r.run),
      dropped: Number(r.dropped),
    }));
    console.log('[fleet test] per phase', progress);
    for (const p of progress)
      expect({ phase: p.phase, unitsRun: p.unitsRun }).toEqual({ phase: p.phase, unitsRun: UNITS });
    // The link cut was survived without a restart: the same three processes, all alive.
    expect(workers.map((w) => w.child.pid)).toEqual(survivors);
    for (const w of workers) expect(w.child.exitCode).toBeNull();

    // Graceful stop: cycles in progress finish, each process exits 0.
    const exits = workers.map(
      (w) => new Promise<number | null>((r) => w.child.once('exit', (code) => r(code))),
    );
    for (const w of workers) w.child.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0, 0]);
  }, 360_000);
});
