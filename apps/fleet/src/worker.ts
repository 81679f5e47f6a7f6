import { type Logger, type StrategySource, silentLogger } from '@po/core';
import {
  createProcessDataSource,
  type Database,
  exactTimeSql,
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
  pruneTrackers,
  saveTracker,
  trackerAt,
  trackerBefore,
  trackerOf,
  UNIT_MISMATCH_TABLE,
} from './mismatch.ts';
import { createUnitRegistry, DROPPED_TABLE, ensureFleetTables, type UnitRegistry } from './registry.ts';
import { type CycleJob, queryableOf, scheduleDue } from './scheduler.ts';
import type { Unit } from './units.ts';

/** Cycle jobs taken per fetch (one transaction; a failure retries them all, their results are still written once). */
const BATCH = 10;

/** The pg-boss queue of cycle jobs. */
export const CYCLE_QUEUE = 'po-cycles';

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
    expireInSeconds: expireS,
    retryLimit: 1000,
    retryDelay: 1,
    retryBackoff: true,
    retryDelayMax: 30,
    deleteAfterSeconds: 24 * 3600,
  });

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
    // shared by BATCH cycles. pg-boss waits the polling interval after every fetch, even a full one:
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
      // By unit, then data time: every transaction locks units' rows in the same order (no
      // deadlock between workers), and a unit's rows run in order.
      const ordered = [...jobs].sort((a, b) =>
        a.data.unit === b.data.unit
          ? Date.parse(a.data.at) - Date.parse(b.data.at) || (a.data.at < b.data.at ? -1 : 1)
          : a.data.unit < b.data.unit
            ? -1
            : 1,
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
 * One cycle job inside pg-boss's transaction: too late -> dropped and counted; else the
 * unit's row at the job's timestamp is validated and run (the runner's cycle), and the
 * result recorded through the same transaction. A throw rolls everything back and the job
 * is retried (an unreachable database, no strategy deployed yet).
 *
 * When the strategy monitors model-plant mismatch, the unit's tracker continues from its state
 * after the unit's previous cycle (stored in the transaction of that cycle, any worker's) and
 * must take the rows in data-time order: rows between that cycle and the job's that no job has
 * run yet are run first, here, in order (their own jobs then find them recorded). Its state after
 * each cycle is stored with the result, so a retried job neither loses nor repeats a step and a
 * worker taking over continues it. Each row run is locked (an advisory lock per unit and data
 * timestamp, taken in data-time order, jobs sorted by unit and time: no deadlock).
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
  return async (job, txDb) => {
    const tx = queryableOf(txDb);
    // `at` is the row's exact time (microseconds): every query below compares it as such.
    const { unit: id, at } = job.data;
    const unit = await parts.unitOf(id);
    if (!unit) {
      logger.warn({ unit: id, at }, '[po/fleet] job of a removed unit; not run');
      return;
    }
    const r = parts.runtime(id);
    const done = (times: readonly string[]) => doneOf(tx, parts.resultsTable, id, times);
    const ageS = (Date.now() - Date.parse(at)) / 1000;
    if (ageS > parts.maxLateS) {
      await runAt(tx, parts, { unit, r, at, own: true });
      return;
    }
    if ((await done([at])).size > 0) {
      logger.warn({ unit: id, at }, '[po/fleet] cycle already recorded or dropped (a retried job)');
      return;
    }
    const loaded = await strategyOf(parts.strategies(unit), unit, r);
    const cycle = { unit, r, loaded, columns: columnsOf(loaded.strategy.spec) };
    if (!probe.monitors(loaded.strategy.spec, loaded.version)) {
      await runAt(tx, parts, { ...cycle, at, own: true });
      return;
    }
    const previous = await trackerBefore(tx, parts.mismatchTable, id, at);
    const unitLogger = tagged(logger, id);
    let tracker = trackerOf(previous?.snapshot, unitLogger);
    // Rows between the previous cycle and this job's that no job has run yet, oldest first. Rows
    // older than the late limit are dropped anyway (their jobs drop them): they are not looked for.
    const floor = Date.now() - parts.maxLateS * 1000;
    const after = previous && Date.parse(previous.at) >= floor ? previous.at : new Date(floor);
    const earlier = await pendingBetween(parts.sourceOf(unit), after, at, done);
    if (earlier.length > 0)
      logger.debug(
        { unit: id, at, earlier: earlier.length },
        '[po/fleet] earlier rows of the unit run first (model-plant mismatch in data-time order)',
      );
    for (const time of earlier) {
      const outcome = await runAt(tx, parts, { ...cycle, at: time, mismatch: tracker });
      // Another worker ran it meanwhile: continue from the state it stored.
      if (outcome === 'done') {
        const stored = await trackerAt(tx, parts.mismatchTable, id, time);
        if (stored) tracker = trackerOf(stored, unitLogger);
      }
    }
    await runAt(tx, parts, { ...cycle, at, mismatch: tracker, own: true });
  };
}

/** Of `times` (exact), those of the unit already recorded or dropped, in the exact form. */
async function doneOf(
  tx: Queryable,
  resultsTable: string,
  unit: string,
  times: readonly string[],
): Promise<Set<string>> {
  if (times.length === 0) return new Set();
  const r = await tx.query<{ t: string }>(
    `SELECT ${exactTimeSql('data_timestamp')} AS t FROM ${resultsTable}
       WHERE unit = $1 AND data_timestamp = ANY($2::timestamptz[])
     UNION SELECT ${exactTimeSql('data_timestamp')} FROM ${DROPPED_TABLE}
       WHERE unit = $1 AND data_timestamp = ANY($2::timestamptz[])`,
    [unit, times],
  );
  return new Set(r.rows.map((row) => row.t));
}

/** The unit's rows after `after` and before `before`, not yet recorded nor dropped, oldest first. */
async function pendingBetween(
  source: ProcessDataSource,
  after: string | Date,
  before: string,
  done: (times: readonly string[]) => Promise<Set<string>>,
): Promise<string[]> {
  const pending: string[] = [];
  const end = Date.parse(before);
  let from = after;
  for (;;) {
    const chunk = await source.timestampsAfter(from, 1000);
    // Exact times of one format: text order is time order; the millisecond test guards the format.
    const inside = chunk.filter((t) => Date.parse(t) <= end && t < before);
    const seen = await done(inside);
    pending.push(...inside.filter((t) => !seen.has(t)));
    if (inside.length < chunk.length || chunk.length < 1000) return pending;
    from = chunk.at(-1)!;
  }
}

/**
 * The unit's cycle at `at`, under its lock: already recorded or dropped by another job ->
 * 'done'; too late -> dropped; else run and recorded, with the tracker's state after it.
 */
async function runAt(
  tx: Queryable,
  parts: HandlerParts,
  c: {
    unit: Unit;
    r: UnitRuntime;
    at: string;
    /** The job's own row (else one run ahead of its job). */
    own?: boolean;
    loaded?: LoadedStrategy;
    columns?: string[];
    mismatch?: MismatchTracker;
  },
): Promise<'done' | 'dropped' | 'ran'> {
  const { unit, r, at } = c;
  // pg-boss may hand an expired job to a second worker while the first still commits it, and a
  // row may be run ahead of its job: the attempts serialize on this lock, and the later sees what
  // the earlier recorded.
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`po/fleet ${unit.id} ${at}`]);
  if ((await doneOf(tx, parts.resultsTable, unit.id, [at])).size > 0) {
    if (c.own)
      parts.logger.warn(
        { unit: unit.id, at },
        '[po/fleet] cycle already recorded or dropped (a retried job)',
      );
    return 'done';
  }
  if (await dropIfLate(tx, parts, r, unit.id, at)) return 'dropped';
  await runOne(tx, parts, { ...c, loaded: c.loaded!, columns: c.columns! });
  if (c.mismatch) await saveTracker(tx, parts.mismatchTable, unit.id, at, c.mismatch);
  return 'ran';
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
    mismatch?: MismatchTracker;
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
  count(r.counters, record, Date.parse(at), fresh);
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
  fresh: boolean,
) {
  if (!fresh) return;
  c.cycles[record.status]++;
  if (typeof record.durationMs === 'number') {
    c.durationMs.sum += record.durationMs;
    c.durationMs.count++;
  }
  c.lastDelayS = (Date.now() - atMs) / 1000;
}
