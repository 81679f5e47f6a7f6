import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ENVIRONMENT, SECRETS, type Settings, settingsSchema } from './schema.ts';

/** Settings that do not validate: every problem, each naming the setting and where it came from. */
export class SettingsError extends Error {
  readonly code = 'SETTINGS_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`[po/settings] invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

export interface LoadSettingsOptions {
  /** The settings file (YAML); a missing file is fine when `optional`. Default `config/app.yaml`. */
  file?: string;
  /** Whether a missing file is an error (default: not, the defaults apply). */
  requireFile?: boolean;
  /** Environment variables (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Last word, e.g. command-line flags, as setting paths (`api.port`) to values. */
  overrides?: Readonly<Record<string, unknown>>;
}

/**
 * Reads the settings file, applies environment variables and overrides, and validates.
 * Throws SettingsError naming every wrong setting by the name the user wrote
 * (`PO_CYCLE_INTERVAL_S`, or `config/app.yaml: runner.cycle_interval_s`).
 */
export function loadSettings(options: LoadSettingsOptions = {}): Settings {
  const file = options.file ?? 'config/app.yaml';
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  const problems: string[] = [];

  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || options.requireFile) {
      throw new SettingsError([`${file}: cannot be read (${(e as Error).message})`]);
    }
  }
  if (text !== undefined) {
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0)
      throw new SettingsError(doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`));
    const parsed = doc.toJS() ?? {};
    if (typeof parsed !== 'object' || Array.isArray(parsed))
      throw new SettingsError([`${file}: must be a mapping`]);
    Object.assign(raw, parsed);
  }
  for (const [name, path] of ENVIRONMENT) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, path, value);
    origin.set(path, name);
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, path, value);
    origin.set(path, `--${path.split('.').pop()!.replaceAll('_', '-')}`);
  }

  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join('.');
      const from = origin.get(path);
      const where = from ?? `${file}: ${path || '(root)'}`;
      const shown = from && !SECRETS.includes(path) ? ` (got '${String(getPath(raw, path))}')` : '';
      const message =
        issue.code === 'unrecognized_keys' ? `unknown setting(s) ${issue.keys.join(', ')}` : issue.message;
      problems.push(`${where}: ${message}${shown}`);
    }
    throw new SettingsError(problems);
  }
  const settings = result.data;
  if (settings.store.kind === 's3' && !settings.store.s3_endpoint) {
    throw new SettingsError(['PO_S3_ENDPOINT: required when PO_STORE=s3 (e.g. http://127.0.0.1:9000)']);
  }
  return settings;
}

/** The settings as a flat list for logs and `po start`, with secrets masked. */
export function describeSettings(settings: Settings): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (value: unknown, prefix: string) => {
    if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
      return;
    }
    if (value === undefined) return;
    out[prefix] = SECRETS.includes(prefix) ? '(set, hidden)' : String(value);
  };
  walk(settings, '');
  return out;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function getPath(target: Record<string, unknown>, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], target);
}
