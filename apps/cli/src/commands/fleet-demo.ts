import { openDatabase } from '@po/db';
import type { Settings } from '@po/settings';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import { feedFleetDemo, seedFleetDemo } from '../service/fleet-demo.ts';
import { strategyLimitsOf } from '../service/limits.ts';
import { openStore, readSettings, type StoreFlags } from './context.ts';
import { withStoreFlags } from './store.ts';
import { deployToUnit } from './units.ts';

interface DemoFlags extends StoreFlags {
  kilns?: string;
  interval?: string;
  history?: string;
  table?: string;
  demoDir?: string;
  version?: string;
  coalSaverVersion?: string;
  json?: boolean;
}

/** The demo fleet runs on PostgreSQL, like every fleet. */
function requireDatabase(settings: Settings): string {
  if (settings.database.url) return settings.database.url;
  throw new CliError(
    '[po] po fleet-demo needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/po). Without it, po start runs the single-unit demo on the embedded database.',
  );
}

function integer(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError(`[po] ${flag} must be a whole number from ${min} to ${max}, got '${value}'`, 2);
  return n;
}

function seconds(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 3600)
    throw new CliError(`[po] ${flag} must be a number of seconds from 0.1 to 3600, got '${value}'`, 2);
  return n;
}

/**
 * `po fleet-demo seed|feed`: a small fleet of simulated kilns on PostgreSQL, for trying the
 * fleet mode (scripts/setup_and_run.sh --fleet runs both, then the workers).
 */
export function registerFleetDemoCommands(program: Command, output: Output): void {
  const demo = program
    .command('fleet-demo')
    .description('a demo fleet of simulated kilns on PostgreSQL (needs DATABASE_URL)');

  withStoreFlags(
    demo
      .command('seed')
      .description(
        'seed the demo fleet: models and two strategies in the store, kilns with history, units, a strategy per unit',
      )
      .option('--kilns <n>', 'how many kilns (units kiln-1..kiln-N; kiln K<n> simulated with seed n)', '4')
      .option('--interval <seconds>', 'seconds between rows, and each unit’s cycle interval', '10')
      .option('--history <rows>', 'history rows per new kiln, ending now', '30')
      .option('--table <table>', 'the plant table the kilns share', 'demo_kilns')
      .option('--demo-dir <dir>', 'folder of the demo strategies and models', 'config/demo')
      .option('--version <x.y.z>', 'version of the demo strategy (odd kilns)', '1.0.0')
      .option('--coal-saver-version <x.y.z>', 'version of the coal-saver strategy (even kilns)', '1.1.0')
      .option('--json', 'print the units as JSON'),
  ).action(async (flags: DemoFlags) => {
    const settings = readSettings(flags);
    const options = {
      kilns: integer('--kilns', flags.kilns, 4, 1, 200),
      intervalS: seconds('--interval', flags.interval, 10),
      historyRows: integer('--history', flags.history, 30, 1, 100_000),
      table: flags.table ?? 'demo_kilns',
      demoDir: flags.demoDir ?? 'config/demo',
      version: flags.version ?? '1.0.0',
      coalSaverVersion: flags.coalSaverVersion ?? '1.1.0',
    };
    if (options.version === options.coalSaverVersion)
      throw new CliError('[po] --version and --coal-saver-version must differ (two strategies)', 2);
    const db = await openDatabase({ url: requireDatabase(settings), schema: settings.database.schema });
    const store = await openStore(settings);
    try {
      const units = await seedFleetDemo(
        {
          db,
          store,
          deploy: (store, id, version) => deployToUnit(store, id, version, strategyLimitsOf(settings)),
          log: (line) => output.err(line),
        },
        options,
      );
      output.out(
        flags.json
          ? JSON.stringify(units, null, 2)
          : units
              .map(
                (u) =>
                  `${u.id.padEnd(8)} kiln ${u.kiln} seed ${u.seed}: ${u.strategy} ${u.version} (${u.historyRows} history rows)`,
              )
              .join('\n'),
      );
    } finally {
      await store.close?.();
      await db.close();
    }
  });

  withStoreFlags(
    demo
      .command('feed')
      .description('feed the demo kilns: a row per kiln every interval, until Ctrl-C or SIGTERM')
      .option('--interval <seconds>', 'seconds between rows', '10')
      .option('--table <table>', 'the plant table the kilns share', 'demo_kilns'),
  ).action(async (flags: DemoFlags) => {
    const settings = readSettings(flags);
    const intervalS = seconds('--interval', flags.interval, 10);
    const table = flags.table ?? 'demo_kilns';
    const db = await openDatabase({ url: requireDatabase(settings), schema: settings.database.schema });
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      output.err(`[po] feeding the demo kilns of ${table} every ${intervalS} s (Ctrl-C stops)`);
      const fed = await feedFleetDemo(db, {
        table,
        intervalS,
        signal: controller.signal,
        onError: (message) => output.err(message),
      });
      output.err(`[po] demo feed stopped: ${fed.ticks} rows for each of ${fed.kilns.join(', ')}`);
    } finally {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      await db.close();
    }
  });
}
