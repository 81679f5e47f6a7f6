import { createHash } from 'node:crypto';
import type { ModelFileReader } from '@po/core';
import { parse } from 'yaml';

/**
 * Everything a worker needs to compile a strategy, as plain data: the strategy text and the
 * bytes of every model, scaler and metadata file it names, by the path the strategy names.
 * `key` is a content hash of both, so equal bundles share one compiled strategy per worker.
 */
export interface StrategyBundle {
  /** SHA-256 (hex) over the text and every file's path and bytes. */
  readonly key: string;
  /** The strategy: YAML text (JSON is YAML too). */
  readonly text: string;
  /** File bytes by the path the strategy names (`config.model_path`, `scaler_path`, `metadata_path`). */
  readonly files: Readonly<Record<string, Uint8Array>>;
  /** The strategy's version, reported with every result (null for ad-hoc strategies). */
  readonly version?: string | null;
}

/**
 * The file paths an InferenceModel skill names, collected leniently from the raw strategy: an
 * invalid strategy yields what can be found, and the worker reports the problems when it compiles.
 */
export function strategyFilePaths(text: string, maxAliases = 100): string[] {
  let raw: unknown;
  try {
    raw = parse(text, { maxAliasCount: maxAliases });
  } catch {
    return [];
  }
  const skills = isRecord(raw) && isRecord(raw.skills) ? raw.skills : {};
  const paths = new Set<string>();
  for (const skill of Object.values(skills)) {
    if (!isRecord(skill) || skill.class !== 'InferenceModel' || !isRecord(skill.config)) continue;
    for (const field of ['model_path', 'scaler_path', 'metadata_path']) {
      const path = skill.config[field];
      if (typeof path === 'string' && path !== '') paths.add(path);
    }
  }
  return [...paths].sort();
}

/** Options of `bundleFromFiles`. */
export interface BundleOptions {
  /** The strategy's version, reported with every result. */
  version?: string | null;
  /**
   * The file paths the strategy names, when the caller has them (`strategyFilePaths`, e.g. from a
   * `files` task in the pool, so that a request's text is not parsed on the calling thread).
   */
  paths?: readonly string[];
  /**
   * Copy each file into a SharedArrayBuffer so that posting the bundle to a worker shares the
   * bytes instead of copying them on every task. Default true.
   */
  shared?: boolean;
}

/**
 * Builds a bundle from strategy text and a reader: every file the strategy names is read. A file
 * that cannot be read is left out of the bundle, so the worker reports it with the skill that
 * needs it (compiling collects every failing file at once).
 */
export async function bundleFromFiles(
  text: string,
  readFile: ModelFileReader | undefined,
  options: BundleOptions = {},
): Promise<StrategyBundle> {
  const files: Record<string, Uint8Array> = {};
  if (readFile) {
    await Promise.all(
      (options.paths ?? strategyFilePaths(text)).map(async (path) => {
        try {
          const bytes = await readFile(path);
          files[path] = options.shared === false ? bytes : toShared(bytes);
        } catch {
          // Reported by the worker, which reads the bundle with a reader that names the file.
        }
      }),
    );
  }
  return { key: bundleKey(text, files), text, files, version: options.version ?? null };
}

/** The content hash of a strategy text and its files (order independent). */
export function bundleKey(text: string, files: Readonly<Record<string, Uint8Array>>): string {
  const hash = createHash('sha256');
  hash.update(`text:${Buffer.byteLength(text)}:`).update(text);
  for (const path of Object.keys(files).sort()) {
    const bytes = files[path]!;
    hash.update(`\nfile:${path}:${bytes.byteLength}:`).update(bytes);
  }
  return hash.digest('hex');
}

function toShared(bytes: Uint8Array): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  return shared;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
