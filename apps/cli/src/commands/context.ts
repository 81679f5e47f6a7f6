import { type ArtifactCache, createArtifactCache, createDeployment, type Deployment } from '@po/cache';
import { createModelProvider } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { loadSettings, type Settings } from '@po/settings';
import type { ObjectStore } from '@po/storage';
import { processOutput } from '../io.ts';
import { strategyLimitsOf } from '../service/limits.ts';
import { deployedVersion } from '../service/store.ts';

export { deployedVersion, openStore, storeModelReader } from '../service/store.ts';

/** Flags every store-related command takes; they override config/app.yaml and the environment. */
export interface StoreFlags {
  store?: string;
  storeDir?: string;
  metadataDir?: string;
  settings?: string;
}

/**
 * Reads the settings (file, environment, flags). A wrong setting throws `SettingsError` naming
 * it; a deprecated one goes to `onWarning` (default: printed to stderr).
 */
export function readSettings(
  flags: StoreFlags,
  overrides: Record<string, unknown> = {},
  onWarning: (warning: string) => void = (warning) => processOutput.err(`[po/settings] ${warning}`),
): Settings {
  return loadSettings({
    ...(flags.settings ? { file: flags.settings, requireFile: true } : {}),
    overrides: {
      'store.kind': flags.store,
      'store.local_dir': flags.storeDir,
      metadata_dir: flags.metadataDir,
      ...overrides,
    },
    onWarning,
  });
}

/** A deployment of the configured store's strategy, compiled in this process, through a cache. */
export function localDeployment(
  store: ObjectStore,
  settings: Settings,
  cache: ArtifactCache = createArtifactCache({ store }),
): Deployment<CompiledStrategy> {
  return createDeployment<CompiledStrategy>({
    cache,
    pointer: () => deployedVersion(store, settings),
    load: async (version, reader) =>
      compileStrategy(new TextDecoder().decode(await reader.strategy()), {
        modelProvider: createModelProvider({ readFile: reader.modelFile }),
        version,
        source: `configs/config-${version}.yaml`,
        limits: strategyLimitsOf(settings),
      }),
    dispose: (strategy) => strategy.dispose(),
  });
}
