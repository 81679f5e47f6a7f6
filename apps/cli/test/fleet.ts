/**
 * The demo fleet behind the dashboard's units views: `po fleet-demo seed` (two kilns: kiln-1 on
 * the demo strategy 1.0.0, kiln-2 on the coal saver 1.1.0), `po fleet-demo feed` and a hybrid
 * `po start` with `PO_FLEET=true` (worker + HTTP API), all child processes on the real
 * PostgreSQL (`PO_TEST_DATABASE_URL`, a schema of its own), with the role tokens of the
 * single-unit demo. Shared by the units dashboard test and the browser e2e test.
 */
import { join } from 'node:path';
import { type Database, openDatabase } from '@po/db';
import { randomName, TEST_DATABASE_URL, tempDir, waitFor } from '@po/test-kit';
import { type RoleName, TOKENS } from './dashboard.ts';
import { type PoChild, po, root, spawnPo } from './po.ts';

export interface FleetDemo {
  url: string;
  /** The fleet's database (its schema), to check pages against SQL. */
  db: Database;
  log(): string;
  /** A call with a role's bearer token (any path: API or page). */
  api(role: RoleName, path: string, init?: RequestInit): Promise<Response>;
  /** Another `po` child on the fleet's settings (`extra` added), killed with the fleet at `stop`. */
  spawn(name: string, args: string[], extra?: Record<string, string>): PoChild;
  stop(): Promise<void>;
}

/**
 * The settings of a fleet's `po` child processes on the test PostgreSQL: the database and its
 * queue in schemas of their own (`schema`, `<schema>_q`), a local store and metadata folder
 * below `dir`, one worker thread, two fleet jobs at a time, JSON logs, any free port.
 */
export function fleetEnv(schema: string, dir: string): Record<string, string> {
  return {
    DATABASE_URL: TEST_DATABASE_URL,
    PO_DATABASE_SCHEMA: schema,
    PO_FLEET_QUEUE_SCHEMA: `${schema}_q`,
    PO_STORE: 'local',
    PO_LOCAL_STORE_DIR: join(dir, 'store'),
    PO_METADATA_DIR: join(dir, 'metadata'),
    PO_THREADS: '1',
    PO_FLEET_CONCURRENCY: '2',
    PO_LOG_PRETTY: 'false',
    PO_PORT: '0',
    NO_COLOR: '1',
  };
}

/**
 * Seeds the demo fleet, starts its feeder and a hybrid fleet `po start`, and waits for each
 * unit's first ok cycle. `keepFeeding: false` stops the feeder then (a quiet fleet for tests
 * that only read pages, next to other timed work).
 */
export async function startFleetDemo(options: { keepFeeding?: boolean } = {}): Promise<FleetDemo> {
  const schema = randomName('po_units_dash');
  const dir = await tempDir('po-units-dashboard');
  const db = await openDatabase({ url: TEST_DATABASE_URL, schema });
  const env: Record<string, string> = {
    ...fleetEnv(schema, dir.path),
    PO_VIEWER_TOKEN: TOKENS.viewer,
    PO_OPERATOR_TOKEN: TOKENS.operator,
    PO_ENGINEER_TOKEN: TOKENS.engineer,
  };
  const children: PoChild[] = [];
  const log = () => children.map((c) => c.log.slice(-3000)).join('\n---\n');
  const start = (name: string, args: string[], extra: Record<string, string> = {}) => {
    const c = spawnPo(name, args, { cwd: dir.path, env: { ...env, ...extra } });
    children.push(c);
    return c;
  };
  /** `waitFor`, naming what and showing the children's logs when it times out. */
  const until = async <T>(check: () => T | Promise<T>, what: string) => {
    try {
      return await waitFor(check, 180_000, what);
    } catch (e) {
      throw new Error(`${(e as Error).message}; logs:\n${log()}`);
    }
  };
  const stop = async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await db.query(`DROP SCHEMA IF EXISTS "${schema}_q" CASCADE`).catch(() => undefined);
    await db.close();
    await dir.remove();
  };
  try {
    const seed = await po(
      [
        'fleet-demo',
        'seed',
        '--kilns',
        '2',
        '--interval',
        '1',
        '--history',
        '30',
        '--demo-dir',
        join(root, 'config/demo'),
      ],
      { cwd: dir.path, env },
    );
    if (seed.code !== 0) throw new Error(`po fleet-demo seed exited ${seed.code}:\n${seed.stderr}`);
    const server = start('server', ['start', '--mode', 'hybrid'], { PO_FLEET: 'true' });
    const url = await until(
      () => /"url":"(http:\/\/[^"]+)"/.exec(server.log)?.[1],
      'the fleet service to listen',
    );
    const feeder = start('feeder', ['fleet-demo', 'feed', '--interval', '1']);
    await until(async () => {
      const r = await db.query<{ n: string }>(
        `SELECT count(DISTINCT unit) AS n FROM optimization_results WHERE status = 'ok'`,
      );
      return Number(r.rows[0]?.n) === 2 ? true : undefined;
    }, 'an ok cycle of each unit');
    if (options.keepFeeding === false) feeder.child.kill('SIGTERM');
    return {
      url,
      db,
      log,
      api: (role, path, init = {}) =>
        fetch(`${url}${path}`, {
          redirect: 'manual',
          ...init,
          headers: { authorization: `Bearer ${TOKENS[role]}`, ...init.headers },
        }),
      spawn: start,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
