import { type Logger, type StrategySource, silentLogger } from '@po/core';
import {
  createProcessDataSource,
  type Database,
  type ProcessDataSource,
  type Queryable,
  quoteIdent,
  type ResultStore,
} from '@po/db';
import {
  type CycleStrategy,
  InputValidator,
  type LoadedStrategy,
  MismatchTracker,
  messageOf,
  plantColumns,
  runCycle,
} from '@po/runner';
import type { Db as BossDb, Job } from 'pg-boss';
import { FleetError } from './errors.ts';
import { emptyCounters, type UnitCounters } from './metrics.ts';
import {
  checkMismatchTable,
  cycleStanding,
  pruneTrackers,
  saveTracker,
  trackerOf,
  UNIT_MISMATCH_TABLE,
} from './mismatch.ts';
import { createUnitRegistry, DROPPED_TABLE, ensureFleetTables, type UnitRegistry } from './registry.ts';
import { type CycleJob, queryableOf, scheduleDue } from './scheduler.ts';
import type { Unit } from './units.ts';

/**
 * Cycle jobs taken per fetch (one transaction; a failure retries them all, their results are still
 * written once). A fetch takes at most one job per unit (the queue's policy), each of up to
 * ROWS_PER_JOB rows: a transaction runs at most BATCH x ROWS_PER_JOB cycles (well within
 * `expireS` on a slow machine), and a small batch spreads the units over fetch loops and workers.
 */
const BATCH = 3;

/**
 * The pg-boss queue of cycle jobs. Its policy, `key_strict_fifo` keyed by unit, delivers a unit's
 * jobs one at a time and in data-time order (a job active or waiting for its retry holds back the
 * unit's later ones), while different units run at once on every fetch loop of every worker. A
 * policy is fixed when pg-boss creates a queue: the name is new with the policy.
 */
export const CYCLE_QUEUE = 'po-unit-cycles';

export interface FleetWorkerOptions {
  /** po's database (PostgreSQL), its schema holding the results and the fleet's tables. */
  db: Database;
  /** The same database's URL, for pg-boss's own pool. */
  url: string;
  results: ResultStore;
  /** The results table `results` writes (`PO_RESULTS_TABLE`). Default `optimization_results`. */
  resultsTable?: string;
  /** The table of each unit's model-plant mismatch tracker (migration 007 of @po/db). Default `po_unit_mismatch`. */
  mismatchTable?: string;
  /** Where each unit's strategy comes from (its deploy pointer). Asked before every cycle. */
  strategies: (unit: Unit) => StrategySource<CycleStrategy>;
  /** Schema of pg-boss's tables. Default `pgboss`. */
  queueSchema?: string;
  /** Cycles run at once by this worker. Default 4. */
  concurrency?: number;
  /** A job whose data is older than this when a worker takes it is dropped and counted, not run. Default 300. */
  maxLateS?: number;
  /** A job active longer than this is given to another worker (its worker died). Default 30. */
  expireS?: number;
  /** How often this worker looks for due units, ms. Default 500. */
  scheduleEveryMs?: number;
  logger?: Logger;
}

export interface FleetWorker {
  /** Per unit, what this worker did (since start). */
  counters(): ReadonlyMap<string, UnitCounters>;
  readonly units: UnitRegistry;
  /** Stops scheduling and fetching, lets the cycles in progress finish and commit, then closes pg-boss. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

/** The validator of each unit on this worker (last good values), and its strategy columns. */
interface UnitRuntime {
  validator: InputValidator;
  counters: UnitCounters;
}

/**
 * A fleet worker: schedules due units and runs cycle jobs from pg-boss, each job's result
 * written in the transaction that completes it (`transactional` work), so a result is
 * recorded once and a job completes with it, or neither. Any number of workers share the
 * queue; a dead worker's job is given to another after `expireS`.
 */
export async function startFleetWorker(options: FleetWorkerOptions): Promise<FleetWorker> {
  const { db } = options;
  if (db.kind !== 'postgres')
    throw new FleetError(
      'NEEDS_POSTGRES',
      'The fleet needs PostgreSQL (set DATABASE_URL); the embedded database runs one unit.',
    );
  const logger = options.logger ?? silentLogger;
  const concurrency = options.concurrency ?? 4;
  const maxLateS = options.maxLateS ?? 300;
  const expireS = Math.max(1, Math.round(options.expireS ?? 30));
  await ensureFleetTables(db);
  const mismatchTable = options.mismatchTable ?? UNIT_MISMATCH_TABLE;
  await checkMismatchTable(db, mismatchTable);
  const units = createUnitRegistry(db);
  // Loaded here, not at the top: a bundle that links the fleet (the po CLI) loads pg-boss only in
  // a process that runs one.
  const { PgBoss } = await import('pg-boss');
  const boss = new PgBoss({
    connectionString: options.url,
    schema: options.queueSchema ?? 'pgboss',
    // Handlers' transactions write po's tables: they see po's schema first.
    options: `-c search_path=${db.schema}`,
    max: concurrency + 4,
    application_name: 'po-fleet',
    monitorIntervalSeconds: Math.min(expireS, 60),
    superviseIntervalSeconds: Math.min(expireS, 60),
    schedule: false,
    instanceName: 'po-fleet-worker',
  });
  boss.on('error', (e) => logger.warn({ err: messageOf(e) }, '[po/fleet] queue'));
  await boss.start();
  await boss.createQueue(CYCLE_QUEUE, {
    policy: 'key_strict_fifo',
    expireInSeconds: expireS,
    retryLimit: 1000,
    retryDelay: 1,
    retryBackoff: true,
    retryDelayMax: 30,
    deleteAfterSeconds: 24 * 3600,
  });
  const queue = await boss.getQueue(CYCLE_QUEUE);
  if (queue?.policy !== 'key_strict_fifo') {
    await boss.stop({ graceful: false, close: true });
    throw new FleetError(
      'QUEUE_POLICY',
      `The queue '${CYCLE_QUEUE}' in schema "${options.queueSchema ?? 'pgboss'}" has policy '${queue?.policy}', not 'key_strict_fifo' (a unit's cycles one at a time, in data-time order): delete that queue (pg-boss deleteQueue) and start again.`,
    );
  }

  const runtimes = new Map<string, UnitRuntime>();
  const runtime = (id: string) => {
    let r = runtimes.get(id);
    if (!r) runtimes.set(id, (r = { validator: new InputValidator(), counters: emptyCounters() }));
    return r;
  };
  const shutdown = new AbortController();
  const handle = cycleHandler({
    ...options,
    unitOf: cachedUnits(units),
    resultsTable: quoteIdent(options.resultsTable ?? 'optimization_results', 'results table'),
    mismatchTable,
    sourceOf: cachedSources(db),
    runtime,
    maxLateS,
    logger,
    signal: shutdown.signal,
  });
  await boss.work<
    CycleJob,
    void,
    {
      transactional: true;
      localConcurrency: number;
      batchSize: number;
      pollingIntervalSeconds: number;
      burstWhenBatchFull: boolean;
    }
  >(
    CYCLE_QUEUE,
    // A batch per fetch and transaction: pg-boss's cost per job (fetch, begin, complete, commit) is
    // shared by the batch's cycles. pg-boss waits the polling interval after every fetch, even a full one:
    // without burst, each of the `concurrency` fetch loops ran at most BATCH cycles per 0.5 s
    // (40 cycles/s per worker at concurrency 2, whatever the cores). A full batch now fetches the
    // next at once; a short one (the queue caught up) goes back to polling.
    {
      transactional: true,
      localConcurrency: concurrency,
      batchSize: BATCH,
      pollingIntervalSeconds: 0.5,
      burstWhenBatchFull: true,
    },
    async (jobs: Job<CycleJob>[], tx: BossDb) => {
      // One job per unit. By unit: two transactions with the same jobs (an expired job's twin) take
      // the units' locks in the same order, never in a circle.
      const ordered = [...jobs].sort((a, b) =>
        a.data.unit < b.data.unit ? -1 : a.data.unit > b.data.unit ? 1 : 0,
      );
      for (const job of ordered) await handle(job, tx);
    },
  );
  const scheduling = scheduleLoop({
    run: () => scheduleDue({ db, boss, queue: CYCLE_QUEUE, maxLateS, logger }),
    everyMs: options.scheduleEveryMs ?? 500,
    logger,
    what: 'scheduling pass',
  });
  // The units' tracker states no cycle can start from any more (each worker; a cheap delete).
  const pruning = scheduleLoop({
    run: () => pruneTrackers(db, mismatchTable, maxLateS),
    everyMs: 60_000,
    logger,
    what: 'pruning of model-plant mismatch states',
  });
  logger.info({ concurrency, maxLateS, expireS }, '[po/fleet] worker started');
  return {
    counters: () => new Map([...runtimes].map(([id, r]) => [id, r.counters])),
    units,
    async stop({ timeoutMs = 20_000 } = {}) {
      await scheduling.stop();
      await pruning.stop();
      const hurry = setTimeout(() => shutdown.abort(), timeoutMs / 2);
      try {
        await boss.stop({ graceful: true, timeout: timeoutMs, close: true });
      } finally {
        clearTimeout(hurry);
      }
      logger.info({}, '[po/fleet] worker stopped');
    },
  };
}

/** Units by id, each read at most every few seconds (a removed or changed unit is seen within them). */
function cachedUnits(units: UnitRegistry, ttlMs = 3000): (id: string) => Promise<Unit | undefined> {
  const cache = new Map<string, { at: number; unit: Promise<Unit | undefined> }>();
  return (id) => {
    const hit = cache.get(id);
    if (hit && Date.now() - hit.at < ttlMs) return hit.unit;
    const unit = units.get(id);
    cache.set(id, { at: Date.now(), unit });
    unit.catch(() => cache.delete(id));
    return unit;
  };
}

/** One data source per unit definition (it remembers the table's columns). */
function cachedSources(db: Database): (unit: Unit) => ProcessDataSource {
  const sources = new Map<string, ProcessDataSource>();
  return (unit) => {
    const key = JSON.stringify(unit.data);
    let source = sources.get(key);
    if (!source) {
      source = createProcessDataSource(db, {
        table: unit.data.table,
        timestampColumn: unit.data.timestamp_column,
        ...(unit.data.filter ? { filter: unit.data.filter } : {}),
      });
      sources.set(key, source);
    }
    return source;
  };
}

/** Runs `run` every `everyMs` until stopped; errors are logged (the next pass retries). */
function scheduleLoop(o: { run: () => Promise<number>; everyMs: number; logger: Logger; what: string }) {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const pass = () => {
    current = o
      .run()
      .catch((e: unknown) => o.logger.warn({ err: messageOf(e) }, `[po/fleet] ${o.what} failed`))
      .finally(() => {
        if (!stopped) timer = setTimeout(pass, o.everyMs);
      });
  };
  pass();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}

interface HandlerParts extends FleetWorkerOptions {
  /** The results table, quoted. */
  resultsTable: string;
  /** The unit by id (cached for a few seconds; undefined once removed). */
  unitOf: (id: string) => Promise<Unit | undefined>;
  /** The unit's plant data, read outside the job's transaction. */
  sourceOf: (unit: Unit) => ProcessDataSource;
  runtime: (id: string) => UnitRuntime;
  /** The table of the units' mismatch trackers, quoted. */
  mismatchTable: string;
  maxLateS: number;
  logger: Logger;
  signal: AbortSignal;
}

/**
 * One cycle job inside pg-boss's transaction: its rows in data-time order, each recorded or
 * dropped already (a job sent again) -> nothing; too late -> dropped and counted; else validated
 * and run (the runner's cycle), its result recorded through the same transaction. A throw rolls
 * everything back and the job is retried (an unreachable database, no strategy deployed yet).
 *
 * The queue hands a unit's jobs out one at a time, in data-time order, so when the strategy
 * monitors model-plant mismatch the unit's tracker continues from the state its previous cycle
 * stored (any worker's), and its state after the job's last cycle is stored with the results: a
 * retried job neither loses nor repeats a step, and a worker taking over continues it.
 */
function cycleHandler(parts: HandlerParts): (job: Job<CycleJob>, tx: BossDb) => Promise<void> {
  const { logger } = parts;
  const columnsBySpec = new WeakMap<object, string[]>();
  const columnsOf = (spec: Parameters<typeof plantColumns>[0]) => {
    let c = columnsBySpec.get(spec);
    if (!c) columnsBySpec.set(spec, (c = plantColumns(spec)));
    return c;
  };
  const probe = new MismatchTracker(logger);
  const tables = { results: parts.resultsTable, dropped: DROPPED_TABLE, mismatch: parts.mismatchTable };
  return async (job, txDb) => {
    const tx = queryableOf(txDb);
    // Each time is a row's exact time (microseconds): every query below compares it as such.
    const { unit: id, times } = job.data;
    if (!Array.isArray(times) || times.length === 0 || times.some((t) => typeof t !== 'string')) {
      logger.error(
        { unit: id, job: job.id, data: job.data },
        "[po/fleet] cycle job without its rows' times (data.times); not run",
      );
      return;
    }
    const unit = await parts.unitOf(id);
    if (!unit) {
      logger.warn({ unit: id, times }, '[po/fleet] job of a removed unit; not run');
      return;
    }
    const r = parts.runtime(id);
    // Uncontended, but for an expired job's twin: pg-boss gives a job active past `expireS` to
    // another worker, while the first attempt may still commit. The later attempt waits here, then
    // sees what the earlier recorded or dropped.
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`po/fleet ${id}`]);
    let standing = await cycleStanding(tx, tables, id, times, times[0]!);
    const todo = times.filter((t) => !standing.done.has(t));
    if (todo.length < times.length)
      logger.warn(
        { unit: id, times: times.filter((t) => standing.done.has(t)) },
        '[po/fleet] cycles already recorded or dropped (a job sent again); not run again',
      );
    if (todo.length === 0) return;
    // A job sent again over rows partly done: the tracker continues from before its first row to run.
    if (todo[0] !== times[0]) standing = await cycleStanding(tx, tables, id, [], todo[0]!);
    let loaded: LoadedStrategy | undefined;
    let mismatch: MismatchTracker | undefined;
    let last: string | undefined;
    for (const at of todo) {
      if (await dropIfLate(tx, parts, r, id, at)) continue;
      if (!loaded) {
        loaded = await strategyOf(parts.strategies(unit), unit, r);
        if (probe.monitors(loaded.strategy.spec, loaded.version))
          mismatch = trackerOf(standing.tracker, tagged(logger, id));
      }
      await runOne(tx, parts, { unit, r, loaded, columns: columnsOf(loaded.strategy.spec), at, mismatch });
      last = at;
    }
    if (mismatch && last) await saveTracker(tx, parts.mismatchTable, id, last, mismatch);
  };
}

/** Drops the unit's cycle at `at` when its data is older than the late limit; whether it did. */
async function dropIfLate(
  tx: Queryable,
  parts: HandlerParts,
  r: UnitRuntime,
  id: string,
  at: string,
): Promise<boolean> {
  const ageS = (Date.now() - Date.parse(at)) / 1000;
  if (ageS <= parts.maxLateS) return false;
  const inserted = await tx.query(
    `INSERT INTO ${DROPPED_TABLE} (unit, data_timestamp, age_s) VALUES ($1, $2::timestamptz, $3)
     ON CONFLICT DO NOTHING`,
    [id, at, ageS],
  );
  if (inserted.rowCount === 0) return true;
  r.counters.droppedLate++;
  parts.logger.warn(
    { unit: id, at, ageS: Math.round(ageS), maxLateS: parts.maxLateS },
    '[po/fleet] late job dropped',
  );
  return true;
}

/** Runs and records the unit's cycle on its row at `at` (a skipped record when the row is gone). */
async function runOne(
  tx: Queryable,
  parts: HandlerParts,
  c: {
    unit: Unit;
    r: UnitRuntime;
    loaded: LoadedStrategy;
    columns: string[];
    at: string;
    mismatch: MismatchTracker | undefined;
  },
): Promise<void> {
  const { unit, r, loaded, columns, at } = c;
  const row = await parts
    .sourceOf(unit)
    .at(at, columns)
    .catch((e: unknown) => {
      r.counters.retried++;
      throw e;
    });
  const record = row
    ? await runCycle(loaded, columns, row, {
        validator: r.validator,
        clock: { now: () => new Date() },
        mode: unit.mode,
        signal: parts.signal,
        ...(c.mismatch ? { mismatch: c.mismatch } : {}),
      })
    : {
        dataTimestamp: new Date(at),
        dataTime: at,
        status: 'skipped' as const,
        reason: `no row at ${at} in ${unit.data.table}`,
        strategyVersion: loaded.version,
      };
  const fresh = await parts.results.recordCycle({ ...record, unit: unit.id, dataTable: unit.data.table }, tx);
  // The unit's lock is held and the cycle was not recorded when it was taken: another writer of the
  // results table recorded it meanwhile. Nothing of this attempt is kept (the tracker's step neither).
  if (!fresh)
    throw new FleetError(
      'ALREADY_RECORDED',
      `The cycle of unit '${unit.id}' at ${at} was recorded meanwhile by a writer outside the fleet's lock; this attempt rolls back.`,
    );
  count(r.counters, record, Date.parse(at));
  parts.logger[record.status === 'failed' ? 'error' : 'debug'](
    {
      unit: unit.id,
      at,
      status: record.status,
      durationMs: record.durationMs,
      ...(record.reason ? { reason: record.reason } : {}),
    },
    '[po/fleet] cycle',
  );
}

/** The logger with the unit in every line (the mismatch tracker's messages). */
function tagged(logger: Logger, unit: string): Logger {
  return {
    debug: (fields, message) => logger.debug({ unit, ...fields }, message),
    info: (fields, message) => logger.info({ unit, ...fields }, message),
    warn: (fields, message) => logger.warn({ unit, ...fields }, message),
    error: (fields, message) => logger.error({ unit, ...fields }, message),
  };
}

async function strategyOf(
  source: StrategySource<CycleStrategy>,
  unit: Unit,
  r: UnitRuntime,
): Promise<LoadedStrategy> {
  const loaded = await source.current();
  if (!loaded) {
    r.counters.retried++;
    throw new FleetError(
      'UNKNOWN_UNIT',
      `Unit '${unit.id}' has no strategy deployed (${source.status().error ?? `po units deploy ${unit.id} <version>`}); the job is retried.`,
    );
  }
  return loaded;
}

function count(
  c: UnitCounters,
  record: { status: 'ok' | 'skipped' | 'failed'; durationMs?: number | null },
  atMs: number,
) {
  c.cycles[record.status]++;
  if (typeof record.durationMs === 'number') {
    c.durationMs.sum += record.durationMs;
    c.durationMs.count++;
  }
  c.lastDelayS = (Date.now() - atMs) / 1000;
}
