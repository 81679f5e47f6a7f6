import { readFileSync } from 'node:fs';
import { errorCode, PoError } from '@po/core';
import { parseDocument } from 'yaml';
import { DEPRECATED_ENVIRONMENT, ENVIRONMENT, SECRETS, type Settings, settingsSchema } from './schema.ts';

/** Settings that do not validate: every problem, each naming the setting and where it came from. */
export class SettingsError extends PoError {
  constructor(readonly problems: readonly string[]) {
    super('settings', 'SETTINGS_INVALID', `invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadSettingsOptions {
  /** The settings file (YAML); a missing file is fine unless `requireFile`. Default `config/app.yaml`. */
  file?: string;
  /** Whether a missing file is an error (default: not, the defaults apply). */
  requireFile?: boolean;
  /** Environment variables (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Last word, e.g. command-line flags, as setting paths (`api.port`) to values. */
  overrides?: Readonly<Record<string, unknown>>;
  /**
   * Told about settings that work but should change (a deprecated variable, a setting that has
   * no effect), each message naming the setting and what to do. Default: the warnings are dropped.
   */
  onWarning?: (warning: string) => void;
}

/** The raw settings tree being built, and where each setting came from (a variable or a flag). */
interface Layers {
  raw: Record<string, unknown>;
  origin: Map<string, string>;
  warnings: string[];
}

/**
 * Reads the settings file, applies environment variables and overrides, and validates.
 * Throws SettingsError naming every wrong setting by the name the user wrote
 * (`PO_CYCLE_INTERVAL_S`, or `config/app.yaml: runner.cycle_interval_s`).
 */
export function loadSettings(options: LoadSettingsOptions = {}): Settings {
  const file = options.file ?? 'config/app.yaml';
  const layers: Layers = { raw: readFileLayer(file, options.requireFile), origin: new Map(), warnings: [] };
  applyEnvironment(layers, options.env ?? process.env);
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(layers.raw, path, value);
    layers.origin.set(path, `--${path.split('.').pop()!.replaceAll('_', '-')}`);
  }
  const settings = validate(layers, file);
  for (const warning of [...layers.warnings, ...unusedSettings(settings, layers, file)])
    options.onWarning?.(warning);
  return settings;
}

/** The settings file as a tree; `{}` when it does not exist and is not required. */
function readFileLayer(file: string, requireFile: boolean | undefined): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (errorCode(e) === 'ENOENT' && !requireFile) return {};
    throw new SettingsError([`${file}: cannot be read (${(e as Error).message})`]);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new SettingsError(doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`));
  const parsed: unknown = doc.toJS() ?? {};
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new SettingsError([`${file}: must be a mapping`]);
  return parsed as Record<string, unknown>;
}

/** Environment variables over the file: the current names, then a deprecated name where the new one is unset. */
function applyEnvironment(layers: Layers, env: Readonly<Record<string, string | undefined>>): void {
  const pathOf = new Map(ENVIRONMENT);
  const isSet = (name: string) => env[name] !== undefined && env[name] !== '';
  for (const [name, path] of ENVIRONMENT) {
    if (!isSet(name)) continue;
    setPath(layers.raw, path, env[name]);
    layers.origin.set(path, name);
  }
  for (const [old, current] of DEPRECATED_ENVIRONMENT) {
    if (!isSet(old)) continue;
    if (isSet(current)) {
      layers.warnings.push(`${old} is deprecated and ignored: ${current} is set (remove ${old})`);
      continue;
    }
    const path = pathOf.get(current)!;
    setPath(layers.raw, path, env[old]);
    layers.origin.set(path, old);
    layers.warnings.push(`${old} is deprecated: use ${current} (it sets ${path})`);
  }
}

/** Validates the tree; every problem names the setting as the user wrote it. */
function validate(layers: Layers, file: string): Settings {
  const result = settingsSchema.safeParse(layers.raw);
  if (!result.success) {
    throw new SettingsError(
      result.error.issues.map((issue) => {
        const path = issue.path.map(String).join('.');
        const from = layers.origin.get(path);
        const where = from ?? `${file}: ${path || '(root)'}`;
        const shown = from && !SECRETS.includes(path) ? ` (got '${String(getPath(layers.raw, path))}')` : '';
        const message =
          issue.code === 'unrecognized_keys' ? `unknown setting(s) ${issue.keys.join(', ')}` : issue.message;
        return `${where}: ${message}${shown}`;
      }),
    );
  }
  const settings = result.data;
  if (settings.store.kind === 's3' && !settings.store.s3_endpoint) {
    throw new SettingsError(['PO_S3_ENDPOINT: required when PO_STORE=s3 (e.g. http://127.0.0.1:9000)']);
  }
  return settings;
}

/** Settings that are set but have no effect, so that nobody wonders why they changed nothing. */
function unusedSettings(settings: Settings, layers: Layers, file: string): string[] {
  if (settings.strategy.file !== undefined) return [];
  const name = (path: string) => layers.origin.get(path) ?? `${file}: ${path}`;
  return (['strategy.models_dir', 'strategy.version'] as const)
    .filter((path) => getPath(settings as unknown as Record<string, unknown>, path) !== undefined)
    .map((path) => `${name(path)} has no effect without a strategy file (PO_STRATEGY_FILE, strategy.file)`);
}

/** The settings as a flat list for logs and `po start`, with secrets masked. */
export function describeSettings(settings: Settings): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (value: unknown, prefix: string) => {
    if (SECRETS.includes(prefix) && value !== undefined) {
      out[prefix] = '(set, hidden)';
      return;
    }
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
