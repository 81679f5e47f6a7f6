import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { readStrategy } from '@po/storage';
import { CliError } from '../errors.ts';
import { strategyLimitsOf } from '../service/limits.ts';
import { deployedVersion, openStore, readSettings, type StoreFlags, storeModelReader } from './context.ts';

/** Reads a file a user named, with an error that says which file and why. */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
    throw new CliError(`[po] cannot read ${what} '${path}': ${why}`);
  }
}

/**
 * Loads the strategy to run: a strategy file with its models from a local folder, or,
 * without `config`, the deployed version from the configured store.
 */
export async function loadStrategy(
  options: StoreFlags & {
    config?: string;
    modelsDir?: string;
    versionLabel?: string;
  },
): Promise<CompiledStrategy> {
  if (!options.config) return loadDeployedStrategy(options);
  const text = await readUserFile(options.config, 'strategy');
  const modelsDir = resolve(options.modelsDir ?? dirname(options.config));
  return compileStrategy(text, {
    limits: strategyLimitsOf(readSettings(options)),
    modelProvider: createModelProvider({ readFile: localModelFiles(modelsDir) }),
    source: options.config,
    ...(options.versionLabel ? { version: options.versionLabel } : {}),
  });
}

/** Reads a plant state: a mapping of variable values, or a request body `{ input_data: {...} }`. */
export async function readPlantState(path: string): Promise<Record<string, unknown>> {
  const text = await readUserFile(path, 'input');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`[po] input '${path}' is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && 'input_data' in parsed) {
    parsed = (parsed as { input_data: unknown }).input_data;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError(`[po] input '${path}' must be a JSON object mapping variable names to values`);
  }
  return parsed as Record<string, unknown>;
}

async function loadDeployedStrategy(flags: StoreFlags): Promise<CompiledStrategy> {
  const settings = readSettings(flags);
  const store = await openStore(settings);
  try {
    const version = await deployedVersion(store, settings);
    if (!version) {
      throw new CliError(
        `[po] no strategy is deployed (no ${settings.metadata_dir}/deployed_config_version.yaml and no pointer in ${store.location}); give --config, or upload and deploy one (po upload-config, po deploy)`,
      );
    }
    const document = await readStrategy(store, version);
    // compileStrategy reads every file it needs, so the store can be closed before the cycle runs.
    const provider = createModelProvider({ readFile: storeModelReader(store) });
    return await compileStrategy(document.text, {
      modelProvider: provider,
      version,
      source: document.key,
      limits: strategyLimitsOf(settings),
    });
  } finally {
    await store.close?.();
  }
}
