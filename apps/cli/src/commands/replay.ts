import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { createCyclePool } from '@po/api';
import { openDatabase, type Replay } from '@po/db';
import { type ReplayProgress, type ReplayReport, replayReport } from '@po/runner';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import { createLogger } from '../logger.ts';
import { PGLITE_TEMPLATES } from '../service/pglite-template.ts';
import {
  choiceOf,
  createReplay,
  executeReplay,
  loadReplayStrategy,
  openReplayTables,
  type ReplayTables,
} from '../service/replays.ts';
import { readSettings, type StoreFlags } from './context.ts';
import { formatReplayReports } from './replay-format.ts';
import { withStoreFlags } from './store.ts';

interface ReplayFlags extends StoreFlags {
  from?: string;
  to?: string;
  strategy?: string;
  config?: string;
  modelsDir?: string;
  every: string;
  compare?: string;
  resume?: string;
  threads?: string;
  json?: boolean;
}

export function registerReplayCommand(program: Command, output: Output): void {
  withStoreFlags(
    program
      .command('replay')
      .description(
        'run a strategy over a window of plant history, store every cycle, and report what it would have done',
      ),
  )
    .option('--from <time>', 'window start (ISO 8601), included')
    .option('--to <time>', 'window end (ISO 8601), included')
    .option('--strategy <version>', 'a strategy version of the store (default: the deployed one)')
    .option('--config <file>', 'a strategy file instead of a store version')
    .option('--models-dir <dir>', 'folder of the model files of --config (default: its folder)')
    .option('--every <n>', 'run every Nth row', '1')
    .option(
      '--compare <version>',
      'also replay this store version over the same window, and report side by side',
    )
    .option('--resume <id>', 'continue an interrupted replay (its window, every and strategy)')
    .option('--threads <n>', 'worker threads (default: the CPUs)')
    .option('--json', 'progress and the report as JSON lines')
    .action(async (flags: ReplayFlags) => {
      await runReplayCommand(flags, output);
    });
}

const positiveInt = (value: string, flag: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError(`[po] ${flag} must be a whole number >= 1, got '${value}'`, 2);
  return n;
};

const time = (value: string | undefined, flag: string): Date => {
  if (!value)
    throw new CliError(`[po] ${flag} is required (ISO 8601, e.g. 2026-03-01T00:00:00Z), or --resume <id>`, 2);
  const t = new Date(value);
  if (Number.isNaN(t.getTime()))
    throw new CliError(`[po] ${flag} '${value}' is not a time (ISO 8601, e.g. 2026-03-01T00:00:00Z)`, 2);
  return t;
};

function checkFlags(flags: ReplayFlags) {
  if (flags.config && flags.strategy) throw new CliError('[po] give --strategy or --config, not both', 2);
  if (flags.resume && (flags.from || flags.to || flags.compare))
    throw new CliError(
      '[po] --resume continues a replay with its own window: drop --from, --to and --compare',
      2,
    );
  const every = positiveInt(flags.every, '--every');
  const threads = flags.threads ? positiveInt(flags.threads, '--threads') : availableParallelism();
  if (flags.resume) return { every, threads };
  const from = time(flags.from, '--from');
  const to = time(flags.to, '--to');
  if (to < from) throw new CliError(`[po] --to (${flags.to}) is before --from (${flags.from})`, 2);
  return { every, threads, window: { from, to, every } };
}

async function runReplayCommand(flags: ReplayFlags, output: Output): Promise<void> {
  const { threads, window } = checkFlags(flags);
  const settings = readSettings(flags);
  // The service's log (a critical model gone bad or recovered), on stderr: stdout holds the
  // progress and the report.
  const logger = createLogger(settings, output.isTTY, { destination: logStream(output, flags) });
  const db = await openDatabase({
    url: settings.database.url,
    dataDir: settings.database.pglite_dir,
    pgliteTemplates: PGLITE_TEMPLATES,
  });
  const pool = createCyclePool({ threads });
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const tables = await openReplayTables(db, settings);
    const run = (replay: Replay, strategy: Awaited<ReturnType<typeof loadReplayStrategy>>) =>
      withProgress(output, flags, replay, (onProgress) =>
        executeReplay({
          tables,
          replay,
          strategy,
          concurrency: threads * 2,
          signal: controller.signal,
          onProgress,
          logger: logger.child({ replay: replay.id }),
        }),
      );
    const replays: Replay[] = [];
    if (flags.resume) {
      const replay = await existing(tables, flags.resume);
      const strategy = await loadReplayStrategy(
        pool,
        settings,
        flags.config || flags.strategy ? choice(flags) : choiceOf(replay),
      );
      if (replay.status !== 'done' && !(await run(replay, strategy)).interrupted) replays.push(replay);
      else if (replay.status === 'done') replays.push(replay);
      else return interrupted(output, flags, replay);
    } else {
      const versions: Parameters<typeof loadReplayStrategy>[2][] = [choice(flags)];
      if (flags.compare) versions.push({ version: flags.compare });
      for (const v of versions) {
        const strategy = await loadReplayStrategy(pool, settings, v);
        const replay = await createReplay(tables, strategy, window!);
        if ((await run(replay, strategy)).interrupted) return interrupted(output, flags, replay);
        replays.push(replay);
      }
    }
    const reports: ReplayReport[] = [];
    for (const r of replays)
      reports.push(replayReport((await tables.store.get(r.id))!, await tables.store.cycles(r.id)));
    printReports(output, flags, reports);
  } finally {
    process.removeListener('SIGINT', onSigint);
    await pool.close();
    await db.close();
  }
}

const choice = (flags: ReplayFlags) => ({
  ...(flags.config ? { config: flags.config } : {}),
  ...(flags.modelsDir ? { modelsDir: flags.modelsDir } : {}),
  ...(flags.strategy ? { version: flags.strategy } : {}),
});

async function existing(tables: ReplayTables, id: string): Promise<Replay> {
  const replay = await tables.store.get(id).catch(() => undefined);
  if (!replay) throw new CliError(`[po] no replay with id '${id}' (in the replays table of this database)`);
  return replay;
}

function interrupted(output: Output, flags: ReplayFlags, replay: Replay): never {
  const resume = `po replay --resume ${replay.id}`;
  if (flags.json) output.out(JSON.stringify({ event: 'interrupted', id: replay.id, resume }));
  throw new CliError(`[po] replay ${replay.id} interrupted; what ran is stored. Resume with: ${resume}`, 130);
}

function printReports(output: Output, flags: ReplayFlags, reports: ReplayReport[]): void {
  if (flags.json) output.out(JSON.stringify({ event: 'report', reports }));
  else output.out(formatReplayReports(reports));
}

/**
 * Where `po replay` logs: stderr, line by line; with the progress bar (a terminal, no --json),
 * each line first clears the bar's line, and the bar draws itself again below at its next update.
 */
function logStream(output: Output, flags: ReplayFlags): Writable {
  const bar = output.isTTY && !flags.json;
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      output.err(`${bar ? '\r\x1b[2K' : ''}${chunk.toString()}`);
      done();
    },
  });
}

/** Runs `work` with a progress bar (terminal) or JSON progress lines (--json: stdout; not a terminal: stderr). */
async function withProgress<T>(
  output: Output,
  flags: ReplayFlags,
  replay: Replay,
  work: (onProgress: (p: ReplayProgress) => void) => Promise<T>,
): Promise<T> {
  if (flags.json || !output.isTTY) {
    // Not a terminal: progress as JSON lines (stdout with --json, else stderr beside the table).
    const write = flags.json ? output.out : output.err;
    write(
      JSON.stringify({
        event: 'started',
        id: replay.id,
        strategy: replay.strategyVersion ?? replay.strategySource,
        from: replay.from,
        to: replay.to,
        every: replay.every,
      }),
    );
    const started = Date.now();
    return work((p) => {
      const now = Date.now();
      const rate = p.storedNow / Math.max(0.001, (now - started) / 1000);
      write(
        JSON.stringify({ event: 'progress', id: replay.id, ...p, cycles_per_s: Math.round(rate * 10) / 10 }),
      );
    });
  }
  const bar = new SingleBar({
    format: `replay ${replay.id.slice(0, 8)} [{bar}] {value}/{total} cycles | {rate} cycles/s | ETA {eta_formatted}`,
    hideCursor: true,
  });
  const started = Date.now();
  let began = false;
  try {
    return await work((p) => {
      const rate = p.storedNow / Math.max(0.001, (Date.now() - started) / 1000);
      if (!began) {
        bar.start(p.selected, p.stored, { rate: '-' });
        began = true;
      }
      bar.update(p.stored, { rate: rate.toFixed(0) });
    });
  } finally {
    if (began) bar.stop();
  }
}
