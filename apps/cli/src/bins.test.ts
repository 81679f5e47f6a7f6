/**
 * The `po-api` and `po-runner` programs as operators run them: the built bins, configured by the
 * environment only (the service of `po start` in one mode).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from '../test/po.ts';

const bin = (name: 'po-api' | 'po-runner') => join(root, `apps/cli/dist/${name}.js`);
const demo = join(root, 'config/demo');

/** Runs a bin to its end. */
function run(
  name: 'po-api' | 'po-runner',
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin(name)],
      { cwd, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts a bin, collecting its output, until `stop()` (SIGTERM) resolves with its exit code. */
function start(name: 'po-api' | 'po-runner', cwd: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [bin(name)], { cwd, env: { ...process.env, ...env } });
  let log = '';
  child.stdout!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    log: () => log,
    async until<T>(what: string, find: (log: string) => T | undefined, ms = 60_000): Promise<T> {
      for (const end = Date.now() + ms; Date.now() < end; ) {
        const found = find(log);
        if (found !== undefined) return found;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`timed out waiting for ${what}; log:\n${log.slice(-3000)}`);
    },
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: () => child.exitCode === null && child.kill('SIGKILL'),
  };
}

const quiet = { PO_LOG_PRETTY: 'false', PO_THREADS: '1', DATABASE_URL: '' };

describe('po-runner', () => {
  it('refuses to open an embedded database another live process holds, naming the pid and folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'po-runner-app-'));
    const dataDir = join(dir, 'pglite');
    try {
      // This test process plays the live holder.
      await writeFile(`${dataDir}.lock`, `${process.pid}\n`);
      // PO_DATA_DIR is the runner's old name of PO_PGLITE_DIR: it still works.
      const result = await run('po-runner', dir, {
        ...quiet,
        PO_DATA_DIR: dataDir,
        PO_LOG_LEVEL: 'info',
      });
      expect(result.code).toBe(1);
      const lines = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string });
      const fatal = lines.find((l) => l.level === 60);
      expect(fatal?.code).toBe('LOCKED');
      expect(fatal?.msg).toContain(`The embedded database '${dataDir}' is in use by process ${process.pid}`);
      expect(lines.find((l) => l.level === 40)?.msg).toBe(
        '[po/settings] PO_DATA_DIR is deprecated: use PO_PGLITE_DIR (it sets database.pglite_dir)',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start with a wrong setting, naming it', async () => {
    const result = await run('po-runner', root, {
      PO_CYCLE_INTERVAL_S: 'every minute',
      PO_DATA_TABLE: 'process data',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/PO_CYCLE_INTERVAL_S: .*\(got 'every minute'\)/);
    expect(result.stderr).toMatch(/PO_DATA_TABLE: must be a SQL identifier/);
  });

  it('runs a strategy file (PO_STRATEGY, the old name) on the embedded demo plant, and stops on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'po-runner-file-'));
    const runner = start('po-runner', dir, {
      ...quiet,
      PO_CYCLE_INTERVAL_S: '1',
      PO_STRATEGY: join(demo, 'strategy.yaml'),
      PO_STRATEGY_VERSION: '7.0.0',
    });
    try {
      const cycle = await runner.until(
        'a recorded cycle',
        (log) =>
          log
            .split('\n')
            .filter((l) => l.includes('"[po/runner] cycle"'))
            .map((l) => JSON.parse(l) as { status: string; version: string })[0],
      );
      expect(cycle).toMatchObject({ status: 'ok', version: '7.0.0' });
      expect(runner.log()).toContain('PO_STRATEGY is deprecated: use PO_STRATEGY_FILE');
      expect(await runner.stop()).toBe(0);
      expect(await readFile(join(dir, 'metadata/last_run_timestamp.yaml'), 'utf8')).toMatch(
        /^last_run_timestamp: /,
      );
    } finally {
      runner.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('po-api', () => {
  it('serves a strategy file (PO_STRATEGY_FILE) on a free port, and stops on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'po-api-file-'));
    const api = start('po-api', dir, {
      ...quiet,
      PO_PORT: '0',
      PO_STRATEGY_FILE: join(demo, 'strategy.yaml'),
      PO_MODELS_DIR: join(demo, 'models'),
    });
    try {
      const url = await api.until('the API to listen', (log) => /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1]);
      const health = (await (await fetch(`${url}/health`)).json()) as { strategy: Record<string, unknown> };
      expect(health.strategy).toMatchObject({
        state: 'loaded',
        source: `file:${join(demo, 'strategy.yaml')}`,
      });
      expect(health.strategy.version).toMatch(/^sha256:[0-9a-f]{12}$/);
      const state = JSON.parse(await readFile(join(demo, 'example-state.json'), 'utf8'));
      const res = await fetch(`${url}/optimize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input_data: state }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'success' });
      expect(await api.stop()).toBe(0);
    } finally {
      api.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a strategy file that does not exist stops it at once, naming the setting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'po-api-missing-'));
    try {
      const result = await run('po-api', dir, { ...quiet, PO_PORT: '0', PO_STRATEGY_FILE: 'nope.yaml' });
      expect(result.code).toBe(1);
      const fatal = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string })
        .find((l) => l.level === 60);
      expect(fatal).toMatchObject({ code: 'SETTINGS_INVALID' });
      expect(fatal?.msg).toContain(
        `strategy.file (PO_STRATEGY_FILE): '${join(dir, 'nope.yaml')}' does not exist`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
