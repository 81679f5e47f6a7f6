import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPoError } from '@po/core';
import { describe, expect, it } from 'vitest';
import { describeSettings, loadSettings, SettingsError } from './load.ts';
import { DEPRECATED_ENVIRONMENT, ENVIRONMENT } from './schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'po-settings-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const none = join(dir, 'missing.yaml');

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof SettingsError) return [...e.problems];
    throw e;
  }
  throw new Error('expected a SettingsError');
}

describe('loadSettings', () => {
  it('defaults are the embedded demo', () => {
    const s = loadSettings({ file: none, env: {} });
    expect(s.mode).toBe('hybrid');
    expect(s.api.port).toBe(5000);
    expect(s.runner.cycle_interval_s).toBe(60);
    expect(s.runner.data_table).toBe('process_data');
    expect(s.runner.results_table).toBe('optimization_results');
    expect(s.database.url).toBeUndefined();
    expect(s.store.kind).toBe('local');
    expect(s.store.bucket).toBe('process-optimization');
    expect(s.metadata_dir).toBe('metadata');
    expect(s.api.threads).toBe(Math.max(1, availableParallelism() - 1));
    expect(s.database).toMatchObject({
      query_timeout_ms: 30_000,
      connect_timeout_ms: 5_000,
      connect_retries: 4,
    });
  });

  it('the file, then the environment, then overrides', () => {
    const path = file('app.yaml', 'api:\n  port: 6000\nrunner:\n  cycle_interval_s: 30\n');
    const s = loadSettings({
      file: path,
      env: { PO_CYCLE_INTERVAL_S: '5', PO_API_TOKEN: 'x' },
      overrides: { 'api.port': 7000 },
    });
    expect(s.api.port).toBe(7000);
    expect(s.runner.cycle_interval_s).toBe(5);
    expect(s.api.token).toBe('x');
  });

  it('AWS_* keys work, PO_S3_* win', () => {
    const env = {
      PO_STORE: 's3',
      PO_S3_ENDPOINT: 'http://127.0.0.1:9000',
      AWS_ACCESS_KEY_ID: 'a',
      AWS_SECRET_ACCESS_KEY: 'b',
    };
    expect(loadSettings({ file: none, env }).store.s3_access_key).toBe('a');
    expect(loadSettings({ file: none, env: { ...env, PO_S3_ACCESS_KEY: 'c' } }).store.s3_access_key).toBe(
      'c',
    );
  });

  it('names every wrong setting by the name the user wrote', () => {
    const path = file('bad.yaml', 'runner:\n  cycle_interval_s: -1\nstore:\n  kind: ftp\ncolour: blue\n');
    const found = problems(() =>
      loadSettings({ file: path, env: { PO_PORT: 'http', PO_DATA_TABLE: 'process data; drop' } }),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PO_PORT: .* \(got 'http'\)$/),
        expect.stringMatching(/^PO_DATA_TABLE: must be a SQL identifier/),
        expect.stringMatching(/bad\.yaml: runner\.cycle_interval_s: /),
        expect.stringMatching(/bad\.yaml: store\.kind: /),
        expect.stringMatching(/unknown setting\(s\) colour/),
      ]),
    );
  });

  it('s3 needs an endpoint', () => {
    expect(problems(() => loadSettings({ file: none, env: { PO_STORE: 's3' } }))[0]).toMatch(
      /^PO_S3_ENDPOINT: required/,
    );
  });

  it('never shows secrets', () => {
    const s = loadSettings({
      file: none,
      env: {
        PO_API_TOKEN: 'Tk-1x',
        DATABASE_URL: 'postgres://u:Pw-2y@h/db',
        PO_S3_SECRET_KEY: 'Sk-3z',
        PO_STORE: 'local',
      },
    });
    const shown = JSON.stringify(describeSettings(s));
    expect(shown).not.toMatch(/Tk-1x|Pw-2y|Sk-3z/);
    expect(describeSettings(s)['api.token']).toBe('(set, hidden)');
  });

  it('a YAML error names the file', () => {
    const path = file('broken.yaml', 'api: { port: 1\n');
    expect(problems(() => loadSettings({ file: path, env: {} }))[0]).toContain('broken.yaml');
  });

  it('is a PoError of scope settings, so the apps map it like every other po error', () => {
    try {
      loadSettings({ file: none, env: { PO_PORT: 'http' } });
      expect.unreachable('the port is not a number');
    } catch (e) {
      expect(isPoError(e, 'SETTINGS_INVALID', 'settings')).toBe(true);
      expect((e as SettingsError).message).toMatch(/^\[po\/settings\] invalid settings:\n {2}- PO_PORT: /);
    }
  });

  it('the strategy file the standalone bins serve, its models folder and version', () => {
    const s = loadSettings({
      file: none,
      env: { PO_STRATEGY_FILE: 'kiln.yaml', PO_MODELS_DIR: 'models', PO_STRATEGY_VERSION: '2.1.0' },
    });
    expect(s.strategy).toEqual({ file: 'kiln.yaml', models_dir: 'models', version: '2.1.0' });
    expect(loadSettings({ file: none, env: {} }).strategy).toEqual({});
  });

  it('warns when a strategy setting has no effect without a strategy file', () => {
    const warnings: string[] = [];
    loadSettings({ file: none, env: { PO_MODELS_DIR: 'models' }, onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([
      'PO_MODELS_DIR has no effect without a strategy file (PO_STRATEGY_FILE, strategy.file)',
    ]);
  });
});

describe('deprecated variables', () => {
  const load = (env: Record<string, string>) => {
    const warnings: string[] = [];
    const settings = loadSettings({ file: none, env, onWarning: (w) => warnings.push(w) });
    return { settings, warnings };
  };

  it('PO_DATA_DIR still sets the embedded database folder, with a warning naming PO_PGLITE_DIR', () => {
    const { settings, warnings } = load({ PO_DATA_DIR: 'var/pg' });
    expect(settings.database.pglite_dir).toBe('var/pg');
    expect(warnings).toEqual(['PO_DATA_DIR is deprecated: use PO_PGLITE_DIR (it sets database.pglite_dir)']);
  });

  it('PO_STRATEGY still names the strategy file, with a warning naming PO_STRATEGY_FILE', () => {
    const { settings, warnings } = load({ PO_STRATEGY: 'old.yaml' });
    expect(settings.strategy.file).toBe('old.yaml');
    expect(warnings).toEqual(['PO_STRATEGY is deprecated: use PO_STRATEGY_FILE (it sets strategy.file)']);
  });

  it('the new name wins, and the warning says the old one is ignored', () => {
    const { settings, warnings } = load({ PO_DATA_DIR: 'old', PO_PGLITE_DIR: 'new' });
    expect(settings.database.pglite_dir).toBe('new');
    expect(warnings).toEqual([
      'PO_DATA_DIR is deprecated and ignored: PO_PGLITE_DIR is set (remove PO_DATA_DIR)',
    ]);
  });

  it('a wrong value is named by the deprecated variable the user wrote', () => {
    expect(problems(() => loadSettings({ file: none, env: { PO_API_PORT: 'x' } }))[0]).toMatch(
      /^PO_API_PORT: .* \(got 'x'\)$/,
    );
  });

  it('no warning without deprecated variables', () => {
    expect(load({ PO_PGLITE_DIR: 'data/x', PO_STRATEGY_FILE: 'a.yaml' }).warnings).toEqual([]);
  });

  it('every deprecated name points at a current one', () => {
    const current = new Set(ENVIRONMENT.map(([name]) => name));
    for (const [, replacement] of DEPRECATED_ENVIRONMENT) expect(current).toContain(replacement);
  });
});

describe('the README', () => {
  it('documents every environment variable, deprecated ones included', () => {
    const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');
    for (const [name] of [...ENVIRONMENT, ...DEPRECATED_ENVIRONMENT]) expect(readme).toContain(`\`${name}\``);
  });
});
