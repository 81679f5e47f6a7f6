/** Revalidation and outage against a real S3 API (s3rver on 127.0.0.1, started here). */
import { createS3Store } from '@po/storage/s3';
import { S3RVER_BUCKET, startS3rver, type TestS3Server } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes, fakeClock, text, type WatchedStore, watch } from '../test/helpers.ts';
import { createArtifactCache } from './artifact-cache.ts';

const MODEL = 'models/saved_models/kiln.onnx';
let s3: TestS3Server;
let store: WatchedStore;

beforeAll(async () => {
  s3 = await startS3rver();
  store = watch(
    createS3Store({
      endpoint: s3.endpoint,
      bucket: S3RVER_BUCKET,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      retry: { retries: 0 },
      connectTimeoutMs: 500,
      timeoutMs: 2000,
    }),
  );
});
afterAll(async () => {
  await store.close();
  await s3.dispose();
});

describe('artifact cache over S3 (s3rver)', () => {
  it('revalidates with If-None-Match: a 304 transfers no body and keeps the entry; a change brings new bytes', async () => {
    const body = new Uint8Array(64 * 1024).fill(7);
    await store.put(MODEL, body);
    const clock = fakeClock();
    const cache = createArtifactCache({ store, now: clock, limits: { model: { ttlMs: 1000 } } });
    expect((await cache.read('model', MODEL)).byteLength).toBe(body.byteLength);
    const transferred = store.bytesTransferred;

    clock.advance(1001);
    expect((await cache.read('model', MODEL)).byteLength).toBe(body.byteLength);
    expect(store.calls.notModified).toBe(1);
    expect(store.bytesTransferred).toBe(transferred);
    expect(cache.stats().kinds.model).toMatchObject({ revalidations: 1, downloads: 1, active_items: 1 });

    await store.put(MODEL, bytes('retrained'));
    clock.advance(1001);
    expect(text(await cache.read('model', MODEL))).toBe('retrained');
    expect(cache.stats().kinds.model).toMatchObject({ revalidations: 1, updates: 1, downloads: 2 });
  });

  it('ten concurrent reads cause one GET', async () => {
    await store.put('models/saved_scalers/s.json', bytes('{"a":1}'));
    const cache = createArtifactCache({ store });
    const before = store.calls.get;
    const bodies = await Promise.all(
      Array.from({ length: 10 }, () => cache.read('scaler', 'models/saved_scalers/s.json')),
    );
    expect(new Set(bodies.map(text))).toEqual(new Set(['{"a":1}']));
    expect(store.calls.get - before).toBe(1);
  });

  it('serves the stale entry and flags it when the S3 server is gone', async () => {
    await store.put('models/saved_metadata/m.json', bytes('{"m":1}'));
    const clock = fakeClock();
    const cache = createArtifactCache({ store, now: clock, limits: { metadata: { ttlMs: 1000 } } });
    await cache.read('metadata', 'models/saved_metadata/m.json');
    await s3.stop();
    clock.advance(1001);
    expect(text(await cache.read('metadata', 'models/saved_metadata/m.json'))).toBe('{"m":1}');
    const health = cache.health();
    expect(health).toMatchObject({
      reachable: false,
      servingStale: true,
      lastError: { code: 'UNREACHABLE' },
    });
    expect(health.lastError?.message).toMatch(/\[po\/storage\]/);
    expect(cache.stats().kinds.metadata).toMatchObject({ stale_items: 1, stale_served: 1 });
    await expect(cache.read('model', 'models/saved_models/never-cached.onnx')).rejects.toMatchObject({
      code: 'UNREACHABLE',
    });
  });
});
