import { type ServerType, serve } from '@hono/node-server';
import {
  type CycleExecutor,
  createApp,
  type ReplayService,
  type StrategySource,
  type StrategyVersions,
  type UnitsView,
} from '@po/api';
import { errorCode, type Logger } from '@po/core';
import { createUnitRegistry, type FleetWorker, type Unit, unitMismatch, unitStates } from '@po/fleet';
import type { Runner, RunnerStatus } from '@po/runner';
import type { Settings } from '@po/settings';
import { CliError } from '../errors.ts';
import { dashboardData, httpResults, type ServiceDatabase, type UnitData } from './database.ts';
import { strategyLimitsOf } from './limits.ts';
import type { StrategyBackend } from './strategies.ts';

/** The HTTP API, listening. */
export interface HttpServer {
  /** Where it listens (`http://127.0.0.1:5000`; the real port when `api.port` is 0). */
  readonly url: string;
  /** Stops accepting connections and waits for the open ones. */
  close(): Promise<void>;
}

/** What the HTTP API serves. */
export interface HttpParts {
  strategies: StrategyBackend;
  /** The store's versions (undefined when a strategy file is served). */
  versions: StrategyVersions | undefined;
  mode: Settings['mode'];
  executor: CycleExecutor;
  database: ServiceDatabase | undefined;
  runner: Runner | undefined;
  /** `POST /replays`, `GET /replays/{id}` (with a database). */
  replays?: ReplayService | undefined;
  /** The fleet worker of this process (hybrid with units): `/units` and per-unit metrics. */
  units?: FleetWorker | undefined;
  /** The strategy each unit's pointer deploys (the fleet's): `/units` shows its version, the dashboard opens it. */
  unitStrategy?: ((unit: Unit) => StrategySource) | undefined;
  logger: Logger;
}

/**
 * `/health`'s runner sections, from one reading of its status: `runner` (not ok, with the
 * reasons, when degraded or stalled) and `models` (the model-plant mismatch per model; not ok
 * while a bad critical model forces monitor mode).
 */
function runnerSections(status: RunnerStatus): {
  runner: Record<string, unknown>;
  models: Record<string, unknown>;
} {
  const forced = status.models?.forcedMonitor ?? null;
  return {
    runner: {
      ok: status.healthy,
      ...(status.healthy ? {} : { reason: status.degraded.join('; ') }),
      ...status,
    },
    models: {
      ok: forced === null,
      ...(forced ? { reason: forced } : {}),
      mismatch: status.models?.models ?? {},
    },
  };
}

/** Builds the HTTP API on the service's parts and listens on `api.host:api.port`. */
export async function serveHttp(settings: Settings, parts: HttpParts): Promise<HttpServer> {
  const { strategies, database, runner } = parts;
  const app = createApp({
    strategies,
    executor: parts.executor,
    readModelFile: strategies.readModelFile,
    ...(database
      ? { results: httpResults(database.results), dashboard: dashboardData(database, settings) }
      : {}),
    ...(parts.versions ? { versions: parts.versions } : {}),
    serviceMode: parts.mode,
    cycleIntervalS: settings.runner.cycle_interval_s,
    ...(strategies.cache ? { cache: strategies.cache } : {}),
    ...(parts.replays ? { replays: parts.replays } : {}),
    ...(parts.units && database
      ? { units: httpUnits(parts.units, database, settings, parts.unitStrategy) }
      : {}),
    health: async () => ({
      ...strategies.health?.(),
      ...(runner ? runnerSections(runner.status()) : {}),
      ...(database ? { database: await database.health() } : {}),
    }),
    ...(runner ? { modelMismatch: () => runner.status().models } : {}),
    settings: {
      apiToken: settings.api.token,
      viewerToken: settings.api.viewer_token,
      operatorToken: settings.api.operator_token,
      engineerToken: settings.api.engineer_token,
      users: settings.api.users,
      anonymousRole: isLoopback(settings.api.host) ? 'operator' : 'viewer',
      bodyLimitBytes: settings.api.body_limit_bytes,
      requestTimeoutMs: settings.api.request_timeout_ms,
      limits: strategyLimitsOf(settings),
    },
    logger: parts.logger,
  });
  const { host, port } = settings.api;
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((ready, fail) => {
      const s = serve({ fetch: app.fetch, port, hostname: host }, () => ready(s));
      s.once('error', fail);
    });
  } catch (e) {
    const why =
      errorCode(e) === 'EADDRINUSE'
        ? 'the port is in use (another po?); choose one with --port or PO_PORT'
        : (e as Error).message;
    throw new CliError(`[po] cannot listen on ${host}:${port}: ${why}`);
  }
  const address = server.address();
  return {
    url: `http://${host}:${typeof address === 'object' && address ? address.port : port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** Whether the API listens on this machine only (then, without tokens, the dashboard allows feedback). */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * The fleet's units as `/units` reads them: states from the database, counters from this worker,
 * and with `strategyOf` each unit's deployed strategy (`strategy: { version, state }`) and its
 * dashboard scope (its results, its plant data, its strategy).
 */
function httpUnits(
  worker: FleetWorker,
  database: ServiceDatabase,
  settings: Settings,
  strategyOf: ((unit: Unit) => StrategySource) | undefined,
): UnitsView {
  const table = settings.runner.results_table;
  const registry = createUnitRegistry(database.db);
  const strategyFacts = (unit: Unit | undefined) => {
    if (!unit || !strategyOf) return {};
    const { version, state, error } = strategyOf(unit).status();
    return { strategy: { version, state, ...(error ? { error } : {}) } };
  };
  // A unit's data source keeps its column cache between pages, until its definition changes or
  // the unit is removed.
  const scopes = unitScopeCache((unit) => dashboardData(database, settings, unit));
  return {
    list: async () => {
      const [states, units] = await Promise.all([unitStates(database.db, table), registry.list()]);
      scopes.keepOnly(units.map((u) => u.id));
      const byId = new Map(units.map((u) => [u.id, u]));
      return states.map((s) => ({ ...s, ...strategyFacts(byId.get(s.id)) }));
    },
    get: async (id) => {
      const [[state], unit] = await Promise.all([unitStates(database.db, table, [id]), registry.get(id)]);
      return state && { ...state, ...strategyFacts(unit) };
    },
    counters: () => worker.counters(),
    ...(strategyOf
      ? {
          scope: async (id: string) => {
            const unit = await registry.get(id);
            if (!unit) {
              scopes.drop(id);
              return undefined;
            }
            return {
              name: unit.name,
              intervalS: unit.interval_s,
              data: scopes.of(unit),
              strategies: strategyOf(unit),
            };
          },
        }
      : {}),
    modelMismatch: async () =>
      new Map(
        [...(await unitMismatch(database.db))].map(([unit, m]) => [
          unit,
          { models: m.models, forcedMonitor: m.forcedMonitor },
        ]),
      ),
  };
}

/**
 * Each unit's dashboard data source, kept between pages (its column cache) while the unit's data
 * definition is unchanged; a removed unit's is dropped (`drop` when it is asked for and missing,
 * `keepOnly` with the units listed), so the cache holds no more than the fleet's units.
 */
export function unitScopeCache<T>(make: (unit: UnitData) => T) {
  const scopes = new Map<string, { definition: string; value: T }>();
  return {
    /** The unit's data source: the kept one, or a new one when its definition changed. */
    of(unit: UnitData): T {
      const definition = JSON.stringify(unit.data);
      let kept = scopes.get(unit.id);
      if (kept?.definition !== definition) {
        kept = { definition, value: make(unit) };
        scopes.set(unit.id, kept);
      }
      return kept.value;
    },
    drop(id: string): void {
      scopes.delete(id);
    },
    /** Drops every unit's data source but those of `ids` (the fleet's units now). */
    keepOnly(ids: readonly string[]): void {
      const present = new Set(ids);
      for (const id of scopes.keys()) if (!present.has(id)) scopes.delete(id);
    },
    /** The units whose data source is kept. */
    ids(): string[] {
      return [...scopes.keys()];
    },
  };
}
