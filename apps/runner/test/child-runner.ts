// A runner in its own process, against the real PostgreSQL (the kill -9 test). Each cycle is
// slowed down so that the test can kill it while one runs; prints `cycle-start <ts>` and
// `recorded <ts>` markers on stdout.
import { createProcessDataSource, createResultStore, openDatabase } from '@po/db';
import { createRunner, staticStrategySource } from '../src/index.ts';
import { compileDemoStrategy } from './helpers.ts';

const [url, schema, table, results] = process.argv.slice(2) as [string, string, string, string];
const db = await openDatabase({ url, schema });
const store = await createResultStore(db, {
  tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
  dataTable: table,
});
const compiled = await compileDemoStrategy();
const strategy = {
  spec: compiled.spec,
  modelFiles: compiled.modelFiles,
  monitor: compiled.monitor,
  async optimize(state: Parameters<typeof compiled.optimize>[0]) {
    console.log(`cycle-start ${Date.now()}`);
    await new Promise((r) => setTimeout(r, 2000));
    return compiled.optimize(state);
  },
};
const runner = createRunner({
  strategies: staticStrategySource(strategy, '1.0.0'),
  data: createProcessDataSource(db, { table }),
  results: {
    lastProcessed: () => store.lastProcessedTime(),
    async recordCycle(record) {
      const isNew = await store.recordCycle(record);
      console.log(`recorded ${record.dataTime ?? record.dataTimestamp.toISOString()} ${isNew}`);
      return isNew;
    },
  },
  intervalMs: 20,
  logger: {
    debug() {},
    info() {},
    warn: (o, m) => console.error(m, JSON.stringify(o)),
    error: (o, m) => console.error(m, JSON.stringify(o)),
  },
});
runner.start();
