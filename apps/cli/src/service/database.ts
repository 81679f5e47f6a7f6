import type { DashboardData, ResultsStore } from '@po/api';
import { describeError, errorCode, type Logger } from '@po/core';
import {
  createProcessDataSource,
  createResultStore,
  type Database,
  describeUrl,
  openDatabase,
  type ProcessDataSource,
  type ResultStore,
} from '@po/db';
import { seedDemo, startDemoFeeder } from '@po/runner';
import type { Settings } from '@po/settings';
import { CliError } from '../errors.ts';
import { PGLITE_TEMPLATES } from './pglite-template.ts';

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
  const { url, pglite_dir, query_timeout_ms, connect_timeout_ms, connect_retries } = settings.database;
  if (url)
    logger.info(
      { database: describeUrl(url), retries: connect_retries, connectTimeoutMs: connect_timeout_ms },
      '[po] connecting to the database (retried with backoff, then po gives up and exits 1)',
    );
  const db = await openDatabase({
    url,
    dataDir: pglite_dir,
    pgliteTemplates: PGLITE_TEMPLATES,
    queryTimeoutMs: query_timeout_ms,
    connectTimeoutMs: connect_timeout_ms,
    retry: { retries: connect_retries },
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
    if (errorCode(e) !== 'UNREACHABLE') throw e;
    throw new CliError(
      `${describeError(e)} po gives up at start after ${connect_retries + 1} attempts ` +
        '(database.connect_retries, PO_DB_CONNECT_RETRIES, sets how many); once running, it keeps retrying.',
    );
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

/** How long `/health` waits for the database's answer (a half-open link never answers). */
const HEALTH_QUERY_MS = 200;

async function databaseHealth(db: Database): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.query('SELECT 1'),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${HEALTH_QUERY_MS} ms`)),
          HEALTH_QUERY_MS,
        );
      }),
    ]);
    return { ok: true, kind: db.kind, target: db.target };
  } catch (e) {
    return { ok: false, kind: db.kind, target: db.target, reason: describeError(e).split('\n')[0] };
  } finally {
    clearTimeout(timer);
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
    addFeedback: async (id, feedback, by) => {
      try {
        return await results.addFeedback(id, feedback, by);
      } catch (e) {
        if (errorCode(e) === 'UNKNOWN_RESULT') return undefined;
        throw e;
      }
    },
  };
}

/** A fleet unit's side of the data: its id and its plant data source (`Unit` of @po/fleet). */
export interface UnitData {
  id: string;
  data: {
    table: string;
    timestamp_column: string;
    filter?: Record<string, string | number | boolean> | undefined;
  };
}

/**
 * What the dashboard reads: results with their feedback, plant data, the audit log. Without
 * `unit`, the single unit's (`runner.data_table`, results of unit ''); with it, that unit's
 * (its table and filter, its results).
 */
export function dashboardData(database: ServiceDatabase, settings: Settings, unit?: UnitData): DashboardData {
  const plant = createProcessDataSource(
    database.db,
    unit
      ? {
          table: unit.data.table,
          timestampColumn: unit.data.timestamp_column,
          ...(unit.data.filter ? { filter: unit.data.filter } : {}),
        }
      : { table: settings.runner.data_table },
  );
  const withStringId = <T extends { id: number }>(r: T): { id: string } & Record<string, unknown> => ({
    ...r,
    id: String(r.id),
  });
  const id = unit?.id ?? '';
  return {
    // One unit's results: a fleet's units (on the same database) each have their own views.
    results: async (query) => (await database.results.recent({ ...query, unit: id })).map(withStringId),
    columns: () => plant.columns(),
    plant: (columns, window) => plant.history(columns, window),
    audit: (entry) => database.results.audit(entry),
    auditLog: (limit) => database.results.auditLog(limit),
  };
}
