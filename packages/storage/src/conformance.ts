import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from './errors.ts';
import type { ObjectStore, StoredObject } from './types.ts';

export interface ObjectStoreConformanceOptions {
  /** Shown in the test titles, e.g. `local` or `s3 (s3rver)`. */
  name: string;
  /** Creates the store under test; it may hold other objects (all keys used here share a fresh prefix). */
  create: () => ObjectStore | Promise<ObjectStore>;
  /** Called once after the suite (stop a server, remove a folder). The store is already closed. */
  dispose?: () => void | Promise<void>;
  /** When set, the suite is skipped and this reason is shown in its title. */
  skip?: string | undefined;
}

/** Keys every store must refuse before doing anything, and why. */
export const INVALID_KEYS: readonly string[] = [
  '../../etc/passwd',
  'models/../../etc/passwd',
  '/abs',
  '/etc/passwd',
  'a\\b',
  'a//b',
  'a\0b',
  '',
  'a/',
  'a/./b',
  'C:/x',
  '.po-tmp-1234',
  'x'.repeat(1025),
];

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  }
  throw new Error('expected the call to reject');
}

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The store under test and the fresh prefix every key of this run starts with. */
interface Suite {
  store: ObjectStore;
  readonly base: string;
  readonly options: ObjectStoreConformanceOptions;
}

/**
 * The behaviour every `ObjectStore` must have, as a vitest suite (unstorage's `testDriver`
 * style). Call it at the top level of a test file, once per driver and setup.
 */
export function testObjectStore(options: ObjectStoreConformanceOptions): void {
  const title = `ObjectStore conformance: ${options.name}`;
  if (options.skip !== undefined) {
    describe.skip(`${title} (skipped: ${options.skip})`, () => {
      it('is skipped', () => {});
    });
    return;
  }

  describe(title, () => {
    const suite = { base: `conformance-${randomBytes(4).toString('hex')}/`, options } as Suite;
    beforeAll(async () => {
      suite.store = await options.create();
    });
    afterAll(async () => {
      const { store, base } = suite;
      if (store) {
        await Promise.all((await store.list(base).catch(() => [])).map((o) => store.delete(o.key)));
        await store.close?.();
      }
      await options.dispose?.();
    });
    objectCases(suite);
    changeCases(suite);
    listingCases(suite);
    refusalCases(suite);
    concurrencyCases(suite);
  });
}

/** Reads and writes of single objects, with their metadata. */
function objectCases(suite: Suite): void {
  it('describes itself without secrets', () => {
    const { store } = suite;
    expect(typeof store.kind).toBe('string');
    expect(store.location.length).toBeGreaterThan(0);
    expect(store.location).not.toMatch(/secret|password/i);
  });

  it('round-trips binary bytes, content type and metadata', async () => {
    const { store, base } = suite;
    const body = new Uint8Array(256 + 100_000);
    for (let i = 0; i < 256; i++) body[i] = i;
    body.set(randomBytes(100_000), 256);
    const key = `${base}bin/model.onnx`;
    const written = await store.put(key, body, {
      contentType: 'application/octet-stream',
      metadata: { sha256: 'abc', 'po-origin': 'test' },
    });
    expect(written.key).toBe(key);
    expect(written.size).toBe(body.byteLength);
    expect(written.etag).toMatch(/^[0-9a-f-]+$/);

    const read = await store.get(key);
    expect(read.notModified).not.toBe(true);
    expect(Buffer.compare(read.body, body)).toBe(0);
    expect(read.size).toBe(body.byteLength);
    expect(read.etag).toBe(written.etag);
    expect(read.lastModified).toBeInstanceOf(Date);
    expect(read.contentType).toBe('application/octet-stream');
    expect(read.metadata).toMatchObject({ sha256: 'abc', 'po-origin': 'test' });

    const info = await store.stat(key);
    expect(info).toMatchObject({ key, size: body.byteLength, etag: written.etag });
    expect(info?.metadata).toMatchObject({ sha256: 'abc', 'po-origin': 'test' });
  });

  it('stores empty objects and keys with spaces and non-ASCII letters', async () => {
    const { store, base } = suite;
    const empty = `${base}odd/empty.json`;
    await store.put(empty, new Uint8Array(0));
    expect((await store.get(empty)).body.byteLength).toBe(0);
    const odd = `${base}odd/Kiln Drive é+%#.onnx`;
    await store.put(odd, bytesOf('é'));
    expect(new TextDecoder().decode((await store.get(odd)).body)).toBe('é');
    expect((await store.list(`${base}odd/`)).map((o) => o.key)).toEqual([odd, empty]);
  });

  it('stat of a missing object is undefined; get rejects with NOT_FOUND naming the key', async () => {
    const { store, base } = suite;
    const key = `${base}missing/x.yaml`;
    expect(await store.stat(key)).toBeUndefined();
    const error = await rejection(store.get(key));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.key).toBe(key);
    expect(error.message).toContain(`[po/storage] [${store.kind}]`);
    expect(error.message).toContain(key);
    expect((await rejection(store.getIfChanged(key, 'abc'))).code).toBe('NOT_FOUND');
  });
}

/** Deletes, and what ETags say about changes. */
function changeCases(suite: Suite): void {
  it('deletes, and deleting a missing object is not an error', async () => {
    const { store, base } = suite;
    const key = `${base}del/x`;
    await store.put(key, bytesOf('x'));
    await store.delete(key);
    expect(await store.stat(key)).toBeUndefined();
    expect((await rejection(store.get(key))).code).toBe('NOT_FOUND');
    expect(await store.list(`${base}del/`)).toEqual([]);
    await store.delete(key);
    await store.delete(`${base}del/never-there`);
  });

  it('changes the ETag when the content changes, not when it is the same', async () => {
    const { store, base } = suite;
    const key = `${base}etag/config.yaml`;
    const first = await store.put(key, bytesOf('config.yaml: 1.0.0\n'));
    const again = await store.put(key, bytesOf('config.yaml: 1.0.0\n'));
    const second = await store.put(key, bytesOf('config.yaml: 1.1.0\n'));
    expect(again.etag).toBe(first.etag);
    expect(second.etag).not.toBe(first.etag);
    expect((await store.stat(key))?.etag).toBe(second.etag);
  });

  it('getIfChanged answers notModified for the current ETag and the new body otherwise', async () => {
    const { store, base } = suite;
    const key = `${base}cond/model.onnx`;
    const first = await store.put(key, bytesOf('one'));
    expect(await store.getIfChanged(key, first.etag)).toEqual({ notModified: true, key, etag: first.etag });
    const second = await store.put(key, bytesOf('two'));
    const changed = await store.getIfChanged(key, first.etag);
    expect(changed.notModified).not.toBe(true);
    expect(new TextDecoder().decode((changed as StoredObject).body)).toBe('two');
    expect(changed.etag).toBe(second.etag);
  });
}

/** `list` by prefix. */
function listingCases(suite: Suite): void {
  it('lists by prefix, sorted by key, with size and ETag', async () => {
    const { store, base } = suite;
    const keys = ['list/b', 'list/ca', 'list/a', 'list/c/e', 'list/c/d', 'listing'].map((k) => base + k);
    for (const key of keys) await store.put(key, bytesOf(key));
    const all = await store.list(`${base}list/`);
    expect(all.map((o) => o.key)).toEqual(
      ['list/a', 'list/b', 'list/c/d', 'list/c/e', 'list/ca'].map((k) => base + k),
    );
    expect((await store.list(`${base}list/c`)).map((o) => o.key)).toEqual(
      ['list/c/d', 'list/c/e', 'list/ca'].map((k) => base + k),
    );
    expect((await store.list(`${base}list`)).length).toBe(6);
    expect(await store.list(`${base}nothing/`)).toEqual([]);
    for (const entry of all) {
      const info = await store.stat(entry.key);
      expect(entry).toMatchObject({ size: info?.size, etag: info?.etag });
    }
  });
}

/** Keys and arguments a store refuses before touching anything. */
function refusalCases(suite: Suite): void {
  it('refuses invalid keys with INVALID_KEY naming the key, before touching the store', async () => {
    const { store } = suite;
    const before = await store.list('');
    for (const key of INVALID_KEYS) {
      const calls: (() => Promise<unknown>)[] = [
        () => store.get(key),
        () => store.getIfChanged(key, 'x'),
        () => store.stat(key),
        () => store.put(key, bytesOf('x')),
        () => store.delete(key),
      ];
      for (const call of calls) {
        const error = await rejection(call());
        expect(error.code).toBe('INVALID_KEY');
        expect(error.message).toContain(`[po/storage] [${store.kind}]`);
        if (key !== '') expect(error.message).toContain(JSON.stringify(key).slice(0, 40));
      }
    }
    for (const prefix of ['../', '/abs', 'a//', 'a\\b']) {
      expect((await rejection(store.list(prefix))).code).toBe('INVALID_KEY');
    }
    expect((await store.list('')).map((o) => o.key)).toEqual(before.map((o) => o.key));
  });

  it('refuses malformed metadata', async () => {
    const { store, base } = suite;
    const key = `${base}meta/x`;
    const error = await rejection(store.put(key, bytesOf('x'), { metadata: { 'Bad Name': 'x' } }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(await store.stat(key)).toBeUndefined();
  });
}

/** Concurrent calls, and calls after `close()`. */
function concurrencyCases(suite: Suite): void {
  it('handles 10 concurrent puts and gets, and concurrent writes of one key', async () => {
    const { store, base } = suite;
    const keys = Array.from({ length: 10 }, (_, i) => `${base}many/${i}.bin`);
    const bodies = keys.map(() => randomBytes(20_000));
    await Promise.all(keys.map((key, i) => store.put(key, bodies[i]!)));
    const read = await Promise.all(keys.map((key) => store.get(key)));
    for (const [i, object] of read.entries()) expect(Buffer.compare(object.body, bodies[i]!)).toBe(0);
    expect((await store.list(`${base}many/`)).length).toBe(10);

    const same = `${base}many/same.bin`;
    await Promise.all(bodies.map((body) => store.put(same, body)));
    const final = await store.get(same);
    expect(bodies.some((body) => Buffer.compare(body, final.body) === 0)).toBe(true);
    expect((await store.list(`${base}many/same`)).length).toBe(1);
  });

  it('rejects with CLOSED after close', async () => {
    const { base } = suite;
    const other = await suite.options.create();
    await other.close?.();
    if (other.close) expect((await rejection(other.get(`${base}x`))).code).toBe('CLOSED');
  });
}
