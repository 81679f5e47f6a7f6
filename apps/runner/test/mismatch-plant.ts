import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createProcessDataSource,
  createResultStore,
  type Database,
  type ProcessDataSource,
  type StoredResult,
} from '@po/db';
import { createModelProvider, type DemoKiln, localModelFiles } from '@po/models';
import { type CompiledStrategy, checkStrategy, compileStrategy } from '@po/rto-engine';
import { randomName } from '@po/test-kit';
import { afterAll, beforeAll, expect } from 'vitest';
import { createRunner, type Runner, staticStrategySource } from '../src/index.ts';
import { plantColumns } from '../src/validation.ts';
import { backends, DEMO_DIR } from './helpers.ts';

/** The demo's drive-current model: monitored through its inferred `measured_by`. */
export const DRIVE = 'im_predict_delta_Kiln_Drive_Current';
/** A row every 30 minutes: the horizon the demo delta models were trained on. */
export const STEP_MS = 30 * 60_000;
export const T0 = Date.parse('2026-04-01T00:00:00Z');

/** The parts of a strategy the tests change. */
export type EditableSpec = {
  skills: Record<string, { class: string; config: Record<string, unknown> }>;
  models?: unknown;
};

/** A runner over a fresh plant-data table, fed the demo kiln's rows one cycle at a time. */
export interface PlantLoop {
  runner: Runner;
  /** The plant-data table (every row inserted so far). */
  source: ProcessDataSource;
  /** Inserts the kiln's row at T0 + i steps, runs one cycle (which must run) and returns its record. */
  cycle(i: number): Promise<StoredResult>;
}

/**
 * The set-up of the model-plant mismatch tests (runner and replay): one PGlite database for the
 * test file (opened in `beforeAll`, removed in `afterAll`, with the strategies compiled on it),
 * the demo strategy with an edit, and a runner loop over the demo kiln. Call at the top of a file.
 */
export function mismatchPlant() {
  const pglite = backends.find((b) => b.name === 'pglite')!;
  const compiled: CompiledStrategy[] = [];
  let opened: { db: Database; cleanup: () => Promise<void> } | undefined;
  // Initialising PGlite takes a while on a loaded machine.
  beforeAll(async () => {
    opened = await pglite.open();
  }, 180_000);
  afterAll(async () => {
    await Promise.all(compiled.map((c) => c.dispose()));
    await opened?.cleanup();
  });
  const database = (): Database => {
    if (!opened) throw new Error('mismatchPlant: the database opens in beforeAll; use it inside tests');
    return opened.db;
  };

  return {
    /** The file's database (inside tests and hooks). */
    get db(): Database {
      return database();
    },

    /**
     * The demo strategy with `edit` applied, compiled with its real models (version 1.0.0). The
     * optimizer's time budget is lifted so that it stops on its iterations alone: the same row
     * gives the same answer however loaded the machine is.
     */
    async demoStrategy(edit: (spec: EditableSpec) => void): Promise<CompiledStrategy> {
      const spec = structuredClone(
        checkStrategy(await readFile(join(DEMO_DIR, 'strategy.yaml'), 'utf8')).strategy!,
      ) as unknown as EditableSpec;
      for (const skill of Object.values(spec.skills))
        if (skill.class === 'OptimizationSkill')
          skill.config.options = { ...(skill.config.options as object), max_time_ms: 60_000 };
      edit(spec);
      const strategy = await compileStrategy(spec as never, {
        modelProvider: createModelProvider({ readFile: localModelFiles(join(DEMO_DIR, 'models')) }),
        version: '1.0.0',
      });
      compiled.push(strategy);
      return strategy;
    },

    /** A runner (clock at each row's time) over a fresh table of `kiln`'s rows. */
    async plantLoop(strategy: CompiledStrategy, kiln: DemoKiln): Promise<PlantLoop> {
      const db = database();
      const table = randomName('pd');
      const results = randomName('res');
      const source = createProcessDataSource(db, { table });
      await source.createProcessDataTable(plantColumns(strategy.spec));
      const store = await createResultStore(db, {
        tables: { results, feedback: `${results}_fb`, runnerState: `${results}_st` },
        dataTable: table,
      });
      let now = T0;
      const runner = createRunner({
        strategies: staticStrategySource(strategy, '1.0.0'),
        data: source,
        results: store,
        clock: { now: () => new Date(now) },
      });
      const cycle = async (i: number): Promise<StoredResult> => {
        now = T0 + i * STEP_MS;
        const { timestamp, ...values } = kiln.tick(now);
        await source.insertRows([{ timestamp: new Date(timestamp), ...values }]);
        expect(await runner.runOnce()).toBe('ok');
        const [latest] = await store.recent({ limit: 1 });
        expect(latest!.dataTimestamp.getTime()).toBe(now);
        return latest!;
      };
      return { runner, source, cycle };
    },
  };
}
