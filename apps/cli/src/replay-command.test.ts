/**
 * `po replay` as a user runs it: the built binary on an embedded database (PGlite in a temp
 * folder) holding the demo kiln's generated history; interrupted with a real SIGINT, resumed,
 * and compared with an uninterrupted replay of the same window.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createProcessDataSource, type Database, openDatabase } from '@po/db';
import { createDemoKiln } from '@po/models';
import { tempDir } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { po, root } from '../test/po.ts';

const ROWS = 400;
const START = new Date('2026-03-01T00:00:00Z');
const END = new Date(START.getTime() + (ROWS - 1) * 60_000);
const strategy = join(root, 'config/demo/strategy.yaml');
const DRIVE = 'im_predict_delta_Kiln_Drive_Current';
let dir: Awaited<ReturnType<typeof tempDir>>;
let env: Record<string, string | undefined>;

const withDb = async <T>(fn: (db: Database) => Promise<T>): Promise<T> => {
  const db = await openDatabase({ dataDir: join(dir.path, 'pglite') });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
};

beforeAll(async () => {
  dir = await tempDir('po-replay-cli');
  env = { PO_PGLITE_DIR: join(dir.path, 'pglite'), DATABASE_URL: undefined, PO_LOG_PRETTY: 'false' };
  await withDb(async (db) => {
    const source = createProcessDataSource(db);
    const rows = createDemoKiln({ seed: 3 }).history({ rows: ROWS, start: START });
    await source.createProcessDataTable(Object.keys(rows[0]!).filter((c) => c !== 'timestamp'));
    await source.insertRows(rows);
  });
}, 60_000);
afterAll(async () => {
  await dir?.remove();
});

const lines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown> & { event: string });

const window = ['--from', START.toISOString(), '--to', END.toISOString(), '--config', strategy];

/** The real CLI, sent SIGINT once it has stored `after` cycles. */
function interruptedReplay(after: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [join(root, 'apps/cli/dist/bin.js'), 'replay', ...window, '--json', '--threads', '1'],
      {
        cwd: dir.path,
        env: { ...process.env, ...env } as NodeJS.ProcessEnv,
      },
    );
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (!sent && lines(stdout).some((l) => l.event === 'progress' && Number(l.storedNow) >= after)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

type Row = Record<string, unknown>;
const tableOf = (id: string) =>
  withDb(async (db) => {
    const r = await db.query<Row>(
      'SELECT * FROM replay_results WHERE replay_id = $1 ORDER BY data_timestamp',
      [id],
    );
    return r.rows.map(({ replay_id: _, duration_ms: __, ...row }) => row);
  });

describe('po replay', () => {
  it('stops cleanly on SIGINT, resumes without running a row twice, and ends with the uninterrupted table', async () => {
    const stopped = await interruptedReplay(100);
    expect(stopped.code, stopped.stderr).toBe(130);
    const note = lines(stopped.stdout).find((l) => l.event === 'interrupted')!;
    expect(note.resume).toBe(`po replay --resume ${note.id}`);
    expect(stopped.stderr).toContain(`Resume with: po replay --resume ${note.id}`);
    const partial = await tableOf(String(note.id));
    expect(partial.length).toBeGreaterThanOrEqual(100);
    expect(partial.length).toBeLessThan(ROWS);

    const resumed = await po(['replay', '--resume', String(note.id), '--json', '--threads', '1'], {
      cwd: dir.path,
      env,
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    const progress = lines(resumed.stdout).filter((l) => l.event === 'progress');
    expect(progress.at(-1)).toMatchObject({ stored: ROWS, storedNow: ROWS - partial.length });
    const report = lines(resumed.stdout).find((l) => l.event === 'report')!.reports as Row[];
    expect(report[0]).toMatchObject({ rows: { in_window: ROWS, stored: ROWS, pending: 0 } });

    const whole = await po(['replay', ...window, '--json', '--threads', '1'], { cwd: dir.path, env });
    expect(whole.code, whole.stderr).toBe(0);
    const wholeId = String(lines(whole.stdout).find((l) => l.event === 'started')!.id);
    const a = await tableOf(String(note.id));
    const b = await tableOf(wholeId);
    expect(a).toHaveLength(ROWS);
    expect(new Set(a.map((r) => (r.data_timestamp as Date).getTime())).size).toBe(ROWS);
    expect(a).toEqual(b);
    // The prediction error is a post-pass in data-time order: the resumed replay reports the same.
    const wholeReport = lines(whole.stdout).find((l) => l.event === 'report')!.reports as Row[];
    expect(report[0]!.prediction_error).toEqual(wholeReport[0]!.prediction_error);
    const drive = (report[0] as { prediction_error: { outputs: Record<string, Row> } }).prediction_error
      .outputs.predicted_Kiln_Drive_Current!;
    expect(report[0]).toMatchObject({
      prediction_error: { model_estimated: true, recorded: true, comparison: 'horizon', horizon_s: 1800 },
    });
    expect(drive).toMatchObject({ measured_by: 'Kiln_Drive_Current', inferred: true, past_last_row: 30 });
    expect(Number(drive.pairs)).toBeGreaterThan(300);
    expect(drive.rmse).toEqual(expect.any(Number));
  }, 240_000);

  it('--compare replays a store version over the same window and prints both side by side', async () => {
    const demo = join(root, 'config/demo');
    expect(
      (await po(['upload-models', '--data-dir', join(demo, 'models')], { cwd: dir.path, env })).code,
    ).toBe(0);
    const upload = await po(['upload-config', '--config', strategy, '--version', '1.0.0'], {
      cwd: dir.path,
      env,
    });
    expect(upload.code, upload.stderr).toBe(0);
    const short = [
      '--from',
      START.toISOString(),
      '--to',
      new Date(START.getTime() + 29 * 60_000).toISOString(),
    ];
    const compared = await po(['replay', ...short, '--config', strategy, '--compare', '1.0.0', '--json'], {
      cwd: dir.path,
      env,
    });
    expect(compared.code, compared.stderr).toBe(0);
    const reports = lines(compared.stdout).find((l) => l.event === 'report')!.reports as {
      replay: Record<string, unknown>;
      rows: Record<string, unknown>;
      cost: Record<string, unknown>;
    }[];
    expect(reports.map((r) => r.replay.strategy_version)).toEqual([null, '1.0.0']);
    expect(reports.map((r) => r.rows.stored)).toEqual([30, 30]);
    // The same strategy text and models: the same model-estimated cost over the same window.
    expect(reports[1]!.cost).toEqual(reports[0]!.cost);
    expect((reports[1] as Row).prediction_error).toEqual((reports[0] as Row).prediction_error);
    const table = await po(['replay', ...short, '--config', strategy, '--compare', '1.0.0'], {
      cwd: dir.path,
      env,
    });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/Replay \S+ vs \S+/);
    expect(table.stdout).toContain('cost at actual mean / median / total (model-estimated)');
    expect(table.stdout).toContain('1.0.0');
    expect(table.stdout).toContain('prediction error compared with');
    expect(table.stdout).toMatch(/predicted_Kiln_Drive_Current \(\S+\) vs Kiln_Drive_Current: pairs/);
    expect(table.stdout).toContain('not measured: no plant-data column');
  }, 240_000);

  it("logs a critical model gone bad to stderr, tagged with the replay id, and --json's stdout stays JSON", async () => {
    // The demo strategy with the drive-current model critical and thresholds the demo's errors
    // (several amperes) cross at the first comparison, 30 rows in (horizon_s 1800 on minute data).
    const doc = parseDocument(await readFile(strategy, 'utf8'));
    doc.setIn(['skills', DRIVE, 'config', 'critical'], true);
    doc.setIn(['models', 'mismatch', 'models'], { [DRIVE]: { suspect: 0.5, bad: 1, cusum: 2, slack: 0.1 } });
    const critical = join(dir.path, 'critical.yaml');
    await writeFile(critical, doc.toString());
    const short = [
      '--from',
      START.toISOString(),
      '--to',
      new Date(START.getTime() + 44 * 60_000).toISOString(),
    ];
    const run = await po(
      ['replay', ...short, '--config', critical, '--models-dir', join(root, 'config/demo/models'), '--json'],
      { cwd: dir.path, env },
    );
    expect(run.code, run.stderr).toBe(0);
    const out = run.stdout.split('\n').filter((l) => l !== '');
    expect(
      out.every((l) => l.startsWith('{')),
      run.stdout,
    ).toBe(true);
    const events = lines(run.stdout);
    const id = events.find((e) => e.event === 'started')!.id;
    const report = events.find((e) => e.event === 'report')!.reports as {
      cycles: { forced_monitor: number };
    }[];
    expect(report[0]!.cycles.forced_monitor).toBeGreaterThan(0);
    const logged = lines(run.stderr).filter((l) => typeof l.msg === 'string');
    expect(logged, run.stderr).toContainEqual(
      expect.objectContaining({
        replay: id,
        models: [DRIVE],
        msg: expect.stringContaining(`critical model '${DRIVE}'`),
      }),
    );
  }, 240_000);

  it('names bad flags with exit 2', async () => {
    const bad = await po(['replay', '--from', 'yesterday', '--to', END.toISOString(), '--config', strategy], {
      cwd: dir.path,
      env,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--from 'yesterday' is not a time");
    const every = await po(['replay', ...window, '--every', '0'], { cwd: dir.path, env });
    expect(every.code).toBe(2);
    expect(every.stderr).toContain('--every must be a whole number >= 1');
    const unknown = await po(['replay', '--resume', 'no-such-replay'], { cwd: dir.path, env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no replay with id 'no-such-replay'");
  }, 120_000);
});
