import { isPoError } from '@po/core';
import { type Database, openDatabase } from '@po/db';
import {
  createUnitRegistry,
  ensureFleetTables,
  parseUnit,
  readUnitsFile,
  type UnitRegistry,
  type UnitState,
  unitStates,
} from '@po/fleet';
import { createModelProvider } from '@po/models';
import { compileStrategy, type StrategyLimits } from '@po/rto-engine';
import type { Settings } from '@po/settings';
import { type ObjectStore, readStrategy } from '@po/storage';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import { requirePostgres, writeUnitPointer } from '../service/fleet.ts';
import { strategyLimitsOf } from '../service/limits.ts';
import { openStore, readSettings, type StoreFlags, storeModelReader } from './context.ts';
import { withStoreFlags } from './store.ts';

type Print = (json: boolean | undefined, value: unknown, text: string) => void;
interface UnitsFlags extends StoreFlags {
  json?: boolean;
}

/** Opens the fleet's database (PostgreSQL only) and its units. */
async function withUnits<T>(
  settings: Settings,
  fn: (units: UnitRegistry, db: Database) => Promise<T>,
): Promise<T> {
  requirePostgres(settings, 'worker');
  const db = await openDatabase({ url: settings.database.url, schema: settings.database.schema });
  try {
    await ensureFleetTables(db);
    return await fn(createUnitRegistry(db), db);
  } finally {
    await db.close();
  }
}

/** `po units add|list|remove|deploy|status`: the fleet's units, in its PostgreSQL database. */
export function registerUnitsCommands(program: Command, output: Output): void {
  const print: Print = (json, value, text) => output.out(json ? JSON.stringify(value, null, 2) : text);
  const units = program.command('units').description('the units of a fleet (needs DATABASE_URL)');

  withStoreFlags(
    units
      .command('add')
      .description('add or replace units: from a units file, or one unit from flags')
      .argument('[id]', 'the unit id (without --file)')
      .option('--file <units.yaml>', 'a units file (units: [...])')
      .option('--name <name>', 'what operators call it')
      .option('--table <table>', 'its plant data table')
      .option('--timestamp-column <column>', 'the time column (default timestamp)')
      .option('--filter <column=value...>', 'only rows where the column has the value')
      .option('--interval <seconds>', 'seconds between looks for new rows (default 60)')
      .option('--mode <mode>', 'advisory or monitor (default: the strategy)')
      .option('--json', 'print the result as JSON'),
  ).action(
    async (id: string | undefined, flags: UnitsFlags & Record<string, string | string[] | undefined>) => {
      const settings = readSettings(flags);
      const added = flags.file ? await readUnitsFile(String(flags.file)) : [unitFromFlags(id, flags)];
      if (!added) throw new CliError(`[po] the units file ${String(flags.file)} does not exist`);
      await withUnits(settings, (registry) => registry.put(added));
      print(flags.json, { added: added.map((u) => u.id) }, `added ${added.map((u) => u.id).join(', ')}`);
    },
  );

  withStoreFlags(units.command('list').description('list the units').option('--json', 'print JSON')).action(
    async (flags: UnitsFlags) => {
      const list = await withUnits(readSettings(flags), (registry) => registry.list());
      print(
        flags.json,
        list,
        list.length === 0
          ? 'no units (po units add)'
          : list
              .map((u) => `${u.id.padEnd(16)} ${u.name.padEnd(20)} ${u.data.table} every ${u.interval_s} s`)
              .join('\n'),
      );
    },
  );

  withStoreFlags(
    units
      .command('remove')
      .description('remove a unit (its results stay)')
      .argument('<id>')
      .option('--json', 'print JSON'),
  ).action(async (id: string, flags: UnitsFlags) => {
    await withUnits(readSettings(flags), (registry) => registry.remove(id));
    print(flags.json, { removed: id }, `removed ${id}`);
  });

  withStoreFlags(
    units
      .command('deploy')
      .description('point a unit at a strategy version (metadata/units/<id>/deployed.yaml in the store)')
      .argument('<id>')
      .argument('<version>')
      .option('--json', 'print JSON'),
  ).action(async (id: string, version: string, flags: UnitsFlags) => {
    const settings = readSettings(flags);
    await withUnits(settings, async (registry) => {
      if (!(await registry.get(id))) throw new CliError(`[po] no unit '${id}' (po units list shows them)`);
    });
    const store = await openStore(settings);
    try {
      await deployToUnit(store, id, version, strategyLimitsOf(settings));
    } finally {
      await store.close?.();
    }
    print(flags.json, { unit: id, version, deployed: true }, `deployed ${version} to unit ${id}`);
  });

  withStoreFlags(
    units
      .command('status')
      .description('state of every unit (or one): last cycle, lag, failures, dropped late')
      .argument('[id]')
      .option('--json', 'print JSON'),
  ).action(async (id: string | undefined, flags: UnitsFlags) => {
    const settings = readSettings(flags);
    const states = await withUnits(settings, async (_registry, db) =>
      unitStates(db, settings.runner.results_table, id ? [id] : undefined),
    );
    if (id && states.length === 0) throw new CliError(`[po] no unit '${id}' (po units list shows them)`);
    print(flags.json, id ? states[0] : states, states.map(describeState).join('\n') || 'no units');
  });
}

/**
 * Points unit `id` at `version` (its pointer `metadata/units/<id>/deployed.yaml` in the store),
 * refused unless the version is in the store, validates, and every model file it names loads.
 */
export async function deployToUnit(
  store: ObjectStore,
  id: string,
  version: string,
  limits: StrategyLimits,
): Promise<void> {
  const document = await readStrategy(store, version);
  try {
    const strategy = await compileStrategy(document.text, {
      modelProvider: createModelProvider({ readFile: storeModelReader(store) }),
      version,
      source: document.key,
      limits,
    });
    await strategy.dispose();
  } catch (e) {
    if (isPoError(e)) throw new CliError(`[po] version ${version} is not deployed to ${id}:\n${e.message}`);
    throw e;
  }
  await writeUnitPointer(store, id, version);
}

function unitFromFlags(id: string | undefined, flags: Record<string, string | string[] | undefined>) {
  if (!id) throw new CliError('[po] po units add needs a unit id, or --file <units.yaml>', 2);
  if (!flags.table) throw new CliError(`[po] unit '${id}': --table <table> is required`, 2);
  const filter: Record<string, string> = {};
  for (const pair of (flags.filter as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`[po] --filter '${pair}': expected column=value`, 2);
    filter[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return parseUnit(
    {
      id,
      ...(flags.name ? { name: flags.name } : {}),
      data: {
        table: flags.table,
        ...(flags.timestampColumn ? { timestamp_column: flags.timestampColumn } : {}),
        ...(Object.keys(filter).length ? { filter } : {}),
      },
      ...(flags.interval !== undefined ? { interval_s: Number(flags.interval) } : {}),
      ...(flags.mode ? { mode: flags.mode } : {}),
    },
    '--flags',
  );
}

function describeState(s: UnitState): string {
  const last = s.lastCycle
    ? `${s.lastCycle.status} at ${s.lastCycle.dataTimestamp.toISOString()}`
    : 'no cycle yet';
  const lag = s.lagS === null ? '-' : `${s.lagS.toFixed(1)} s`;
  const models = Object.entries(s.mismatch?.models ?? {}).map(([m, status]) => `${m} ${status.status}`);
  const mismatch = models.length > 0 ? `; models ${models.join(', ')}` : '';
  const forced = s.mismatch?.forcedMonitor ? `; MONITOR MODE: ${s.mismatch.forcedMonitor}` : '';
  return `${s.id.padEnd(16)} last ${last}; lag ${lag}; ok ${s.cycles.ok} skipped ${s.cycles.skipped} failed ${s.cycles.failed}; failing ${s.consecutiveFailures}; dropped late ${s.droppedLate}${mismatch}${forced}`;
}
