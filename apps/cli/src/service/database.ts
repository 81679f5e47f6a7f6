import type { ResultsStore } from '@po/api';
import { describeError, errorCode, type Logger } from '@po/core';
import {
  createProcessDataSource,
  createResultStore,
  type Database,
  openDatabase,
  type ProcessDataSource,
  type ResultStore,
} from '@po/db';
import { seedDemo, startDemoFeeder } from '@po/runner';
import type { Settings } from '@po/settings';

/** The service's database: PostgreSQL (`database.url`) or the embedded PGlite, with the results tables. */
export interface ServiceDatabase {
  readonly db: Database;
  readonly results: ResultStore;
  /** `/health`'s section: whether the database answers now (a trivial query). */
  health(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Opens the database and its results tables. */
export async function openServiceDatabase(settings: Settings, logger: Logger): Promise<ServiceDatabase> {
  const db = await openDatabase({
    url: settings.database.url,
    dataDir: settings.database.pglite_dir,
    schema: settings.database.schema,
    logger,
  });
  try {
    const results = await createResultStore(db, {
      tables: { results: settings.runner.results_table },
      dataTable: settings.runner.data_table,
    });
    return { db, results, health: () => databaseHealth(db), close: () => db.close() };
  } catch (e) {
    await db.close();
    throw e;
  }
}

/** The plant data the runner reads, and the demo kiln's feed of it on the embedded database. */
export interface PlantData {
  readonly source: ProcessDataSource;
  /** Stops the demo feed (nothing to stop on PostgreSQL). */
  stop(): void;
}

/**
 * The plant data table (`runner.data_table`). On the embedded database it is seeded with the
 * demo kiln's history and fed one row per cycle interval; on PostgreSQL the plant writes it.
 */
export async function openPlantData(
  database: ServiceDatabase,
  settings: Settings,
  logger: Logger,
): Promise<PlantData> {
  const { db } = database;
  const table = settings.runner.data_table;
  if (db.kind !== 'pglite') return { source: createProcessDataSource(db, { table }), stop() {} };
  const demo = await seedDemo(db, { table, intervalS: settings.runner.cycle_interval_s });
  const intervalMs = settings.runner.cycle_interval_s * 1000;
  const feeder = startDemoFeeder({ source: demo.source, kiln: demo.kiln, intervalMs, logger });
  logger.info(
    { database: db.target, seeded: demo.inserted },
    '[po] embedded demo database, fed by the demo kiln',
  );
  return { source: demo.source, stop: () => feeder.stop() };
}

async function databaseHealth(db: Database): Promise<Record<string, unknown>> {
  try {
    await db.query('SELECT 1');
    return { ok: true, kind: db.kind, target: db.target };
  } catch (e) {
    return { ok: false, kind: db.kind, target: db.target, reason: describeError(e).split('\n')[0] };
  }
}

/** The results store as the API reads it (string ids; an unknown id is a 404, not an error). */
export function httpResults(results: ResultStore): ResultsStore {
  const withStringId = <T extends { id: number }>(r: T): { id: string } & Record<string, unknown> => ({
    ...r,
    id: String(r.id),
  });
  return {
    recent: async ({ since, limit }) =>
      (await results.recent({ ...(since ? { since } : {}), limit })).map(withStringId),
    get: async (id) => {
      const r = await results.get(id);
      return r && withStringId(r);
    },
    addFeedback: async (id, feedback) => {
      try {
        return await results.addFeedback(id, feedback);
      } catch (e) {
        if (errorCode(e) === 'UNKNOWN_RESULT') return undefined;
        throw e;
      }
    },
  };
}
