import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Database, openDatabase } from '../src/index.ts';

/** The real PostgreSQL of the test machine (override with PO_TEST_DATABASE_URL). */
export const POSTGRES_URL = process.env.PO_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  name: 'postgres' | 'pglite';
  /** Opens a database isolated from other test files (its own schema, or its own PGlite folder). */
  open(): Promise<{ db: Database; cleanup(): Promise<void> }>;
}

export const randomSchema = () => `po_db_test_${randomBytes(6).toString('hex')}`;

/** Both backends; every shared suite runs against each. */
export const testDatabases: TestDatabase[] = [
  {
    name: 'postgres',
    async open() {
      const schema = randomSchema();
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
      const dir = await mkdtemp(join(tmpdir(), 'po-pglite-'));
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
