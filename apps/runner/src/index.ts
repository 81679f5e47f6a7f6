// The runner on its own: reads settings from the environment and starts. `po start` wires
// storage and cache around createRunner instead.
import { existsSync } from 'node:fs';
import { createProcessDataSource, createResultStore, openDatabase } from '@po/db';
import { loadSettings } from '@po/settings';
import pino from 'pino';
import { seedDemo, startDemoFeeder } from './demo.ts';
import { createRunner } from './runner.ts';
import { localStrategySource } from './strategy.ts';

const env = process.env;
// Validated settings (config/app.yaml + environment, see @po/settings); a wrong one stops start-up naming it.
let settings: ReturnType<typeof loadSettings>;
try {
  settings = loadSettings({ env });
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
}
const logger = pino({ level: settings.log.level, base: { service: 'po-runner' } });

async function main(): Promise<void> {
  const intervalMs = settings.runner.cycle_interval_s * 1000;
  const strategyFile = env.PO_STRATEGY ?? 'config/demo/strategy.yaml';
  if (!existsSync(strategyFile))
    throw new Error(
      `[po/runner] strategy file '${strategyFile}' does not exist: set PO_STRATEGY (and PO_MODELS_DIR)`,
    );
  const dataTable = settings.runner.data_table;
  const db = await openDatabase({
    url: settings.database.url,
    dataDir: env.PO_DATA_DIR || settings.database.pglite_dir,
    logger,
  });
  const results = await createResultStore(db, {
    tables: { results: settings.runner.results_table },
    dataTable,
  });
  let feeder: { stop(): void } | undefined;
  let data = createProcessDataSource(db, { table: dataTable });
  if (db.kind === 'pglite') {
    // Embedded demo: the demo kiln feeds the table.
    const demo = await seedDemo(db, { table: dataTable, rows: 240 });
    data = demo.source;
    feeder = startDemoFeeder({ source: demo.source, kiln: demo.kiln, intervalMs, logger });
    logger.info({ dataDir: db.target, seeded: demo.inserted }, '[po/runner] embedded demo database');
  }
  const runner = createRunner({
    strategies: localStrategySource({ file: strategyFile, modelsDir: env.PO_MODELS_DIR }),
    data,
    results,
    logger,
    intervalMs,
    ...(settings.runner.mode ? { mode: settings.runner.mode } : {}),
  });
  runner.start();
  logger.info({ database: db.target, dataTable, strategy: strategyFile }, '[po/runner] running');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, '[po/runner] stopping');
    feeder?.stop();
    await runner.stop({ timeoutMs: 20_000 });
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((e: unknown) => {
  logger.fatal({ code: (e as { code?: unknown }).code }, (e as Error).message);
  process.exit(1);
});
