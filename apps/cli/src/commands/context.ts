import { type ArtifactCache, createArtifactCache, createDeployment, type Deployment } from '@po/cache';
import { createModelProvider } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { loadSettings, type Settings, SettingsError } from '@po/settings';
import {
  createLocalStore,
  modelKey,
  type ObjectStore,
  readDeployPointer,
  readStoreDeployPointer,
} from '@po/storage';
import { CliError } from '../io.ts';

/** Flags every store-related command takes; they override config/app.yaml and the environment. */
export interface StoreFlags {
  store?: string;
  storeDir?: string;
  metadataDir?: string;
  settings?: string;
}

/** Reads the settings (file, environment, flags); a wrong setting is a user error naming it. */
export function readSettings(flags: StoreFlags, overrides: Record<string, unknown> = {}): Settings {
  try {
    return loadSettings({
      ...(flags.settings ? { file: flags.settings, requireFile: true } : {}),
      overrides: {
        'store.kind': flags.store,
        'store.local_dir': flags.storeDir,
        metadata_dir: flags.metadataDir,
        ...overrides,
      },
    });
  } catch (e) {
    if (e instanceof SettingsError) throw new CliError(e.message);
    throw e;
  }
}

/** Opens the configured object store (local folder, or S3 with the S3 driver loaded on demand). */
export async function openStore(settings: Settings): Promise<ObjectStore> {
  const s = settings.store;
  if (s.kind === 'local') return createLocalStore({ root: s.local_dir, create: true });
  if (!s.s3_access_key || !s.s3_secret_key) {
    throw new CliError(
      '[po] PO_STORE=s3 needs credentials: set PO_S3_ACCESS_KEY and PO_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    );
  }
  const { createS3Store } = await import('@po/storage/s3');
  return createS3Store({
    endpoint: s.s3_endpoint!,
    bucket: s.bucket,
    accessKey: s.s3_access_key,
    secretKey: s.s3_secret_key,
    region: s.s3_region,
    createBucket: true,
  });
}

/** The deployed version: the store's fleet pointer when there is one, else the local file. */
export async function deployedVersion(store: ObjectStore, settings: Settings): Promise<string | undefined> {
  return (await readStoreDeployPointer(store)) ?? (await readDeployPointer(settings.metadata_dir));
}

/** Reads a model file the strategy names from the store (`models/<path>`, the predecessor's rule). */
export function storeModelReader(store: ObjectStore) {
  return async (path: string) => (await store.get(modelKey(path))).body;
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
      }),
    dispose: (strategy) => strategy.dispose(),
  });
}
