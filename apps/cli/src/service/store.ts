import type { Settings } from '@po/settings';
import {
  createLocalStore,
  modelKey,
  type ObjectStore,
  readDeployPointer,
  readStoreDeployPointer,
} from '@po/storage';
import { CliError } from '../errors.ts';

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
export function storeModelReader(store: ObjectStore): (path: string) => Promise<Uint8Array> {
  return async (path: string) => (await store.get(modelKey(path))).body;
}
