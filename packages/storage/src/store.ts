import { StoreError } from './errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import type { NotModified, ObjectInfo, ObjectStore, PutOptions, StoredObject } from './types.ts';

const MAX_METADATA_BYTES = 2048;

function checkPutOptions(store: ObjectStore, key: string, options: PutOptions | undefined): void {
  const refuse = (problem: string) =>
    new StoreError(
      'INVALID_ARGUMENT',
      store.kind,
      `Cannot write ${JSON.stringify(key)} to ${store.location}: ${problem}.`,
      { key },
    );
  if (options?.contentType !== undefined && !/^[\x21-\x7e][\x20-\x7e]*$/.test(options.contentType)) {
    throw refuse('the content type must be printable ASCII');
  }
  let bytes = 0;
  for (const [name, value] of Object.entries(options?.metadata ?? {})) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
      throw refuse(`metadata name ${JSON.stringify(name)} must be lower-case letters, digits and '-'`);
    }
    if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
      throw refuse(`metadata ${name} must be a printable ASCII string`);
    }
    bytes += name.length + value.length;
  }
  if (bytes > MAX_METADATA_BYTES) throw refuse(`metadata is larger than ${MAX_METADATA_BYTES} bytes`);
}

/**
 * Wraps a driver so that every key and prefix goes through `validateKey` / `validatePrefix`
 * (and put options through their checks) before the driver sees it, and so that calls after
 * `close()` reject with CLOSED. Every driver factory returns its store through this; a
 * driver can therefore assume valid keys.
 */
export function defineObjectStore(driver: ObjectStore): ObjectStore {
  let closed = false;
  const open = (key: string | undefined) => {
    if (closed) {
      throw new StoreError(
        'CLOSED',
        driver.kind,
        `The store at ${driver.location} is closed${key === undefined ? '' : ` (asked for ${JSON.stringify(key)})`}. Create a new store.`,
        key === undefined ? undefined : { key },
      );
    }
  };
  // async so that a refused key rejects rather than throws.
  return {
    kind: driver.kind,
    location: driver.location,
    async get(key: string): Promise<StoredObject> {
      open(key);
      return driver.get(validateKey(key, driver.kind));
    },
    async getIfChanged(key: string, etag: string): Promise<StoredObject | NotModified> {
      open(key);
      return driver.getIfChanged(validateKey(key, driver.kind), etag);
    },
    async stat(key: string): Promise<ObjectInfo | undefined> {
      open(key);
      return driver.stat(validateKey(key, driver.kind));
    },
    async put(key: string, body: Uint8Array, options?: PutOptions): Promise<ObjectInfo> {
      open(key);
      validateKey(key, driver.kind);
      if (!(body instanceof Uint8Array)) {
        throw new StoreError('INVALID_ARGUMENT', driver.kind, `The body of ${key} must be a Uint8Array.`, {
          key,
        });
      }
      checkPutOptions(driver, key, options);
      return driver.put(key, body, options);
    },
    async list(prefix: string): Promise<ObjectInfo[]> {
      open(prefix);
      return driver.list(validatePrefix(prefix, driver.kind));
    },
    async delete(key: string): Promise<void> {
      open(key);
      return driver.delete(validateKey(key, driver.kind));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await driver.close?.();
    },
  };
}

/** Sort order of `list`: by key, code unit order (the same in every driver). */
export function compareKeys(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * `start` run once and its promise shared by every caller; a rejection is forgotten, so the next
 * call tries again (a folder created meanwhile, a server back up).
 */
export function onceUntilFailure<T>(start: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= start().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
