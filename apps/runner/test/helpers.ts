import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createReplayStore, type Database, openDatabase, type ReplayStore } from '@po/db';
import { createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { type TestDatabaseBackend, testDatabases } from '@po/test-kit';
import { afterAll, beforeAll } from 'vitest';

export const DEMO_DIR = join(import.meta.dirname, '../../../config/demo');

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

/** Both backends: PostgreSQL (a schema per test file) and PGlite (a folder per test file). */
export const backends = testDatabases(openDatabase, { prefix: 'po_runner' });

/**
 * The database and replay store of one `describe` block on `backend`: opened in its `beforeAll`,
 * removed in its `afterAll`. Read `db` and `store` inside tests and hooks.
 */
export function replayStoreOn(backend: TestDatabaseBackend<Database>): { db: Database; store: ReplayStore } {
  let opened: { db: Database; store: ReplayStore; cleanup: () => Promise<void> } | undefined;
  beforeAll(async () => {
    const { db, cleanup } = await backend.open();
    opened = { db, cleanup, store: await createReplayStore(db) };
  }, 120_000);
  afterAll(async () => {
    await opened?.cleanup();
  });
  const get = () => {
    if (!opened) throw new Error(`replayStoreOn(${backend.name}): the database opens in beforeAll`);
    return opened;
  };
  return {
    get db() {
      return get().db;
    },
    get store() {
      return get().store;
    },
  };
}
