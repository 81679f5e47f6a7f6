/**
 * The demo fleet and per-unit deploys as operators run them, with the built `po` on the real
 * PostgreSQL and a local store folder: `po fleet-demo seed` (3 simulated kilns, two
 * strategies), `po fleet-demo feed` and `po start --mode worker` as child processes; each
 * unit's cycles run its own strategy; `po units deploy` moves one unit to another version
 * (its pointer in the store, then its cycles) while the others keep theirs; bad input is
 * refused with a clear error and a non-zero exit. Checked by SQL and by reading the store.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, openDatabase } from '@po/db';
import { randomName, TEST_DATABASE_URL, tempDir, waitFor } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetEnv } from '../test/fleet.ts';
import { type PoChild, po, root, spawnPo } from '../test/po.ts';

const schema = randomName('po_fleet_demo');
const VERSIONS: Record<string, string> = { 'kiln-1': '1.0.0', 'kiln-2': '1.1.0', 'kiln-3': '1.0.0' };
let db: Database;
let dir: Awaited<ReturnType<typeof tempDir>>;
let env: Record<string, string>;
const children: PoChild[] = [];

function start(name: string, args: string[]): PoChild {
  const c = spawnPo(name, args, { cwd: dir.path, env });
  children.push(c);
  return c;
}

const logs = () => children.map((c) => `--- ${c.name}\n${c.log.slice(-2000)}`).join('\n');
const pointer = (unit: string) =>
  readFileSync(join(dir.path, 'store/metadata/units', unit, 'deployed.yaml'), 'utf8');

/** Per unit and strategy version: results, distinct rows, and the newest data timestamp. */
async function resultsByVersion(after = new Date(0)) {
  const r = await db.query<{
    unit: string;
    version: string;
    status: string;
    n: string;
    rows: string;
    newest: Date;
  }>(
    `SELECT unit, strategy_version AS version, status, count(*) AS n, count(DISTINCT data_timestamp) AS rows,
       max(data_timestamp) AS newest
     FROM optimization_results WHERE data_timestamp > $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    [after],
  );
  return r.rows.map((x) => ({ ...x, n: Number(x.n), rows: Number(x.rows) }));
}

beforeAll(async () => {
  dir = await tempDir('po-fleet-demo');
  db = await openDatabase({ url: TEST_DATABASE_URL, schema });
  env = fleetEnv(schema, dir.path);
});

afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await db?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db?.query(`DROP SCHEMA IF EXISTS "${schema}_q" CASCADE`);
  await db?.close();
  await dir?.remove();
});

describe('the demo fleet (po fleet-demo) and per-unit deploys (po units deploy)', () => {
  let feedStart: Date;
  let worker: PoChild;
  let feeder: PoChild;

  it('refuses to seed without PostgreSQL, or without the demo files', async () => {
    const noDb = await po(['fleet-demo', 'seed'], { cwd: dir.path, env: { ...env, DATABASE_URL: '' } });
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toContain('po fleet-demo needs PostgreSQL: set DATABASE_URL');
    const noFiles = await po(['fleet-demo', 'seed', '--demo-dir', 'nowhere'], { cwd: dir.path, env });
    expect(noFiles.code).toBe(1);
    expect(noFiles.stderr).toContain(`${join(dir.path, 'nowhere', 'strategy.yaml')} does not exist`);
    const badKilns = await po(['fleet-demo', 'seed', '--kilns', 'three'], { cwd: dir.path, env });
    expect(badKilns.code).toBe(2);
    expect(badKilns.stderr).toContain("--kilns must be a whole number from 1 to 200, got 'three'");
    const noKilns = await po(['fleet-demo', 'feed'], { cwd: dir.path, env });
    expect(noKilns.code).toBe(1);
    expect(noKilns.stderr).toContain('run po fleet-demo seed first');
  });

  it('seeds kilns with different seeds, two strategies, and a store pointer per unit', async () => {
    const args = ['fleet-demo', 'seed', '--kilns', '3', '--interval', '1', '--history', '3'];
    const seed = await po([...args, '--demo-dir', join(root, 'config/demo'), '--json'], {
      cwd: dir.path,
      env,
    });
    expect(seed.stderr).not.toContain('Error');
    expect(seed.code).toBe(0);
    const units = JSON.parse(seed.stdout) as { id: string; kiln: string; seed: number; version: string }[];
    expect(units.map((u) => [u.id, u.kiln, u.seed, u.version])).toEqual([
      ['kiln-1', 'K1', 1, '1.0.0'],
      ['kiln-2', 'K2', 2, '1.1.0'],
      ['kiln-3', 'K3', 3, '1.0.0'],
    ]);
    for (const [unit, version] of Object.entries(VERSIONS))
      expect(pointer(unit)).toContain(`config.yaml: ${version}`);
    const list = await po(['units', 'list', '--json'], { cwd: dir.path, env });
    expect((JSON.parse(list.stdout) as { id: string }[]).map((u) => u.id)).toEqual(Object.keys(VERSIONS));
    // Three kilns of different seeds: the same history times, different readings.
    const history = await db.query<{ kiln: string; n: string; clinker: string }>(
      `SELECT kiln, count(*) AS n, string_agg("Clinker_temperature"::text, ',' ORDER BY "timestamp") AS clinker
       FROM demo_kilns GROUP BY kiln ORDER BY kiln`,
    );
    expect(history.rows.map((r) => [r.kiln, Number(r.n)])).toEqual([
      ['K1', 3],
      ['K2', 3],
      ['K3', 3],
    ]);
    expect(new Set(history.rows.map((r) => r.clinker)).size).toBe(3);
    // Seeding again changes nothing (a restart of the demo).
    const again = await po([...args, '--demo-dir', join(root, 'config/demo'), '--json'], {
      cwd: dir.path,
      env,
    });
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { historyRows: number }[]).map((u) => u.historyRows)).toEqual([
      0, 0, 0,
    ]);
  });

  it("runs each unit's cycles with its own strategy, one result per fed row", async () => {
    worker = start('worker', ['start', '--mode', 'worker']);
    await waitFor(
      () => worker.log.includes('[po/fleet] worker started'),
      120_000,
      `the worker; logs:\n${logs()}`,
    );
    feedStart = new Date();
    feeder = start('feeder', ['fleet-demo', 'feed', '--interval', '1']);
    // Each unit runs rows the feeder wrote (generous: a loaded 2-core machine).
    await waitFor(
      async () => {
        const r = await resultsByVersion(feedStart);
        return r.length === 3 && r.every((x) => x.rows >= 3);
      },
      120_000,
      `three fed rows run per unit; logs:\n${logs()}`,
    );
    const all = await resultsByVersion();
    expect(all.map((r) => [r.unit, r.version, r.status])).toEqual(
      Object.entries(VERSIONS).map(([unit, version]) => [unit, version, 'ok']),
    );
    for (const r of all) expect(r.n).toBe(r.rows);
  }, 300_000);

  it('po units deploy moves one unit to another version; the others keep theirs', async () => {
    const deploy = await po(['units', 'deploy', 'kiln-3', '1.1.0'], { cwd: dir.path, env });
    expect(deploy.stderr).toBe('');
    expect(deploy.stdout).toContain('deployed 1.1.0 to unit kiln-3');
    expect(deploy.code).toBe(0);
    expect(pointer('kiln-3')).toContain('config.yaml: 1.1.0');
    expect(pointer('kiln-1')).toContain('config.yaml: 1.0.0');
    const deployedAt = new Date();

    // The worker reads the pointers every 15 s: kiln-3's next cycles run 1.1.0.
    const switched = await waitFor(
      async () => {
        const r = await db.query<{ at: Date }>(
          `SELECT min(data_timestamp) AS at FROM optimization_results
           WHERE unit = 'kiln-3' AND strategy_version = '1.1.0'`,
        );
        return r.rows[0]?.at ?? undefined;
      },
      120_000,
      `a kiln-3 cycle on 1.1.0; logs:\n${logs()}`,
    );
    // A few more cycles of every unit after the switch.
    await waitFor(
      async () => {
        const r = await resultsByVersion(switched);
        return r.length === 3 && r.every((x) => x.rows >= 3);
      },
      120_000,
      `cycles of every unit after the switch; logs:\n${logs()}`,
    );
    const after = await resultsByVersion(switched);
    expect(after.map((r) => [r.unit, r.version])).toEqual([
      ['kiln-1', '1.0.0'],
      ['kiln-2', '1.1.0'],
      ['kiln-3', '1.1.0'],
    ]);
    // Before the deploy, kiln-3 ran only 1.0.0; it switched once, and never back.
    const before = await db.query<{ version: string }>(
      `SELECT DISTINCT strategy_version AS version FROM optimization_results
       WHERE unit = 'kiln-3' AND data_timestamp < $1`,
      [switched],
    );
    expect(before.rows.map((r) => r.version)).toEqual(['1.0.0']);
    // The switch came after the deploy (rows of the pointer poll's lag still ran 1.0.0).
    expect(switched.getTime()).toBeGreaterThan(deployedAt.getTime() - 1000);
  }, 300_000);

  it('po units deploy refuses an unknown unit or version, with a clear error, and moves no pointer', async () => {
    const unknownUnit = await po(['units', 'deploy', 'kiln-9', '1.0.0'], { cwd: dir.path, env });
    expect(unknownUnit.code).toBe(1);
    expect(unknownUnit.stderr).toContain("no unit 'kiln-9' (po units list shows them)");
    expect(existsSync(join(dir.path, 'store/metadata/units/kiln-9'))).toBe(false);

    const unknownVersion = await po(['units', 'deploy', 'kiln-1', '9.9.9'], { cwd: dir.path, env });
    expect(unknownVersion.code).toBe(1);
    expect(unknownVersion.stderr).toContain('Strategy version 9.9.9 not found (configs/config-9.9.9.yaml in');
    expect(unknownVersion.stderr).toContain('Known versions: 1.0.0, 1.1.0.');

    const notSemver = await po(['units', 'deploy', 'kiln-1', 'latest'], { cwd: dir.path, env });
    expect(notSemver.code).toBe(1);
    expect(notSemver.stderr).toContain('Invalid strategy version "latest": expected a semantic version');

    const missing = await po(['units', 'deploy', 'kiln-1'], { cwd: dir.path, env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'version'");
    expect(pointer('kiln-1')).toContain('config.yaml: 1.0.0');
  });

  it('stops the feeder and the worker gracefully', async () => {
    const exits = [feeder, worker].map(
      (c) => new Promise<number | null>((r) => c.child.once('exit', (code) => r(code))),
    );
    feeder.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0]);
    expect(feeder.log).toContain('[po] demo feed stopped');
    // Every unit has its own pointer: no fleet-wide version is needed, and none is complained about.
    expect(worker.log).not.toContain('POINTER_FAILED');
    expect(worker.log).not.toContain('no fleet-wide version is deployed');
  });
});
