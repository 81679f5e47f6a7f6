import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { bundleFromFiles, type CyclePool, pooledStrategy, type ReplayService } from '@po/api';
import { type Logger, type ModelFileReader, PoError } from '@po/core';
import {
  createProcessDataSource,
  createReplayStore,
  type Database,
  type ProcessDataSource,
  type Replay,
  type ReplayStore,
} from '@po/db';
import { localModelFiles } from '@po/models';
import {
  cycleCounts,
  type LoadedStrategy,
  predictionChecks,
  type ReplayProgress,
  replayReport,
  runReplay,
} from '@po/runner';
import type { Settings } from '@po/settings';
import { readStrategy } from '@po/storage';
import { CliError } from '../errors.ts';
import { deployedVersion, openStore, storeModelReader } from './store.ts';

/** Which strategy a replay runs: a strategy file (with its models folder) or a version of the store. */
export interface ReplayStrategyChoice {
  config?: string;
  modelsDir?: string;
  /** A version in the store; neither this nor `config`: the deployed version. */
  version?: string;
}

/** A strategy compiled in every worker of the pool, with what a replay records of it. */
export interface ReplayStrategy {
  loaded: LoadedStrategy;
  /** Content hash of the strategy and its files: a resume must run the same. */
  key: string;
  /** `file:<path>` or `store:<version>`: where a resume finds it again. */
  source: string;
  /** Cycles the strategy runs per pool task: a replay keeps that many times more in flight. */
  cyclesPerTask: number;
}

/**
 * A replay's cycles per pool task: a demo cycle costs a worker about as much as the messages
 * of its own task cost the replay's thread, which feeds both workers.
 */
const CYCLES_PER_TASK = 8;

/** Loads the chosen strategy into the pool (compiled once per worker). */
export async function loadReplayStrategy(
  pool: CyclePool,
  settings: Settings,
  choice: ReplayStrategyChoice,
): Promise<ReplayStrategy> {
  let text: string;
  let reader: ModelFileReader;
  let version: string | null;
  let source: string;
  let close = async () => {};
  if (choice.config) {
    const path = resolve(choice.config);
    text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new CliError(
        `[po] cannot read strategy '${choice.config}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
      );
    });
    reader = localModelFiles(resolve(choice.modelsDir ?? dirname(path)));
    version = null;
    source = `file:${path}`;
  } else {
    const store = await openStore(settings);
    close = async () => store.close?.();
    try {
      const chosen = choice.version ?? (await deployedVersion(store, settings));
      if (!chosen)
        throw new CliError(
          '[po] no strategy is deployed; give --strategy <version> or --config <file> (po replay --help)',
        );
      text = (await readStrategy(store, chosen)).text;
      version = chosen;
      source = `store:${chosen}`;
      reader = storeModelReader(store);
    } catch (e) {
      await close();
      throw e;
    }
  }
  try {
    const bundle = await bundleFromFiles(text, reader, { version });
    const strategy = await pooledStrategy(pool, bundle, {
      // The replay stores the categorized maps of a result alone: the workers answer without the others.
      omit: ['variables', 'derived_variables'],
      cyclesPerTask: CYCLES_PER_TASK,
    });
    await pool.warm(bundle);
    return { loaded: { version, strategy }, key: bundle.key, source, cyclesPerTask: CYCLES_PER_TASK };
  } finally {
    await close();
  }
}

/** The strategy choice a replay was started with, from its recorded source. */
export function choiceOf(replay: Replay): ReplayStrategyChoice {
  const source = replay.strategySource ?? '';
  if (source.startsWith('file:')) return { config: source.slice('file:'.length) };
  if (source.startsWith('store:')) return { version: source.slice('store:'.length) };
  throw new CliError(
    `[po] replay '${replay.id}' does not say where its strategy came from; give --config or --strategy`,
  );
}

/** The database side of replays: the replay store and the plant data table. */
export interface ReplayTables {
  store: ReplayStore;
  data: ProcessDataSource;
}

export async function openReplayTables(db: Database, settings: Settings): Promise<ReplayTables> {
  return {
    store: await createReplayStore(db, { tables: { results: settings.runner.results_table } }),
    data: createProcessDataSource(db, { table: settings.runner.data_table }),
  };
}

/**
 * Runs (or resumes) a replay to its end or until `signal`, then records its status and
 * counts. Rejects, with the replay marked failed, when the data or the store fails.
 */
export async function executeReplay(options: {
  tables: ReplayTables;
  replay: Replay;
  strategy: ReplayStrategy;
  concurrency: number;
  signal?: AbortSignal;
  onProgress?: (progress: ReplayProgress) => void;
  /** Where the replay's model-plant mismatch monitor says a critical model went bad or recovered. */
  logger?: Logger;
}) {
  const { tables, replay, strategy } = options;
  if (strategy.key !== replay.strategyKey)
    throw new CliError(
      `[po] replay '${replay.id}' ran a different strategy (or different model files) than ${strategy.source}: start a new replay instead of resuming this one`,
    );
  try {
    const outcome = await runReplay({
      replayId: replay.id,
      strategy: strategy.loaded,
      data: tables.data,
      sink: tables.store,
      window: { from: replay.from, to: replay.to },
      every: replay.every,
      // `concurrency` tasks in flight, each of `cyclesPerTask` cycles.
      concurrency: options.concurrency * strategy.cyclesPerTask,
      // Small batches: progress moves often, and an interrupt loses at most a batch in flight.
      batchSize: 100,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const counts = countsOf(await tables.store.outcomes(replay.id));
    await tables.store.update(replay.id, { status: outcome.interrupted ? 'interrupted' : 'done', counts });
    return outcome;
  } catch (e) {
    await tables.store
      .update(replay.id, {
        status: 'failed',
        reason: e instanceof Error ? e.message.split('\n')[0]! : String(e),
      })
      .catch(() => {});
    throw e;
  }
}

function countsOf(cycles: Parameters<typeof cycleCounts>[0]): Record<string, number> {
  const { skipped_reasons: _s, failed_reasons: _f, ...counts } = cycleCounts(cycles);
  return counts;
}

/** Creates a replay of `strategy` over a window. */
export async function createReplay(
  tables: ReplayTables,
  strategy: ReplayStrategy,
  window: { from: Date; to: Date; every: number },
): Promise<Replay> {
  return tables.store.create({
    dataTable: tables.data.table,
    from: window.from,
    to: window.to,
    every: window.every,
    strategyKey: strategy.key,
    strategyVersion: strategy.loaded.version,
    strategySource: strategy.source,
    rowsInWindow: await tables.data.countBetween(window),
    // Which predictions the report compares with the plant, and how far ahead.
    predictionChecks: predictionChecks(strategy.loaded.strategy.spec),
  });
}

/** Options of `httpReplays`. */
export interface HttpReplayOptions {
  pool: CyclePool;
  db: Database;
  logger: Logger;
  /** Largest window a client may replay, in plant rows (after --every). Default 50,000. */
  maxRows?: number;
}

/**
 * `POST /replays` and `GET /replays/{id}` on the service's pool and database: one replay at a
 * time, bounded in rows, run in the background on the pool the API and the runner share.
 */
export function httpReplays(settings: Settings, options: HttpReplayOptions): ReplayService {
  const maxRows = options.maxRows ?? 50_000;
  const invalid = (message: string, cause?: unknown) =>
    new PoError('replay', 'REPLAY_INVALID', message, cause === undefined ? undefined : { cause });
  let tables: Promise<ReplayTables> | undefined;
  const open = () => {
    tables ??= openReplayTables(options.db, settings).catch((e: unknown) => {
      tables = undefined;
      throw e;
    });
    return tables;
  };
  let running: string | undefined;
  return {
    async start(request) {
      if (running)
        throw new PoError(
          'replay',
          'REPLAY_BUSY',
          `replay ${running} is running; wait for it (GET /replays/${running})`,
        );
      const t = await open();
      const rows = await t.data.countBetween(request);
      if (Math.ceil(rows / request.every) > maxRows)
        throw invalid(
          `the window holds ${rows} rows (${Math.ceil(rows / request.every)} with every ${request.every}); at most ${maxRows} per replay over HTTP: narrow it, raise every, or use po replay`,
        );
      const choice: ReplayStrategyChoice = request.strategy
        ? { version: request.strategy }
        : settings.strategy.file
          ? {
              config: settings.strategy.file,
              ...(settings.strategy.models_dir ? { modelsDir: settings.strategy.models_dir } : {}),
            }
          : {};
      const strategy = await loadReplayStrategy(options.pool, settings, choice).catch((e: unknown) => {
        throw invalid(
          `strategy ${request.strategy ?? '(deployed)'} cannot be replayed: ${e instanceof Error ? e.message : String(e)}`,
          e,
        );
      });
      const replay = await createReplay(t, strategy, request);
      running = replay.id;
      executeReplay({
        tables: t,
        replay,
        strategy,
        concurrency: options.pool.stats().threads * 2,
        logger: taggedLogger(options.logger, { replay: replay.id }),
      })
        .then((outcome) => options.logger.info({ id: replay.id, ...outcome }, '[po] replay done'))
        .catch((e: unknown) => options.logger.error({ id: replay.id, err: e }, '[po] replay failed'))
        .finally(() => {
          running = undefined;
        });
      return { id: replay.id, rows };
    },
    async report(id) {
      const t = await open();
      const replay = await t.store.get(id);
      return replay && replayReport(replay, await t.store.cycles(id));
    },
  };
}

/** `logger` with `fields` added to every line (which replay a monitor message is about). */
function taggedLogger(logger: Logger, fields: object): Logger {
  return {
    debug: (f, message) => logger.debug({ ...fields, ...f }, message),
    info: (f, message) => logger.info({ ...fields, ...f }, message),
    warn: (f, message) => logger.warn({ ...fields, ...f }, message),
    error: (f, message) => logger.error({ ...fields, ...f }, message),
  };
}
