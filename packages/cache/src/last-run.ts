import { describeError, errorCode } from '@po/core';
import {
  formatNaiveTimestamp,
  LAST_RUN_KEY,
  type ObjectStore,
  parseLastRunTimestamp,
  readLastRunTimestamp,
  writeLastRunTimestamp,
} from '@po/storage';
import { CacheError } from './errors.ts';

/** Options of `createLastRunState`: where `last_run_timestamp.yaml` lives. */
export type LastRunStateOptions =
  | {
      /**
       * The local metadata folder (the predecessor kept the file next to the service, e.g.
       * `./metadata`). Written atomically by `@po/storage`'s `writeLastRunTimestamp`.
       */
      metadataDir: string;
    }
  | {
      /**
       * A store: the file is the object `metadata/last_run_timestamp.yaml`, written with one
       * atomic `put`. Every runner using the store then shares one timestamp.
       */
      store: ObjectStore;
    };

/** The time of the newest plant data already optimized, in memory and in the predecessor's file. */
export interface LastRunState {
  /** The timestamp in memory (after `load()` or `set()`), or undefined. */
  get(): string | undefined;
  /**
   * Reads the file into memory and returns it; undefined when there is no file. Rejects with
   * STATE_FAILED (naming the file) when it cannot be read or is malformed.
   */
  load(): Promise<string | undefined>;
  /**
   * Sets the timestamp in memory and writes the file atomically (a reader sees the old file or
   * the new one) as `last_run_timestamp: '2024-06-04T21:33:53'`. A Date is written in UTC to the
   * second; a string must be a date and time without a zone. Writes happen in call order.
   * Rejects with STATE_FAILED when the write fails: memory keeps the new value and the next `set`
   * writes again.
   */
  set(time: Date | string): Promise<string>;
}

/** Creates the last-run timestamp state over a metadata folder or a store. */
export function createLastRunState(options: LastRunStateOptions): LastRunState {
  const where =
    'metadataDir' in options
      ? `the metadata folder ${options.metadataDir}`
      : `'${LAST_RUN_KEY}' in the ${options.store.kind} store ${options.store.location}`;
  const read = async (): Promise<string | undefined> => {
    if ('metadataDir' in options) return readLastRunTimestamp(options.metadataDir);
    try {
      const object = await options.store.get(LAST_RUN_KEY);
      return parseLastRunTimestamp(new TextDecoder().decode(object.body), LAST_RUN_KEY);
    } catch (error) {
      if (errorCode(error) === 'NOT_FOUND') return undefined;
      throw error;
    }
  };
  const write = async (timestamp: string): Promise<void> => {
    if ('metadataDir' in options) return writeLastRunTimestamp(options.metadataDir, timestamp);
    // The same line `writeLastRunTimestamp` writes to a local file.
    const body = new TextEncoder().encode(`last_run_timestamp: '${timestamp}'\n`);
    await options.store.put(LAST_RUN_KEY, body, { contentType: 'application/yaml' });
  };

  let cached: string | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  return {
    get: () => cached,
    async load() {
      let timestamp: string | undefined;
      try {
        timestamp = await read();
      } catch (error) {
        throw new CacheError(
          'STATE_FAILED',
          `The last-run timestamp could not be read from ${where}: ${describeError(error, { oneLine: true })}`,
          { cause: error, key: LAST_RUN_KEY },
        );
      }
      if (timestamp !== undefined) cached = timestamp;
      return cached;
    },
    async set(time) {
      let timestamp: string;
      try {
        timestamp = formatNaiveTimestamp(time);
      } catch (error) {
        throw new CacheError(
          'INVALID_OPTIONS',
          `Last-run timestamp refused: ${describeError(error, { oneLine: true })}`,
          {
            cause: error,
          },
        );
      }
      cached = timestamp;
      const written = queue.then(async () => {
        try {
          await write(timestamp);
        } catch (error) {
          throw new CacheError(
            'STATE_FAILED',
            `The last-run timestamp ${timestamp} could not be written to ${where}: ${describeError(error, { oneLine: true })} ` +
              'It is kept in memory; check the folder or store.',
            { cause: error, key: LAST_RUN_KEY },
          );
        }
        return timestamp;
      });
      queue = written.catch(() => undefined);
      return written;
    },
  };
}
