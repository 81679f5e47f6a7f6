import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tempDir } from './temp-dir.ts';

/** The real PostgreSQL of the test machine: `PO_TEST_DATABASE_URL`, else 127.0.0.1:5432, database `test`. */
export const TEST_DATABASE_URL =
  process.env.PO_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** `<prefix>_<10 hex digits>`: a schema or table name no other test (or worktree) uses. */
export function randomName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/**
 * What the harness passes to the opener: a URL and a schema (PostgreSQL), or a folder (PGlite).
 * `openDatabase` of `@po/db` takes both shapes.
 */
export type TestDatabaseTarget = { url: string; schema: string } | { dataDir: string };

/** The part of `@po/db`'s `Database` the harness uses to clean up. */
export interface DroppableDatabase {
  query(sql: string): Promise<unknown>;
  close(): Promise<void>;
}

/** An opened test database and how to remove every trace of it. */
export interface OpenedTestDatabase<D> {
  db: D;
  /** PostgreSQL: drops the schema, then closes. PGlite: closes, then removes the folder. */
  cleanup(): Promise<void>;
}

/** One backend the shared database suites run against (`describe.each(backends)`, named by `$name`). */
export interface TestDatabaseBackend<D> {
  name: 'postgres' | 'pglite';
  /** Opens a database of its own: a fresh schema on the test server, or a fresh PGlite folder. */
  open(): Promise<OpenedTestDatabase<D>>;
}

export interface TestDatabaseOptions {
  /** Prefix of the schema and folder names (`po_runner`...), so a leftover says whose it is. Default `po_test`. */
  prefix?: string;
  /** The PostgreSQL server. Default `TEST_DATABASE_URL`. */
  url?: string;
}

/**
 * Both backends po runs on: PostgreSQL (a schema per `open()`, on the test server) and PGlite
 * (a temporary folder per `open()`). The opener is passed in (`openDatabase` of `@po/db`), so
 * that @po/db's own tests can use the harness without a dependency cycle.
 */
export function testDatabases<D extends DroppableDatabase>(
  open: (target: TestDatabaseTarget) => Promise<D>,
  options: TestDatabaseOptions = {},
): TestDatabaseBackend<D>[] {
  const prefix = options.prefix ?? 'po_test';
  return [
    { name: 'postgres', open: () => openPostgresSchema(open, { ...options, prefix }) },
    { name: 'pglite', open: () => openPgliteFolder(open, prefix) },
  ];
}

/** A fresh schema on the test server (`options.url`, else `TEST_DATABASE_URL`); cleanup drops it. */
export async function openPostgresSchema<D extends DroppableDatabase>(
  open: (target: { url: string; schema: string }) => Promise<D>,
  options: TestDatabaseOptions = {},
): Promise<OpenedTestDatabase<D> & { schema: string }> {
  const schema = randomName(options.prefix ?? 'po_test');
  const db = await open({ url: options.url ?? TEST_DATABASE_URL, schema });
  return {
    db,
    schema,
    async cleanup() {
      try {
        await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await db.close();
      }
    },
  };
}

async function openPgliteFolder<D extends DroppableDatabase>(
  open: (target: { dataDir: string }) => Promise<D>,
  prefix: string,
): Promise<OpenedTestDatabase<D>> {
  const dir = await tempDir(prefix);
  let db: D;
  try {
    db = await open({ dataDir: join(dir.path, 'pglite') });
  } catch (error) {
    await dir.remove();
    throw error;
  }
  return {
    db,
    async cleanup() {
      try {
        await db.close();
      } finally {
        await dir.remove();
      }
    },
  };
}
