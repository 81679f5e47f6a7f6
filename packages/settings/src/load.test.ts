import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSettings, loadSettings, SettingsError } from './load.ts';

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
});
