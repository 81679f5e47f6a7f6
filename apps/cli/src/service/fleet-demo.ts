import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeError } from '@po/core';
import { createProcessDataSource, type Database, quoteIdent } from '@po/db';
import { createUnitRegistry, ensureFleetTables, type Unit } from '@po/fleet';
import { createDemoKiln, DEMO_KILN_OUTPUTS, DEMO_KILN_SETPOINTS, type DemoKiln } from '@po/models';
import { checkStrategy } from '@po/rto-engine';
import { type ObjectStore, uploadModels, uploadStrategy } from '@po/storage';
import { CliError } from '../errors.ts';

/** The demo fleet's tags: the demo kiln's setpoints and measurements (the demo strategies' columns). */
const TAGS = [...DEMO_KILN_SETPOINTS, ...DEMO_KILN_OUTPUTS];

export interface FleetDemoOptions {
  /** How many simulated kilns (units kiln-1 .. kiln-N, kiln K<n> seeded with n). */
  kilns: number;
  /** Seconds between rows of each kiln, and each unit's cycle interval. */
  intervalS: number;
  /** History rows backfilled per kiln (ending now) when the kiln has none yet. */
  historyRows: number;
  /** The shared plant table (one row per kiln and time, `kiln` tells them apart). */
  table: string;
  /** Folder of the demo strategies and models (config/demo). */
  demoDir: string;
  /** The demo strategy's version (strategy.yaml), deployed to the odd kilns. */
  version: string;
  /** The coal-saver variant's version (strategy-coal-saver.yaml), deployed to the even kilns. */
  coalSaverVersion: string;
}

/** One unit of the demo fleet as seeded. */
export interface DemoUnit {
  id: string;
  kiln: string;
  seed: number;
  version: string;
  strategy: string;
  historyRows: number;
}

/** The demo fleet's plan: kiln n is unit `kiln-<n>`, simulated with seed n; odd kilns run the demo strategy, even ones the coal saver. */
export function planFleetDemo(
  o: Pick<FleetDemoOptions, 'kilns' | 'intervalS' | 'table' | 'version' | 'coalSaverVersion'>,
): {
  units: Unit[];
  strategies: { id: string; kiln: string; seed: number; version: string; strategy: string }[];
} {
  const plan = Array.from({ length: o.kilns }, (_, i) => {
    const n = i + 1;
    const coalSaver = n % 2 === 0;
    return {
      id: `kiln-${n}`,
      kiln: `K${n}`,
      seed: n,
      version: coalSaver ? o.coalSaverVersion : o.version,
      strategy: coalSaver ? 'strategy-coal-saver.yaml' : 'strategy.yaml',
    };
  });
  return {
    strategies: plan,
    units: plan.map((p) => ({
      id: p.id,
      name: `Demo kiln ${p.kiln} (seed ${p.seed})`,
      data: { table: o.table, timestamp_column: 'timestamp', filter: { kiln: p.kiln } },
      interval_s: o.intervalS,
    })),
  };
}

/** The demo plant table: one row per kiln and time. */
export async function createDemoPlantTable(db: Database, table: string): Promise<void> {
  const t = quoteIdent(table, 'demo table');
  await db.query(
    `CREATE TABLE IF NOT EXISTS ${t} ("timestamp" timestamptz NOT NULL, kiln text NOT NULL,
       ${TAGS.map((c) => `${quoteIdent(c)} double precision`).join(', ')}, PRIMARY KEY (kiln, "timestamp"))`,
  );
}

/**
 * Seeds the demo fleet, idempotently: uploads the demo models and both demo strategies to the
 * store, creates the plant table and backfills each new kiln's history, adds the units (as
 * `po units add` does) and points each unit at its strategy (`deploy(unit, version)`, as
 * `po units deploy` does).
 */
export async function seedFleetDemo(
  parts: {
    db: Database;
    store: ObjectStore;
    deploy: (store: ObjectStore, unit: string, version: string) => Promise<void>;
    /** Progress lines (what was uploaded). */
    log: (line: string) => void;
  },
  o: FleetDemoOptions,
): Promise<DemoUnit[]> {
  const { db, store } = parts;
  const demoDir = resolve(o.demoDir);
  if (!existsSync(join(demoDir, 'strategy.yaml')))
    throw new CliError(
      `[po] ${join(demoDir, 'strategy.yaml')} does not exist: --demo-dir names the folder of the demo strategy and models (config/demo of the po repository).`,
    );
  const plan = planFleetDemo(o);

  const models = await uploadModels(store, join(demoDir, 'models'));
  parts.log(
    `[po] demo models: ${models.uploaded} uploaded, ${models.skipped} unchanged, in ${store.location}`,
  );
  const versions = new Map(plan.strategies.map((p) => [p.version, p.strategy]));
  for (const [version, file] of versions) {
    const text = await readFile(join(demoDir, file), 'utf8');
    const r = await uploadStrategy(store, version, new TextEncoder().encode(text), {
      validate: async () => checkStrategy(text).errors.map((i) => `${i.path}: ${i.message}`),
    });
    parts.log(`[po] demo strategy ${file} as version ${version}: ${r.status}`);
  }

  await createDemoPlantTable(db, o.table);
  const seeded: DemoUnit[] = [];
  const end = new Date();
  for (const p of plan.strategies) {
    const source = createProcessDataSource(db, { table: o.table, filter: { kiln: p.kiln } });
    let historyRows = 0;
    if (!(await source.next(undefined))) {
      const kiln = createDemoKiln({ seed: p.seed });
      const start = new Date(end.getTime() - (o.historyRows - 1) * o.intervalS * 1000);
      const rows = kiln.history({ rows: o.historyRows, intervalSeconds: o.intervalS, start });
      historyRows = await source.insertRows(rows.map((row) => ({ ...row, kiln: p.kiln })));
    }
    seeded.push({ ...p, historyRows });
  }

  await ensureFleetTables(db);
  await createUnitRegistry(db).put(plan.units);
  for (const p of plan.strategies) await parts.deploy(store, p.id, p.version);
  return seeded;
}

/**
 * Feeds the demo plant: every `intervalS`, one live row per kiln already in the table (kiln
 * K<n> simulated with seed n, continuing from its newest row), until `signal` aborts.
 * A failed insert is reported and the next tick tries again (the database may be restarting).
 */
export async function feedFleetDemo(
  db: Database,
  o: { table: string; intervalS: number; signal: AbortSignal; onError: (message: string) => void },
): Promise<{ kilns: string[]; ticks: number }> {
  const t = quoteIdent(o.table, 'demo table');
  const newest = await db
    .query<{ kiln: string; at: Date }>(
      `SELECT kiln, max("timestamp") AS at FROM ${t} GROUP BY kiln ORDER BY kiln`,
    )
    .catch((e: unknown) => {
      throw new CliError(
        `[po] cannot read the demo plant table ${o.table} (${describeError(e).split('\n')[0]}): run po fleet-demo seed first.`,
      );
    });
  const kilns: { kiln: string; sim: DemoKiln }[] = [];
  for (const row of newest.rows) {
    const seed = /^K([1-9][0-9]*)$/.exec(row.kiln)?.[1];
    if (!seed) continue; // Not a demo kiln: someone else's rows, left alone.
    const sim = createDemoKiln({ seed: Number(seed) });
    sim.tick(row.at);
    kilns.push({ kiln: row.kiln, sim });
  }
  if (kilns.length === 0)
    throw new CliError(`[po] no demo kiln (K1, K2, ...) in ${o.table}: run po fleet-demo seed first.`);
  const source = createProcessDataSource(db, { table: o.table });
  let ticks = 0;
  while (!o.signal.aborted) {
    const at = new Date();
    try {
      await source.insertRows(
        kilns
          .filter((k) => (k.sim.state().time ?? 0) < at.getTime())
          .map((k) => ({ ...k.sim.tick(at), kiln: k.kiln })),
      );
      ticks++;
    } catch (e) {
      o.onError(
        `[po] demo feed: no rows at ${at.toISOString()} (${describeError(e).split('\n')[0]}); trying again`,
      );
    }
    await sleep(Math.max(0, o.intervalS * 1000 - (Date.now() - at.getTime())), o.signal);
  }
  return { kilns: kilns.map((k) => k.kiln), ticks };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
