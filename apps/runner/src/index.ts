// The runner on its own: reads settings from the environment and starts. `po start` wires
// storage and cache around createRunner instead.
import { existsSync } from 'node:fs';
import { createProcessDataSource, createResultStore, openDatabase } from '@po/db';
import pino from 'pino';
import { seedDemo, startDemoFeeder } from './demo.ts';
import { createRunner } from './runner.ts';
import { localStrategySource } from './strategy.ts';

const env = process.env;
const logger = pino({ level: env.PO_LOG_LEVEL ?? 'info', base: { service: 'po-runner' } });

function seconds(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`[po/runner] ${name}='${raw}' must be a positive number of seconds`);
  return n;
}

async function main(): Promise<void> {
  const intervalMs = seconds('PO_CYCLE_INTERVAL_S', 60) * 1000;
  const strategyFile = env.PO_STRATEGY ?? 'config/demo/strategy.yaml';
  if (!existsSync(strategyFile))
    throw new Error(
      `[po/runner] strategy file '${strategyFile}' does not exist: set PO_STRATEGY (and PO_MODELS_DIR)`,
    );
  const dataTable = env.PO_DATA_TABLE ?? 'process_data';
  const db = await openDatabase({
    url: env.DATABASE_URL || undefined,
    dataDir: env.PO_DATA_DIR || undefined,
    logger,
  });
  const results = await createResultStore(db, {
    tables: env.PO_RESULTS_TABLE ? { results: env.PO_RESULTS_TABLE } : {},
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
