import { silentLogger } from '@po/core';
import { createLocalStore } from '@po/storage';
import { tempDir } from '@po/test-kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytes, type FakeClock, fakeClock, text, type WatchedStore, watch } from '../test/helpers.ts';
import { type ArtifactCache, createArtifactCache } from './artifact-cache.ts';
import { CacheError } from './errors.ts';

const HOUR = 3_600_000;
const MODEL = 'models/saved_models/kiln.onnx';

let dir: Awaited<ReturnType<typeof tempDir>>;
let store: WatchedStore;
let clock: FakeClock;

beforeEach(async () => {
  dir = await tempDir();
  store = watch(createLocalStore({ root: dir.path, fsync: false }));
  clock = fakeClock();
});
afterEach(async () => {
  await store.close();
  await dir.remove();
});

function cacheOver(options: Partial<Parameters<typeof createArtifactCache>[0]> = {}): ArtifactCache {
  return createArtifactCache({ store, now: clock, ...options });
}

describe('reads', () => {
  it('downloads once, then answers from memory and counts hits and misses', async () => {
    await store.put(MODEL, bytes('onnx v1'));
    const cache = cacheOver();
    expect(text(await cache.read('model', MODEL))).toBe('onnx v1');
    expect(text(await cache.read('model', MODEL))).toBe('onnx v1');
    expect(text(await cache.read('model', MODEL))).toBe('onnx v1');
    expect(store.calls.get).toBe(1);
    const model = cache.stats().kinds.model;
    expect(model).toMatchObject({ hits: 2, misses: 1, downloads: 1, active_items: 1, bytes: 7 });
    expect(model.hit_ratio).toBeCloseTo(2 / 3);
  });

  it('ten concurrent reads of one key cause one download', async () => {
    await store.put(MODEL, bytes('onnx v1'));
    store.delayMs = 20;
    const cache = cacheOver();
    const bodies = await Promise.all(Array.from({ length: 10 }, () => cache.read('model', MODEL)));
    expect(bodies.map(text)).toEqual(Array(10).fill('onnx v1'));
    expect(store.calls.get).toBe(1);
    expect(cache.stats().kinds.model).toMatchObject({ misses: 10, downloads: 1, hits: 0 });
    await cache.read('model', MODEL);
    expect(store.calls.get).toBe(1);
  });

  it('keeps each kind apart', async () => {
    await store.put('configs/config-1.0.0.yaml', bytes('variables: {}'));
    const cache = cacheOver();
    await cache.read('strategy', 'configs/config-1.0.0.yaml');
    expect(cache.has('strategy', 'configs/config-1.0.0.yaml')).toBe(true);
    expect(cache.has('model', 'configs/config-1.0.0.yaml')).toBe(false);
  });

  it('rejects a missing object with NOT_FOUND naming the key, and caches nothing', async () => {
    const cache = cacheOver();
    const error = await cache.read('model', 'models/none.onnx').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', key: 'models/none.onnx' });
    expect((error as Error).message).toMatch(/^\[po\/cache\] model 'models\/none.onnx' does not exist/);
    expect(cache.stats().kinds.model.total_items).toBe(0);
    expect(cache.health().reachable).toBe(true);
  });

  it('rejects with UNREACHABLE when the store is down and nothing is cached', async () => {
    const cache = cacheOver();
    store.offline = true;
    await expect(cache.read('model', MODEL)).rejects.toMatchObject({ code: 'UNREACHABLE', key: MODEL });
    expect(cache.health()).toMatchObject({
      reachable: false,
      lastError: { key: MODEL, code: 'UNREACHABLE' },
    });
  });

  it('refuses an invalid key through the store', async () => {
    const cache = cacheOver();
    await expect(cache.read('model', 'models/../../etc/passwd')).rejects.toMatchObject({
      code: 'INVALID_KEY',
    });
  });

  it('refuses unknown kinds and invalid limits', () => {
    expect(() => cacheOver({ limits: { model: { maxEntries: 0 } } })).toThrow(/limits.model.maxEntries is 0/);
    const cache = cacheOver();
    expect(() => cache.has('temp' as never, 'x')).toThrow(/Unknown artifact kind 'temp'/);
  });
});

describe('TTL and revalidation', () => {
  it('uses 6 h for strategies and 24 h for the other kinds by default', async () => {
    await store.put('configs/config-1.0.0.yaml', bytes('s'));
    await store.put(MODEL, bytes('m'));
    const cache = cacheOver();
    await cache.read('strategy', 'configs/config-1.0.0.yaml');
    await cache.read('model', MODEL);
    clock.advance(6 * HOUR + 1);
    let stats = cache.stats().kinds;
    expect(stats.strategy).toMatchObject({ active_items: 0, expired_items: 1, total_items: 1 });
    expect(stats.model).toMatchObject({ active_items: 1, expired_items: 0 });
    clock.advance(18 * HOUR);
    stats = cache.stats().kinds;
    expect(stats.model).toMatchObject({ active_items: 0, expired_items: 1 });
  });

  it('revalidates an expired entry with a 304: no body transferred, entry kept and fresh again', async () => {
    await store.put(MODEL, bytes('onnx v1'));
    const cache = cacheOver({ limits: { model: { ttlMs: 1000 } } });
    await cache.read('model', MODEL);
    clock.advance(999);
    await cache.read('model', MODEL);
    expect(store.calls.getIfChanged).toBe(0);
    clock.advance(2);
    const transferred = store.bytesTransferred;
    expect(text(await cache.read('model', MODEL))).toBe('onnx v1');
    expect(store.calls).toMatchObject({ get: 1, getIfChanged: 1, notModified: 1 });
    expect(store.bytesTransferred).toBe(transferred);
    expect(cache.stats().kinds.model).toMatchObject({
      revalidations: 1,
      downloads: 1,
      hits: 2,
      misses: 1,
      active_items: 1,
    });
    await cache.read('model', MODEL);
    expect(store.calls.getIfChanged).toBe(1);
  });

  it('replaces the bytes of an object that changed', async () => {
    await store.put(MODEL, bytes('onnx v1'));
    const cache = cacheOver({ limits: { model: { ttlMs: 1000 } } });
    await cache.read('model', MODEL);
    await store.put(MODEL, bytes('onnx v2, longer'));
    expect(text(await cache.read('model', MODEL))).toBe('onnx v1');
    clock.advance(1001);
    expect(text(await cache.read('model', MODEL))).toBe('onnx v2, longer');
    expect(text(await cache.read('model', MODEL))).toBe('onnx v2, longer');
    expect(cache.stats().kinds.model).toMatchObject({
      updates: 1,
      downloads: 2,
      revalidations: 0,
      bytes: 15,
    });
  });

  it('revalidates a fresh entry when asked to', async () => {
    await store.put(MODEL, bytes('onnx v1'));
    const cache = cacheOver();
    await cache.read('model', MODEL);
    await store.put(MODEL, bytes('onnx v2'));
    expect(text(await cache.read('model', MODEL, { revalidate: true }))).toBe('onnx v2');
  });

  it('drops an entry whose object was deleted', async () => {
    await store.put(MODEL, bytes('onnx v1'));
    const cache = cacheOver({ limits: { model: { ttlMs: 1000 } } });
    await cache.read('model', MODEL);
    await store.delete(MODEL);
    clock.advance(1001);
    await expect(cache.read('model', MODEL)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(cache.has('model', MODEL)).toBe(false);
  });

  it('serves the stale entry when the store is unreachable, flags it, and recovers', async () => {
    await store.put(MODEL, bytes('onnx v1'));
    const cache = cacheOver({ limits: { model: { ttlMs: 1000 } }, staleRetryMs: 5000 });
    await cache.read('model', MODEL);
    clock.advance(1001);
    store.offline = true;
    expect(text(await cache.read('model', MODEL))).toBe('onnx v1');
    let health = cache.health();
    expect(health).toMatchObject({
      reachable: false,
      servingStale: true,
      lastError: { code: 'UNREACHABLE' },
    });
    expect(cache.stats().kinds.model).toMatchObject({ stale_items: 1, stale_served: 1, hits: 1 });

    // Within staleRetryMs the store is not asked again.
    await cache.read('model', MODEL);
    expect(store.calls.getIfChanged).toBe(1);
    expect(cache.stats().kinds.model.stale_served).toBe(2);

    // cleanup() keeps the only copy while the store is down.
    clock.advance(5001);
    expect(cache.cleanup()).toBe(0);

    store.offline = false;
    expect(text(await cache.read('model', MODEL))).toBe('onnx v1');
    health = cache.health();
    expect(health).toMatchObject({ reachable: true, servingStale: false });
    expect(cache.stats().kinds.model).toMatchObject({ stale_items: 0, revalidations: 1 });
  });
});

describe('bounds', () => {
  it('evicts the least recently used entry past maxEntries', async () => {
    for (const name of ['a', 'b', 'c']) await store.put(`models/${name}`, bytes(name));
    const cache = cacheOver({ limits: { model: { maxEntries: 2 } } });
    await cache.read('model', 'models/a');
    await cache.read('model', 'models/b');
    await cache.read('model', 'models/a');
    await cache.read('model', 'models/c');
    expect(cache.has('model', 'models/a')).toBe(true);
    expect(cache.has('model', 'models/b')).toBe(false);
    expect(cache.has('model', 'models/c')).toBe(true);
    expect(cache.stats().kinds.model).toMatchObject({ evictions: 1, total_items: 2, max_items: 2 });
  });

  it('evicts by bytes past maxBytes and serves, without caching, an object larger than maxBytes', async () => {
    await store.put('models/a', bytes('aaaa'));
    await store.put('models/b', bytes('bbbb'));
    await store.put('models/c', bytes('cccc'));
    await store.put('models/huge', bytes('x'.repeat(11)));
    const warnings: string[] = [];
    const cache = cacheOver({
      limits: { model: { maxBytes: 10 } },
      logger: { ...silentLogger, warn: (_fields, m) => warnings.push(m ?? '') },
    });
    await cache.read('model', 'models/a');
    await cache.read('model', 'models/b');
    await cache.read('model', 'models/c');
    expect(cache.has('model', 'models/a')).toBe(false);
    expect(cache.stats().kinds.model).toMatchObject({ bytes: 8, total_items: 2, evictions: 1 });
    expect(text(await cache.read('model', 'models/huge'))).toBe('x'.repeat(11));
    expect(cache.has('model', 'models/huge')).toBe(false);
    expect(warnings.join('\n')).toMatch(/model 'models\/huge' \(11 bytes\) is larger than the model cache/);
  });
});

describe('clear, cleanup, close', () => {
  it('clears one kind or everything, keeping the counters', async () => {
    await store.put('configs/config-1.0.0.yaml', bytes('s'));
    await store.put(MODEL, bytes('m'));
    const cache = cacheOver();
    await cache.read('strategy', 'configs/config-1.0.0.yaml');
    await cache.read('model', MODEL);
    expect(cache.clear('model')).toBe(1);
    expect(cache.has('strategy', 'configs/config-1.0.0.yaml')).toBe(true);
    expect(cache.clear()).toBe(1);
    expect(cache.stats().totals).toMatchObject({ total_items: 0, misses: 2 });
  });

  it('does not store a download that was in flight when the kind was cleared', async () => {
    await store.put(MODEL, bytes('m'));
    store.delayMs = 20;
    const cache = cacheOver();
    const pending = cache.read('model', MODEL);
    cache.clear('model');
    expect(text(await pending)).toBe('m');
    expect(cache.has('model', MODEL)).toBe(false);
  });

  it('cleanup() drops entries past their TTL only', async () => {
    await store.put('configs/config-1.0.0.yaml', bytes('s'));
    await store.put(MODEL, bytes('m'));
    const cache = cacheOver();
    await cache.read('strategy', 'configs/config-1.0.0.yaml');
    await cache.read('model', MODEL);
    clock.advance(7 * HOUR);
    expect(cache.cleanup()).toBe(1);
    expect(cache.has('strategy', 'configs/config-1.0.0.yaml')).toBe(false);
    expect(cache.has('model', MODEL)).toBe(true);
  });

  it('refuses reads after close()', async () => {
    const cache = cacheOver();
    await cache.close();
    await expect(cache.read('model', MODEL)).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('modelFileReader', () => {
  it("maps a strategy path to models/<path> (leading ../ dropped) in the kind's cache", async () => {
    await store.put('models/saved_models/x.onnx', bytes('onnx'));
    await store.put('models/saved_scalers/x_scalers.json', bytes('{}'));
    await store.put('models/saved_metadata/x_metadata.json', bytes('{"m":1}'));
    const cache = cacheOver();
    const readFile = cache.modelFileReader();
    expect(text(await readFile('../saved_models/x.onnx'))).toBe('onnx');
    expect(text(await readFile('saved_scalers/x_scalers.json'))).toBe('{}');
    expect(text(await readFile('../../saved_metadata/x_metadata.json'))).toBe('{"m":1}');
    expect(cache.has('model', 'models/saved_models/x.onnx')).toBe(true);
    expect(cache.has('scaler', 'models/saved_scalers/x_scalers.json')).toBe(true);
    expect(cache.has('metadata', 'models/saved_metadata/x_metadata.json')).toBe(true);
    await expect(readFile('saved_models/../../../etc/passwd')).rejects.toMatchObject({ code: 'INVALID_KEY' });
  });
});
