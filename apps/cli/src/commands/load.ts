import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { CliError } from '../io.ts';

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

/** Loads a strategy file with its models from a local folder. */
export async function loadLocalStrategy(options: {
  config: string;
  modelsDir?: string;
  versionLabel?: string;
}): Promise<CompiledStrategy> {
  const text = await readUserFile(options.config, 'strategy');
  const modelsDir = resolve(options.modelsDir ?? dirname(options.config));
  return compileStrategy(text, {
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
