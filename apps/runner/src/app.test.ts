import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('the runner app (src/index.ts)', () => {
  it('refuses to open an embedded database another live process holds, naming the pid and folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'po-runner-app-'));
    const dataDir = join(dir, 'pglite');
    try {
      // This test process plays the live holder.
      await writeFile(`${dataDir}.lock`, `${process.pid}\n`);
      const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', join(import.meta.dirname, 'index.ts')],
          {
            cwd: join(import.meta.dirname, '../../..'),
            env: { ...process.env, DATABASE_URL: '', PO_DATA_DIR: dataDir, PO_LOG_LEVEL: 'info' },
          },
          (error, stdout) => resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout }),
        );
      });
      expect(result.code).toBe(1);
      const fatal = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string })
        .find((l) => l.level === 60);
      expect(fatal?.code).toBe('LOCKED');
      expect(fatal?.msg).toContain(`The embedded database '${dataDir}' is in use by process ${process.pid}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start with a wrong setting, naming it', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'index.ts')],
        {
          cwd: join(import.meta.dirname, '../../..'),
          env: { ...process.env, PO_CYCLE_INTERVAL_S: 'every minute', PO_DATA_TABLE: 'process data' },
        },
        (error, _stdout, stderr) =>
          resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/PO_CYCLE_INTERVAL_S: .*\(got 'every minute'\)/);
    expect(result.stderr).toMatch(/PO_DATA_TABLE: must be a SQL identifier/);
  });
});
