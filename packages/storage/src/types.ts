/**
 * An object store laid out like the bucket (`configs/`, `models/`, `metadata/`).
 * Implementations: the local folder (embedded default) and S3 (MinIO or any S3).
 *
 * Keys are validated once, by `validateKey` (through `defineObjectStore`), before any
 * implementation sees them. Every method rejects with a `StoreError` (code `NOT_FOUND`,
 * `UNREACHABLE`, `INVALID_KEY`, `CONFLICT`, ...) whose message names the store and the key.
 *
 * Methods may be called concurrently. Writes to one key are last-writer-wins.
 */
export interface ObjectStore {
  /** 'local' or 's3', for messages and health reports. */
  readonly kind: string;
  /** Where the store is (a folder, or endpoint + bucket), without secrets. */
  readonly location: string;
  /** Reads an object. Rejects with NOT_FOUND when it does not exist. */
  get(key: string): Promise<StoredObject>;
  /**
   * Reads an object unless its ETag equals `etag`: then resolves `{ notModified: true }`
   * without transferring the body (used to revalidate cache entries). Rejects with NOT_FOUND
   * when the object no longer exists.
   */
  getIfChanged(key: string, etag: string): Promise<StoredObject | NotModified>;
  /** Metadata of an object, or undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Writes an object atomically: a reader sees the old object or the new one, never part
   * of one, and a failed write leaves nothing visible.
   */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<ObjectInfo>;
  /**
   * Objects whose key starts with `prefix` (`''` for all), sorted by key. `metadata` and
   * `contentType` are not filled in (S3 does not list them); use `stat` for those.
   */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deletes an object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Releases connections (S3); the store is unusable afterwards (code CLOSED). */
  close?(): Promise<void>;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /**
   * Strong validator of the content, without quotes. S3: the server's ETag (the MD5 of the
   * content for a single PUT); local: the SHA-256 of the content. Compare ETags only with
   * ETags of the same store.
   */
  etag: string;
  lastModified: Date;
  /** The content type given to `put`, when known (set by get and stat). */
  contentType?: string;
  /** The metadata given to `put`, keys in lower case (set by get and stat, not by list). */
  metadata?: Record<string, string>;
}

export interface StoredObject extends ObjectInfo {
  body: Uint8Array;
  notModified?: false;
}

export interface NotModified {
  notModified: true;
  key: string;
  etag: string;
}

export interface PutOptions {
  contentType?: string;
  /**
   * Small string metadata stored with the object (e.g. sha256). Keys: lower-case letters,
   * digits and `-`; values: printable ASCII; at most 2 KiB in all (S3's limit).
   */
  metadata?: Record<string, string>;
}
