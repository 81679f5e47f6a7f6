import { bundleFromFiles, type CyclePool, type PooledStrategy, pooledStrategy } from '@po/api';
import { createArtifactCache, createDeployment, type Deployment } from '@po/cache';
import { describeError, type Logger, type SourceStatus, type StrategySource } from '@po/core';
import type { Database, ResultStore } from '@po/db';
import {
  createUnitRegistry,
  ensureFleetTables,
  type FleetWorker,
  readUnitsFile,
  startFleetWorker,
  type Unit,
  unitPointerKey,
} from '@po/fleet';
import type { Settings } from '@po/settings';
import { readUnitPointer } from './fleet.ts';
import { deployedVersion, openStore } from './store.ts';
import { type StrategyBackend, unlessUndeployed } from './strategies.ts';

// The running fleet of `po start` (pg-boss, the scheduler, each unit's strategy). start-service
// imports it only when the process runs a fleet, so the embedded default never loads pg-boss.

/** Each unit's strategy: the strategy file for all, or each unit's store pointer (else the deployed version). */
interface UnitStrategies {
  forUnit(unit: Unit): StrategySource<PooledStrategy>;
  /** Of these units, those without a deploy pointer of their own (all, with a strategy file). */
  withoutPointer(ids: readonly string[]): Promise<string[]>;
  refresh(): Promise<void>;
  close(): Promise<void>;
}

async function unitStrategies(
  settings: Settings,
  parts: { pool: CyclePool; main: StrategyBackend; logger: Logger },
): Promise<UnitStrategies> {
  if (settings.strategy.file) {
    return {
      forUnit: () => parts.main,
      withoutPointer: async (ids) => [...ids],
      refresh: async () => {},
      close: async () => {},
    };
  }
  const { pool, logger } = parts;
  const store = await openStore(settings);
  const cache = createArtifactCache({ store, logger });
  // Units on the same version share one compiled strategy.
  const compiled = new Map<string, Promise<PooledStrategy>>();
  const deployments = new Map<string, Deployment<PooledStrategy>>();
  // Callers waiting on one refresh all see it change: the version each unit was announced with.
  const announced = new Map<string, string>();
  // Units whose last pointer read found neither their own pointer nor a fleet-wide version, and
  // those told so (once until they get one: their jobs are retried until then).
  const undeployed = new Set<string>();
  const told = new Set<string>();
  const refreshOne = async (id: string, d: Deployment<PooledStrategy>): Promise<void> => {
    try {
      const r = await d.refresh();
      told.delete(id);
      if (r.changed && announced.get(id) !== r.version) {
        announced.set(id, r.version);
        logger.info({ unit: id, version: r.version }, '[po/fleet] unit strategy deployed');
      }
    } catch (e) {
      if (undeployed.has(id)) {
        if (!told.has(id))
          logger.warn(
            { unit: id },
            `[po/fleet] unit '${id}' has no strategy: neither its own pointer (po units deploy ${id} <version>) nor a fleet-wide version (po deploy <version>); its cycles wait (logged once)`,
          );
        told.add(id);
        return;
      }
      told.delete(id);
      logger.warn({ unit: id, err: describeError(e) }, '[po/fleet] unit strategy not (re)loaded');
    }
  };
  const deploymentOf = (unit: Unit) => {
    let d = deployments.get(unit.id);
    if (!d) {
      const id = unit.id;
      d = createDeployment<PooledStrategy>({
        cache,
        logger: unlessUndeployed(logger, () => undeployed.has(id)),
        pointer: async () => {
          undeployed.delete(unit.id);
          const version = (await readUnitPointer(store, unit.id)) ?? (await deployedVersion(store, settings));
          if (version === undefined) undeployed.add(unit.id);
          return version;
        },
        load: (version, reader) => {
          let p = compiled.get(version);
          if (!p) {
            p = (async () => {
              const text = new TextDecoder().decode(await reader.strategy());
              const bundle = await bundleFromFiles(text, reader.modelFile, { version });
              const strategy = await pooledStrategy(pool, bundle);
              await pool.warm(bundle);
              return strategy;
            })();
            p.catch(() => compiled.delete(version));
            compiled.set(version, p);
          }
          return p;
        },
      });
      deployments.set(unit.id, d);
      void refreshOne(unit.id, d);
    }
    return d;
  };
  return {
    forUnit(unit) {
      const d = deploymentOf(unit);
      const status = (): SourceStatus => {
        const current = d.current();
        const s = d.status();
        return {
          state: current ? 'loaded' : s.loading ? 'loading' : s.lastError ? 'error' : 'none',
          version: current?.version ?? null,
          source: `${store.location} ${unitPointerKey(unit.id)}`,
          ...(s.lastError ? { error: `${s.lastError.version ?? ''} ${s.lastError.message}`.trim() } : {}),
        };
      };
      return {
        async current() {
          if (!d.current()) await refreshOne(unit.id, d);
          const current = d.current();
          return current ? { version: current.version, strategy: current.value } : undefined;
        },
        status,
      };
    },
    async withoutPointer(ids) {
      const pointers = await Promise.all(ids.map((id) => readUnitPointer(store, id)));
      return ids.filter((_, i) => pointers[i] === undefined);
    },
    async refresh() {
      await Promise.all([...deployments].map(([id, d]) => refreshOne(id, d)));
    },
    async close() {
      await Promise.all([...deployments.values()].map((d) => d.close()));
      await cache.close();
      await store.close?.();
    },
  };
}

/** The running fleet of this process: its worker and the strategies of its units. */
export interface Fleet {
  readonly worker: FleetWorker;
  /** The strategy a unit's pointer deploys, as its cycles run it (the dashboard's unit views read it). */
  strategyOf(unit: Unit): StrategySource<PooledStrategy>;
  /**
   * Logs, once, what no fleet-wide deployed version means here: the units without a pointer of
   * their own wait for one (nothing is logged when every unit has its own pointer).
   */
  explainUndeployed(): Promise<void>;
  refresh(): Promise<void>;
  stop(timeoutMs: number): Promise<void>;
}

/**
 * Starts this process's fleet worker: loads the units file into the database (when it
 * exists), then schedules and runs cycles with the others on the same database.
 */
export async function startFleet(
  settings: Settings,
  parts: { db: Database; results: ResultStore; pool: CyclePool; main: StrategyBackend; logger: Logger },
): Promise<Fleet> {
  const { logger } = parts;
  const strategies = await unitStrategies(settings, parts);
  try {
    const fromFile = await readUnitsFile(settings.fleet.units_file);
    if (fromFile) {
      await ensureFleetTables(parts.db);
      await createUnitRegistry(parts.db).put(fromFile);
      logger.info(
        { file: settings.fleet.units_file, units: fromFile.length },
        '[po/fleet] units file loaded',
      );
    }
    const worker = await startFleetWorker({
      db: parts.db,
      url: settings.database.url!,
      results: parts.results,
      resultsTable: settings.runner.results_table,
      strategies: (unit) => strategies.forUnit(unit),
      queueSchema: settings.fleet.queue_schema,
      concurrency: settings.fleet.concurrency,
      maxLateS: settings.fleet.max_late_s,
      expireS: settings.fleet.expire_s,
      logger,
    });
    return {
      worker,
      strategyOf: (unit) => strategies.forUnit(unit),
      async explainUndeployed() {
        const ids = (await worker.units.list()).map((u) => u.id);
        const waiting = await strategies.withoutPointer(ids);
        if (waiting.length === 0) {
          logger.debug(
            { units: ids.length },
            '[po/fleet] no fleet-wide version; every unit has its own pointer',
          );
          return;
        }
        logger.warn(
          { waiting: waiting.length, units: ids.length, first: waiting.slice(0, 10) },
          '[po/fleet] no fleet-wide version is deployed (po deploy <version>): the units without a pointer of their own (po units deploy <id> <version>) wait for one, their cycle jobs retried; units with their own pointer run. Logged once; /health shows it.',
        );
      },
      refresh: () => strategies.refresh(),
      async stop(timeoutMs) {
        await worker.stop({ timeoutMs });
        await strategies.close();
      },
    };
  } catch (e) {
    await strategies.close();
    throw e;
  }
}
