import { describeError } from '@po/core';
import { modelKey, strategyKey } from '@po/storage';
import { CacheError } from './errors.ts';
import type { ArtifactKind } from './types.ts';

/**
 * The store key of a file a strategy names, by `@po/storage`'s `modelKey` (the predecessor's
 * rule: leading `../` dropped, `models/` prefixed, then validated). A refused path rejects as a
 * `CacheError` INVALID_KEY naming it.
 */
export function modelFileKey(path: string): string {
  try {
    return modelKey(path);
  } catch (error) {
    throw new CacheError(
      'INVALID_KEY',
      `Model file path '${path}' cannot be read: ${describeError(error, { oneLine: true })} ` +
        "Write paths relative to the models folder, e.g. 'saved_models/x.onnx'.",
      { cause: error, key: path },
    );
  }
}

/** The store key of a strategy version (`configs/config-<version>.yaml`), by `@po/storage`'s `strategyKey`. */
export function strategyFileKey(version: string): string {
  try {
    return strategyKey(version);
  } catch (error) {
    throw new CacheError(
      'INVALID_KEY',
      `Version '${version}' cannot be read: ${describeError(error, { oneLine: true })}`,
      {
        cause: error,
        version,
      },
    );
  }
}

/**
 * Which cache a model file goes to, from the predecessor's folders (`saved_scalers/`,
 * `saved_metadata/`, `saved_models/`) or else from the file name (`.pkl` or `scaler` -> scaler,
 * `metadata` -> metadata); everything else is a model.
 */
export function artifactKindOf(path: string): ArtifactKind {
  const lower = path.toLowerCase();
  if (lower.includes('saved_scalers/')) return 'scaler';
  if (lower.includes('saved_metadata/')) return 'metadata';
  if (lower.includes('saved_models/')) return 'model';
  const name = lower.slice(lower.lastIndexOf('/') + 1);
  if (name.endsWith('.pkl') || name.includes('scaler')) return 'scaler';
  if (name.includes('metadata')) return 'metadata';
  return 'model';
}
