import type { UnitCounters } from '@po/core';
import type { CycleResult, MismatchStatus } from '@po/rto-engine';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CycleExecutor } from './pool/index.ts';
import type { CycleOutcome, PoolStats } from './schemas.ts';
import type { CacheControl, ModelMismatchReport, UnitsView } from './types.ts';

/** The API's Prometheus metrics, in a registry of their own (several apps can live in one process). */
export interface ApiMetrics {
  registry: Registry;
  cycle(mode: string, outcome: CycleOutcome, seconds: number, result?: CycleResult): void;
  request(method: string, route: string, status: number, seconds: number): void;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(sources: {
  executor: CycleExecutor;
  cache?: CacheControl | undefined;
  modelMismatch?: (() => ModelMismatchReport | undefined) | undefined;
  units?: UnitsView | undefined;
}): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const extrapolating = new Gauge({
    name: 'po_model_extrapolating',
    help: "1 when the model's inputs left its training domain in the last cycle the API ran (current point or recommendation), else 0.",
    labelNames: ['model'],
    registers: [registry],
  });
  const cycle = cycleMetrics(registry, extrapolating);
  const request = requestMetrics(registry);
  poolGauges(registry, sources.executor);
  if (sources.cache) cacheGauges(registry, sources.cache);
  if (sources.modelMismatch) mismatchGauges(registry, sources.modelMismatch);
  if (sources.units) unitGauges(registry, sources.units);
  return { registry, cycle, request };
}

function cycleMetrics(registry: Registry, extrapolating: Gauge): ApiMetrics['cycle'] {
  const cycles = new Counter({
    name: 'po_cycles_total',
    help: 'Cycles run by the API, by mode and outcome.',
    labelNames: ['mode', 'status'],
    registers: [registry],
  });
  const cycleDuration = new Histogram({
    name: 'po_cycle_duration_seconds',
    help: 'Wall-clock time of a cycle request, queue time included.',
    labelNames: ['mode'],
    buckets: SECONDS,
    registers: [registry],
  });
  const solveDuration = new Histogram({
    name: 'po_solve_duration_seconds',
    help: 'Time the engine spent on a cycle (duration_ms of the result).',
    labelNames: ['mode'],
    buckets: SECONDS,
    registers: [registry],
  });
  const evaluations = new Counter({
    name: 'po_optimizer_evaluations_total',
    help: 'Cost evaluations made by the optimizer.',
    registers: [registry],
  });
  return (mode, outcome, seconds, result) => {
    cycles.inc({ mode, status: outcome });
    cycleDuration.observe({ mode }, seconds);
    if (result) {
      solveDuration.observe({ mode }, result.duration_ms / 1000);
      evaluations.inc(result.optimizer.evaluations);
      const outside = new Set(result.model_trust.extrapolating);
      for (const model of Object.keys(result.model_trust.models)) {
        extrapolating.set({ model }, outside.has(model) ? 1 : 0);
      }
    }
  };
}

function requestMetrics(registry: Registry): ApiMetrics['request'] {
  const requests = new Counter({
    name: 'po_http_requests_total',
    help: 'HTTP requests, by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'po_http_request_duration_seconds',
    help: 'HTTP request latency, by method and route.',
    labelNames: ['method', 'route'],
    buckets: SECONDS,
    registers: [registry],
  });
  return (method, route, status, seconds) => {
    requests.inc({ method, route, status: String(status) });
    latency.observe({ method, route }, seconds);
  };
}

const STATUS_VALUE = { unknown: -1, good: 0, suspect: 1, bad: 2 } as const;

/** Model-plant mismatch per model, read when Prometheus scrapes. */
const MISMATCH_GAUGES: readonly [name: string, help: string, read: (s: MismatchStatus) => number | null][] = [
  [
    'po_model_mismatch_status',
    'Model-plant mismatch status: -1 unknown, 0 good, 1 suspect, 2 bad.',
    (s) => STATUS_VALUE[s.status],
  ],
  [
    'po_model_mismatch_bias',
    'Filtered bias of the model: measured minus predicted (output units).',
    (s) => s.bias,
  ],
  [
    'po_model_mismatch_abs_error',
    'Filtered absolute prediction error (output units).',
    (s) => s.mean_abs_error,
  ],
  [
    'po_model_mismatch_cusum_high',
    'Upper CUSUM of the prediction error (the plant above the model).',
    (s) => s.cusum_high,
  ],
  [
    'po_model_mismatch_cusum_low',
    'Lower CUSUM of the prediction error (the plant below the model).',
    (s) => s.cusum_low,
  ],
];

function mismatchGauges(registry: Registry, read: () => ModelMismatchReport | undefined): void {
  for (const [name, help, field] of MISMATCH_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['model'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [model, status] of Object.entries(read()?.models ?? {})) {
          const value = field(status);
          if (value !== null) this.set({ model }, value);
        }
      },
    });
  }
  new Gauge({
    name: 'po_strategy_forced_monitor',
    help: '1 while a bad critical model keeps the strategy in monitor mode, else 0.',
    registers: [registry],
    collect() {
      this.set(read()?.forcedMonitor ? 1 : 0);
    },
  });
}

/** The pool's load, read when Prometheus scrapes. */
const POOL_GAUGES: readonly [name: string, help: string, field: keyof PoolStats][] = [
  ['po_pool_queue_size', 'Tasks waiting for a worker.', 'queued'],
  ['po_pool_threads', 'Worker threads of the cycle pool.', 'threads'],
  ['po_pool_utilization_ratio', 'Share of time the pool workers were busy since start.', 'utilization'],
];

function poolGauges(registry: Registry, executor: CycleExecutor): void {
  for (const [name, help, field] of POOL_GAUGES) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(executor.stats()[field]);
      },
    });
  }
}

/** The cache's hit and miss counters by kind, read when Prometheus scrapes. */
function cacheGauges(registry: Registry, cache: CacheControl): void {
  const read = (field: 'hits' | 'misses') =>
    function (this: Gauge) {
      this.reset();
      for (const [kind, stats] of Object.entries(cacheKinds(cache.stats()))) {
        const value = stats[field];
        if (typeof value === 'number') this.set({ kind }, value);
      }
    };
  new Gauge({
    name: 'po_cache_hits',
    help: 'Artifact cache hits since start, by kind (from the cache counters).',
    labelNames: ['kind'],
    registers: [registry],
    collect: read('hits'),
  });
  new Gauge({
    name: 'po_cache_misses',
    help: 'Artifact cache misses since start, by kind (from the cache counters).',
    labelNames: ['kind'],
    registers: [registry],
    collect: read('misses'),
  });
}

/** `kinds` of @po/cache's stats, read structurally (anything else exports nothing). */
function cacheKinds(stats: unknown): Record<string, Record<string, unknown>> {
  if (stats === null || typeof stats !== 'object' || !('kinds' in stats)) return {};
  const kinds = (stats as { kinds: unknown }).kinds;
  if (kinds === null || typeof kinds !== 'object') return {};
  const out: Record<string, Record<string, unknown>> = {};
  for (const [kind, value] of Object.entries(kinds)) {
    if (value !== null && typeof value === 'object') out[kind] = value as Record<string, unknown>;
  }
  return out;
}

/** A fleet worker's counters per unit (since start), read when Prometheus scrapes. */
const UNIT_GAUGES: readonly [name: string, help: string, read: (c: UnitCounters) => number | null][] = [
  ['po_unit_cycles_ok', 'Cycles recorded ok by this worker, per unit.', (c) => c.cycles.ok],
  [
    'po_unit_cycles_skipped',
    'Cycles recorded skipped (bad input) by this worker, per unit.',
    (c) => c.cycles.skipped,
  ],
  ['po_unit_cycles_failed', 'Cycles recorded failed by this worker, per unit.', (c) => c.cycles.failed],
  [
    'po_unit_dropped_late',
    'Cycle jobs dropped because their data was too old, per unit.',
    (c) => c.droppedLate,
  ],
  [
    'po_unit_retried',
    'Cycle jobs given back to the queue (database or strategy unavailable), per unit.',
    (c) => c.retried,
  ],
  ['po_unit_cycle_seconds_sum', 'Total cycle time on this worker, per unit.', (c) => c.durationMs.sum / 1000],
  [
    'po_unit_delay_seconds',
    "Seconds from the last row's timestamp to its record, per unit.",
    (c) => c.lastDelayS,
  ],
];

function unitGauges(registry: Registry, units: UnitsView): void {
  for (const [name, help, read] of UNIT_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['unit'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [unit, counters] of units.counters()) {
          const value = read(counters);
          if (value !== null) this.set({ unit }, value);
        }
      },
    });
  }
  if (units.modelMismatch) unitMismatchGauges(registry, units.modelMismatch.bind(units));
}

/**
 * Each unit's model-plant mismatch, read from the database once per scrape (all gauges share the
 * read). When it cannot be read, the gauges are left out and `po_unit_mismatch_readable` says 0.
 */
function unitMismatchGauges(
  registry: Registry,
  read: () => Promise<ReadonlyMap<string, ModelMismatchReport>>,
): void {
  let last: { at: number; read: Promise<ReadonlyMap<string, ModelMismatchReport> | undefined> } | undefined;
  const shared = () => {
    if (!last || Date.now() - last.at > 1000) last = { at: Date.now(), read: read().catch(() => undefined) };
    return last.read;
  };
  for (const [name, help, field] of MISMATCH_GAUGES) {
    new Gauge({
      name: name.replace(/^po_model_/, 'po_unit_model_'),
      help: `${help} Per fleet unit.`,
      labelNames: ['unit', 'model'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const [unit, report] of (await shared()) ?? []) {
          for (const [model, status] of Object.entries(report.models)) {
            const value = field(status);
            if (value !== null) this.set({ unit, model }, value);
          }
        }
      },
    });
  }
  new Gauge({
    name: 'po_unit_forced_monitor',
    help: "1 while a bad critical model keeps the unit's strategy in monitor mode, else 0.",
    labelNames: ['unit'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [unit, report] of (await shared()) ?? []) this.set({ unit }, report.forcedMonitor ? 1 : 0);
    },
  });
  new Gauge({
    name: 'po_unit_mismatch_readable',
    help: "1 when the units' model-plant mismatch could be read from the database at this scrape, else 0.",
    registers: [registry],
    async collect() {
      this.set((await shared()) ? 1 : 0);
    },
  });
}
