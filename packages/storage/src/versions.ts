import { createHash } from 'node:crypto';
import semver from 'semver';
import { StoreError, StrategyRejectedError } from './errors.ts';
import type { ObjectInfo, ObjectStore, StoredObject } from './types.ts';

/** Prefix of strategy versions in the bucket. */
export const CONFIGS_PREFIX = 'configs/';
const NAME_PREFIX = `${CONFIGS_PREFIX}config-`;
const NAME_SUFFIX = '.yaml';

/**
 * The version unchanged when it is a semantic version (`1.2.0`, `2.0.0-rc.1`); otherwise
 * StoreError INVALID_ARGUMENT saying what to write instead.
 */
export function checkVersion(version: string, store = 'versions'): string {
  if (typeof version !== 'string' || semver.valid(version) !== version) {
    const hint = typeof version === 'string' ? semver.valid(semver.coerce(version)) : null;
    throw new StoreError(
      'INVALID_ARGUMENT',
      store,
      `Invalid strategy version ${JSON.stringify(version)}: expected a semantic version such as 1.2.0${hint ? ` (did you mean ${hint}?)` : ''}.`,
    );
  }
  return version;
}

/** The key of a strategy version: `configs/config-<version>.yaml`. */
export function strategyKey(version: string): string {
  return `${NAME_PREFIX}${checkVersion(version)}${NAME_SUFFIX}`;
}

/** A strategy version in the store. */
export interface StrategyVersion extends ObjectInfo {
  version: string;
}

/**
 * Every strategy version in the store, oldest first (semver order, so `1.10.0` comes after
 * `1.9.0`). Objects under `configs/` that are not `config-<semver>.yaml` are ignored.
 */
export async function listVersions(store: ObjectStore): Promise<StrategyVersion[]> {
  const versions: StrategyVersion[] = [];
  for (const info of await store.list(NAME_PREFIX)) {
    if (!info.key.endsWith(NAME_SUFFIX)) continue;
    const version = info.key.slice(NAME_PREFIX.length, -NAME_SUFFIX.length);
    if (semver.valid(version) === version) versions.push({ ...info, version });
  }
  return versions.sort((a, b) => semver.compare(a.version, b.version));
}

/** Checks a strategy before upload; returns (or resolves) every problem found, or nothing. */
// biome-ignore lint/suspicious/noConfusingVoidType: lets a hook written `async () => {}` mean "no problem".
export type StrategyValidator = (bytes: Uint8Array) => Promise<readonly string[] | void>;

export interface UploadStrategyOptions {
  /** Replace an existing version whose content differs. Default `false`: versions are immutable. */
  force?: boolean;
  /**
   * Run before anything is written (the CLI passes the engine's validation and a check that
   * every model file the strategy names exists in the store). Any problem refuses the upload
   * with a `StrategyRejectedError` listing them all.
   */
  validate?: StrategyValidator;
}

export interface UploadStrategyResult {
  version: string;
  key: string;
  /** `uploaded`: new version; `unchanged`: the same bytes were there; `replaced`: overwritten with `force`. */
  status: 'uploaded' | 'unchanged' | 'replaced';
  etag: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/**
 * Uploads a strategy as `configs/config-<version>.yaml`. Refuses a version that is not semver;
 * uploading the same bytes again is a no-op; different bytes for an existing version are
 * refused with CONFLICT unless `force`. The `validate` hook runs before the write.
 * Two processes uploading the same new version at the same moment are not detected.
 */
export async function uploadStrategy(
  store: ObjectStore,
  version: string,
  bytes: Uint8Array,
  options: UploadStrategyOptions = {},
): Promise<UploadStrategyResult> {
  const key = strategyKey(version);
  const existing = await getIfExists(store, key);
  if (existing && sameBytes(existing.body, bytes)) {
    return { version, key, status: 'unchanged', etag: existing.etag };
  }
  if (existing && !options.force) {
    throw new StoreError(
      'CONFLICT',
      store.kind,
      `Strategy version ${version} already exists at ${key} in ${store.location} with different content. Versions are immutable: upload it as a new version (e.g. ${semver.inc(version, 'patch')}), or force the replacement.`,
      { key },
    );
  }
  const problems = (await options.validate?.(bytes)) ?? [];
  if (problems.length > 0) throw new StrategyRejectedError(store.kind, key, [...problems]);
  const info = await store.put(key, bytes, {
    contentType: 'application/yaml',
    metadata: { sha256: createHash('sha256').update(bytes).digest('hex') },
  });
  return { version, key, status: existing ? 'replaced' : 'uploaded', etag: info.etag };
}

async function getIfExists(store: ObjectStore, key: string): Promise<StoredObject | undefined> {
  try {
    return await store.get(key);
  } catch (error) {
    if (error instanceof StoreError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

/** A strategy version read from the store. */
export interface StrategyDocument extends StoredObject {
  version: string;
  /** The YAML text (UTF-8). */
  text: string;
}

/** Reads `configs/config-<version>.yaml`; NOT_FOUND names the versions that do exist. */
export async function readStrategy(store: ObjectStore, version: string): Promise<StrategyDocument> {
  const key = strategyKey(version);
  try {
    const object = await store.get(key);
    return { ...object, version, text: new TextDecoder().decode(object.body) };
  } catch (error) {
    if (!(error instanceof StoreError && error.code === 'NOT_FOUND')) throw error;
    const known = (await listVersions(store)).map((v) => v.version);
    throw new StoreError(
      'NOT_FOUND',
      store.kind,
      `Strategy version ${version} not found (${key} in ${store.location}). ${known.length > 0 ? `Known versions: ${known.join(', ')}.` : 'No version has been uploaded yet.'} Upload it first, or deploy a known version.`,
      { key, cause: error },
    );
  }
}
