import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Database, openDatabase } from '@po/db';
import { createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';

export const POSTGRES_URL = process.env.PO_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
export const DEMO_DIR = join(import.meta.dirname, '../../../config/demo');
export const randomName = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

/** The demo strategy with its models, compiled through the real engine. */
export async function compileDemoStrategy(): Promise<CompiledStrategy> {
  return compileStrategy(await readFile(join(DEMO_DIR, 'strategy.yaml'), 'utf8'), {
    modelProvider: createModelProvider({ readFile: localModelFiles(join(DEMO_DIR, 'models')) }),
    version: '1.0.0',
  });
}

/** A plausible demo plant reading (config/demo/example-state.json). */
export async function exampleState(): Promise<Record<string, number>> {
  return JSON.parse(await readFile(join(DEMO_DIR, 'example-state.json'), 'utf8'));
}

export interface TestBackend {
  name: 'postgres' | 'pglite';
  open(): Promise<{ db: Database; cleanup(): Promise<void> }>;
}

/** Both backends: PostgreSQL (a schema per test file) and PGlite (a folder per test file). */
export const backends: TestBackend[] = [
  {
    name: 'postgres',
    async open() {
      const schema = randomName('po_runner');
      const db = await openDatabase({ url: POSTGRES_URL, schema });
      return {
        db,
        async cleanup() {
          await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await db.close();
        },
      };
    },
  },
  {
    name: 'pglite',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'po-runner-'));
      const db = await openDatabase({ dataDir: join(dir, 'pglite') });
      return {
        db,
        async cleanup() {
          await db.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** A TCP proxy in front of PostgreSQL: stopping it is a cut link to the real database. */
export async function startTcpProxy(target: { host: string; port: number }, port = 0) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => {
        server = s;
        resolve((s.address() as net.AddressInfo).port);
      });
    });
  const actualPort = await listen(port);
  return {
    port: actualPort,
    /** Cuts every connection and refuses new ones. */
    async stop() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server = undefined;
    },
    async start() {
      await listen(actualPort);
    },
  };
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
