/**
 * `po start` as operators run it: the built binary in hybrid mode on the embedded defaults
 * (local store, PGlite fed by the demo kiln), on a loopback port; then SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayReportSchema } from '@po/runner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployDemo, po, root } from '../test/po.ts';

const demo = join(root, 'config/demo');
const dir = mkdtempSync(join(tmpdir(), 'po-start-'));
const env = { PO_CYCLE_INTERVAL_S: '1', PO_PORT: '0', PO_LOG_PRETTY: 'false', PO_THREADS: '1' };
let child: ChildProcess;
let url = '';
let log = '';

// biome-ignore lint/suspicious/noExplicitAny: HTTP bodies are checked by the assertions
const json = async (res: Response): Promise<any> => res.json();

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; log:\n${log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  await deployDemo(dir);
  child = spawn(process.execPath, [join(root, 'apps/cli/dist/bin.js'), 'start'], {
    cwd: dir,
    env: { ...process.env, ...env },
  });
  child.stdout!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  url = await until('the service to listen', () => /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1]);
}, 120_000);

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('po start (hybrid, embedded defaults)', () => {
  it('serves the deployed strategy: health, optimize in the predecessor shape', async () => {
    const health = await json(await fetch(`${url}/health`));
    expect(health.strategy).toMatchObject({ state: 'loaded', version: '1.0.0' });
    expect(health.database).toMatchObject({ ok: true, kind: 'pglite' });
    const state = JSON.parse(readFileSync(join(demo, 'example-state.json'), 'utf8'));
    const res = await fetch(`${url}/optimize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_data: state }),
    });
    expect(res.status).toBe(200);
    const result = await json(res);
    expect(result).toMatchObject({ status: 'success', config_version: '1.0.0' });
    expect(result.cost_function_value).toBeLessThanOrEqual(result.cost_at_current);
  });

  it('runs cycles on the demo kiln data and records each one, with the last-run timestamp file', async () => {
    const results = await until('recorded cycles', async () => {
      const body = await json(await fetch(`${url}/results?limit=5`));
      return body.results?.length >= 2 ? body.results : undefined;
    });
    expect(results[0]).toMatchObject({ status: 'ok', strategyVersion: '1.0.0' });
    expect(readFileSync(join(dir, 'metadata/last_run_timestamp.yaml'), 'utf8')).toMatch(
      /^last_run_timestamp: '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d'/,
    );
    const stats = await json(await fetch(`${url}/cache/stats`));
    expect(stats.current_config_version).toBe('1.0.0');
    expect(stats.cache_stats).toHaveProperty('model');
  });

  it('replays a window of the demo history over HTTP: POST /replays, then GET /replays/{id}', async () => {
    const now = Date.now();
    const window = { from: new Date(now - 200_000).toISOString(), to: new Date(now - 100_000).toISOString() };
    const bad = await fetch(`${url}/replays`, {
      method: 'POST',
      body: JSON.stringify({ from: window.to, to: window.from }),
    });
    expect(bad.status).toBe(400);
    expect((await json(bad)).details).toEqual([expect.objectContaining({ path: 'to' })]);
    const started = await fetch(`${url}/replays`, { method: 'POST', body: JSON.stringify(window) });
    expect(started.status).toBe(202);
    const { id, rows } = await json(started);
    expect(rows).toBeGreaterThan(0);
    const report = await until('the replay to finish', async () => {
      const body = await json(await fetch(`${url}/replays/${id}`));
      return body.replay?.status === 'done' ? body : undefined;
    });
    expect(report.replay).toMatchObject({ id, strategy_version: '1.0.0', every: 1 });
    expect(report.rows).toMatchObject({ in_window: rows, stored: rows, pending: 0 });
    expect(report.cycles.run + report.cycles.skipped).toBe(rows);
    expect(report.cost.model_estimated).toBe(true);
    // The report as the schema (OpenAPI) says, with the prediction error per model output.
    expect(replayReportSchema.safeParse(report).error).toBeUndefined();
    expect(report.prediction_error).toMatchObject({
      model_estimated: true,
      recorded: true,
      comparison: 'horizon',
      horizon_s: 1800,
      outputs: {
        predicted_Kiln_Drive_Current: { measured_by: 'Kiln_Drive_Current', inferred: true },
        delta_Kiln_Drive_Current: { measured_by: null, pairs: 0 },
      },
    });
    const drive = report.prediction_error.outputs.predicted_Kiln_Drive_Current;
    expect(drive.pairs + drive.without_measurement + drive.past_last_row).toBe(drive.predictions);
    expect((await fetch(`${url}/replays/no-such-replay`)).status).toBe(404);
  });

  it('a second po on the same port says the port is in use, and exits 1', async () => {
    const port = new URL(url).port;
    const r = await po(['start', '--mode', 'api', '--port', port], {
      cwd: dir,
      env: { ...env, PO_PORT: port },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is in use`);
  });

  it('stops on SIGTERM: the cycle in progress finishes, exit code 0', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toContain('[po] stopped');
  });
});
