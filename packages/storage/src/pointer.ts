import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode } from '@po/core';
import YAML from 'yaml';
import { writeFileAtomic } from './atomic-file.ts';
import { StoreError } from './errors.ts';
import type { ObjectStore } from './types.ts';
import { checkVersion, readStrategy } from './versions.ts';

/** The deploy pointer, in the metadata folder and (for a fleet) in the store. */
export const DEPLOY_POINTER_KEY = 'metadata/deployed_config_version.yaml';
/** The time of the newest plant data already optimized, in the metadata folder. */
export const LAST_RUN_KEY = 'metadata/last_run_timestamp.yaml';

const POINTER_FILE = 'deployed_config_version.yaml';
const LAST_RUN_FILE = 'last_run_timestamp.yaml';
const POINTER_FIELD = 'config.yaml';
const LAST_RUN_FIELD = 'last_run_timestamp';
const SCOPE = 'metadata';
/** ISO 8601 date and time without a zone, as the predecessor wrote it. */
const NAIVE_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;

function malformed(source: string, problem: string, example: string, cause?: unknown): StoreError {
  return new StoreError(
    'INVALID_FILE',
    SCOPE,
    `${source} is malformed: ${problem}. Expected one line such as \`${example}\`; fix or rewrite the file.`,
    { key: source, cause },
  );
}

/** Reads the single string field of a predecessor metadata file; every scalar stays a string (`1.10` too). */
function parseField(text: string, field: string, source: string, example: string): string {
  let parsed: unknown;
  try {
    parsed = YAML.parse(text, { schema: 'failsafe', uniqueKeys: true });
  } catch (error) {
    throw malformed(source, `it is not YAML (${(error as Error).message.split('\n')[0]})`, example, error);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw malformed(source, 'it is not a mapping', example);
  }
  const value = (parsed as Record<string, unknown>)[field];
  if (value === undefined) throw malformed(source, `the field '${field}' is missing`, example);
  if (typeof value !== 'string' || value.trim() === '') {
    throw malformed(source, `the field '${field}' is not a single value`, example);
  }
  return value.trim();
}

/** Parses `config.yaml: 1.1.0` and returns the version; INVALID_FILE names `source` when malformed. */
export function parseDeployPointer(text: string, source = POINTER_FILE): string {
  const version = parseField(text, POINTER_FIELD, source, `${POINTER_FIELD}: 1.1.0`);
  try {
    return checkVersion(version, SCOPE);
  } catch (error) {
    throw malformed(
      source,
      (error as Error).message.replace(/^\[po\/storage\] \[\w+\] /, ''),
      'config.yaml: 1.1.0',
    );
  }
}

/** The pointer file's text for a version, in the predecessor's format. */
export function formatDeployPointer(version: string): string {
  return `${POINTER_FIELD}: ${checkVersion(version, SCOPE)}\n`;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw new StoreError(
      'IO_ERROR',
      SCOPE,
      `Cannot read ${path}: ${errorCode(error) ?? error}. Check its permissions.`,
      {
        key: path,
        cause: error,
      },
    );
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(path, text);
  } catch (error) {
    throw new StoreError(
      'IO_ERROR',
      SCOPE,
      `Cannot write ${path}: ${errorCode(error) ?? error}. Check the folder's permissions and free space.`,
      { key: path, cause: error },
    );
  }
}

/** The deployed version named by `<metadataDir>/deployed_config_version.yaml`, or undefined when there is no file. */
export async function readDeployPointer(metadataDir: string): Promise<string | undefined> {
  const path = join(metadataDir, POINTER_FILE);
  const text = await readOptional(path);
  return text === undefined ? undefined : parseDeployPointer(text, path);
}

/** Writes `<metadataDir>/deployed_config_version.yaml` atomically (temp file + rename); readers never see part of it. */
export async function writeDeployPointer(metadataDir: string, version: string): Promise<void> {
  await writeAtomic(join(metadataDir, POINTER_FILE), formatDeployPointer(version));
}

/** The fleet-wide deployed version (`metadata/deployed_config_version.yaml` in the store), or undefined. */
export async function readStoreDeployPointer(store: ObjectStore): Promise<string | undefined> {
  try {
    const object = await store.get(DEPLOY_POINTER_KEY);
    return parseDeployPointer(
      new TextDecoder().decode(object.body),
      `${store.location} ${DEPLOY_POINTER_KEY}`,
    );
  } catch (error) {
    if (error instanceof StoreError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

/** Writes the fleet-wide pointer to the store (a single atomic put). */
export async function writeStoreDeployPointer(store: ObjectStore, version: string): Promise<void> {
  await store.put(DEPLOY_POINTER_KEY, new TextEncoder().encode(formatDeployPointer(version)), {
    contentType: 'application/yaml',
  });
}

export interface DeployOptions {
  /** Write the local pointer file in this folder. */
  metadataDir?: string;
  /** Also write the pointer in the store, so that every runner of a fleet follows it. Default `false`. */
  fleet?: boolean;
}

/**
 * Deploys a strategy version: checks that `configs/config-<version>.yaml` exists (NOT_FOUND
 * lists the known versions), then writes the store pointer (with `fleet`) and the local one.
 */
export async function deployVersion(
  store: ObjectStore,
  version: string,
  options: DeployOptions,
): Promise<void> {
  await readStrategy(store, version);
  if (options.fleet) await writeStoreDeployPointer(store, version);
  if (options.metadataDir !== undefined) await writeDeployPointer(options.metadataDir, version);
}

/** Parses `last_run_timestamp: '2024-06-04T21:33:53'` and returns the timestamp string (no zone, as written). */
export function parseLastRunTimestamp(text: string, source = LAST_RUN_FILE): string {
  const example = `${LAST_RUN_FIELD}: '2024-06-04T21:33:53'`;
  const value = parseField(text, LAST_RUN_FIELD, source, example);
  const normalized = value.replace(' ', 'T');
  if (!NAIVE_TIMESTAMP.test(normalized) || Number.isNaN(Date.parse(`${normalized}Z`))) {
    throw malformed(source, `${JSON.stringify(value)} is not a date and time`, example);
  }
  return normalized;
}

/**
 * A naive ISO timestamp (`2024-06-04T21:33:53`) as the predecessor wrote it: a string is
 * checked and kept; a Date is written in UTC, to the second.
 */
export function formatNaiveTimestamp(timestamp: Date | string): string {
  if (typeof timestamp === 'string') {
    const normalized = timestamp.replace(' ', 'T');
    if (!NAIVE_TIMESTAMP.test(normalized) || Number.isNaN(Date.parse(`${normalized}Z`))) {
      throw new StoreError(
        'INVALID_ARGUMENT',
        SCOPE,
        `Invalid timestamp ${JSON.stringify(timestamp)}: expected a date and time without a zone, such as 2024-06-04T21:33:53.`,
      );
    }
    return normalized;
  }
  if (Number.isNaN(timestamp.getTime())) {
    throw new StoreError('INVALID_ARGUMENT', SCOPE, 'Invalid timestamp: the Date is invalid.');
  }
  return timestamp.toISOString().slice(0, 19);
}

/** The timestamp in `<metadataDir>/last_run_timestamp.yaml`, or undefined when there is no file. */
export async function readLastRunTimestamp(metadataDir: string): Promise<string | undefined> {
  const path = join(metadataDir, LAST_RUN_FILE);
  const text = await readOptional(path);
  return text === undefined ? undefined : parseLastRunTimestamp(text, path);
}

/** Writes `<metadataDir>/last_run_timestamp.yaml` atomically, in the predecessor's format. */
export async function writeLastRunTimestamp(metadataDir: string, timestamp: Date | string): Promise<void> {
  await writeAtomic(
    join(metadataDir, LAST_RUN_FILE),
    `${LAST_RUN_FIELD}: '${formatNaiveTimestamp(timestamp)}'\n`,
  );
}
