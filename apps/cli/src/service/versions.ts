import type { StrategyVersions } from '@po/api';
import { createModelProvider } from '@po/models';
import { compileStrategy } from '@po/rto-engine';
import type { Settings } from '@po/settings';
import { deployVersion, listVersions, type ObjectStore, readStrategy } from '@po/storage';
import { strategyLimitsOf } from './limits.ts';
import { deployedVersion, openStore, storeModelReader } from './store.ts';
import type { StrategyBackend } from './strategies.ts';

/**
 * The store's strategy versions for the dashboard and `POST /strategies/deploy`: a deploy is what
 * `po deploy` does (refused unless the version compiles with every model), then the service loads it.
 */
export async function storeVersions(
  settings: Settings,
  strategies: StrategyBackend,
): Promise<StrategyVersions & { close(): Promise<void> }> {
  const store: ObjectStore = await openStore(settings);
  return {
    list: async () => (await listVersions(store)).map((v) => ({ version: v.version, key: v.key })),
    deployed: () => deployedVersion(store, settings),
    read: async (version) => (await readStrategy(store, version)).text,
    async deploy(version) {
      const document = await readStrategy(store, version);
      const strategy = await compileStrategy(document.text, {
        modelProvider: createModelProvider({ readFile: storeModelReader(store) }),
        version,
        source: document.key,
        limits: strategyLimitsOf(settings),
      });
      await strategy.dispose();
      await deployVersion(store, version, { metadataDir: settings.metadata_dir, fleet: false });
      await strategies.refresh();
    },
    close: async () => {
      await store.close?.();
    },
  };
}
