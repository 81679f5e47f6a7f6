import { request } from 'node:http';
import {
  S3RVER_BUCKET,
  S3RVER_CREDENTIALS,
  startS3rver,
  startTcpProxy,
  type TestS3Server,
} from '@po/test-kit';
import { Client } from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testObjectStore } from '../conformance.ts';
import { StoreError } from '../errors.ts';
import type { ObjectStore } from '../types.ts';
import { createS3Store, DRIVER_NAME, type S3StoreOptions } from './s3.ts';

let server: TestS3Server;
beforeAll(async () => {
  server = await startS3rver();
});
afterAll(async () => {
  await server?.dispose();
});

function s3rverStore(options: Partial<S3StoreOptions> = {}): ObjectStore {
  return createS3Store({
    endpoint: server.endpoint,
    bucket: S3RVER_BUCKET,
    ...S3RVER_CREDENTIALS,
    ...options,
  });
}

testObjectStore({ name: 's3 (s3rver on 127.0.0.1)', create: () => s3rverStore() });

const real = {
  endpoint: process.env.PO_TEST_S3_ENDPOINT,
  accessKey: process.env.PO_TEST_S3_ACCESS_KEY,
  secretKey: process.env.PO_TEST_S3_SECRET_KEY,
  bucket: process.env.PO_TEST_S3_BUCKET,
};
const realMissing = Object.entries(real)
  .filter(([, value]) => !value)
  .map(([name]) => `PO_TEST_S3_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`);
const realSkip =
  realMissing.length > 0
    ? `a real MinIO is needed; set ${realMissing.join(', ')} (signature and permission checks only run there)`
    : undefined;
const realStore = (options: Partial<S3StoreOptions> = {}) =>
  createS3Store({
    endpoint: real.endpoint ?? '',
    accessKey: real.accessKey ?? '',
    secretKey: real.secretKey ?? '',
    bucket: real.bucket ?? S3RVER_BUCKET,
    createBucket: true,
    ...options,
  });

testObjectStore({
  name: 's3 (real MinIO from PO_TEST_S3_ENDPOINT)',
  skip: realSkip,
  create: () => realStore(),
});

describe.skipIf(realSkip !== undefined)('s3 store against a real MinIO', () => {
  it('refuses a wrong secret with ACCESS_DENIED, without retrying and without the secret in the message', async () => {
    const store = realStore({ secretKey: 'wrong-secret-1234', createBucket: false });
    const started = Date.now();
    const error = await store.get('configs/config-0.0.1.yaml').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ACCESS_DENIED' });
    expect((error as Error).message).not.toContain('wrong-secret-1234');
    expect(Date.now() - started).toBeLessThan(2000);
    await store.close?.();
  });

  it('an upload aborted mid-body leaves no visible object, and an aborted overwrite keeps the old one', async () => {
    const store = realStore();
    const key = `faults/overwrite-${Date.now()}.bin`;
    await store.put(key, new Uint8Array([1, 2, 3]));
    const client = new Client({
      endPoint: new URL(real.endpoint ?? '').hostname,
      port: Number(new URL(real.endpoint ?? '').port),
      useSSL: real.endpoint?.startsWith('https:') ?? false,
      accessKey: real.accessKey ?? '',
      secretKey: real.secretKey ?? '',
      region: 'us-east-1',
    });
    await abortedPut(await client.presignedPutObject(real.bucket ?? '', key, 60), 100_000, 10_000);
    expect((await store.get(key)).body).toEqual(new Uint8Array([1, 2, 3]));
    const fresh = `${key}.new`;
    await abortedPut(await client.presignedPutObject(real.bucket ?? '', fresh, 60), 100_000, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await store.stat(fresh)).toBeUndefined();
    expect((await store.list('faults/')).map((o) => o.key)).not.toContain(fresh);
    await store.delete(key);
    await store.close?.();
  });
});

/** Starts a PUT announcing `announced` bytes, sends `sent` of them, then drops the connection. */
function abortedPut(url: string, announced: number, sent: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': String(announced) } });
    req.on('error', () => resolve());
    req.on('response', (response) => {
      response.resume();
      resolve();
    });
    req.write(Buffer.alloc(sent, 7), () => setTimeout(() => req.destroy(), 50));
  });
}

describe('s3 store (s3rver)', () => {
  it('names the endpoint and bucket in its location, never the keys', () => {
    const store = s3rverStore();
    expect(store.kind).toBe(DRIVER_NAME);
    expect(store.location).toBe(`${server.endpoint}/${S3RVER_BUCKET}`);
    expect(store.location).not.toContain(S3RVER_CREDENTIALS.secretKey);
  });

  it('refuses invalid keys without sending a request (the endpoint is not even listening)', async () => {
    const store = createS3Store({ endpoint: 'http://127.0.0.1:1', ...S3RVER_CREDENTIALS });
    const started = Date.now();
    for (const key of ['../../etc/passwd', '/abs', 'a\\b', 'a//b', 'a\0b']) {
      await expect(store.get(key)).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(store.put(key, new Uint8Array(1))).rejects.toMatchObject({ code: 'INVALID_KEY' });
    }
    expect(Date.now() - started).toBeLessThan(100);
  });

  it('fails fast with UNREACHABLE naming the endpoint, not the secret, when nothing listens', async () => {
    const store = createS3Store({ endpoint: 'http://127.0.0.1:1', ...S3RVER_CREDENTIALS });
    const started = Date.now();
    const error = await store.get('configs/config-1.0.0.yaml').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'UNREACHABLE', key: 'configs/config-1.0.0.yaml' });
    const message = (error as Error).message;
    expect(message).toMatch(
      /^\[po\/storage\] \[s3\] Cannot read "configs\/config-1.0.0.yaml": http:\/\/127.0.0.1:1 /,
    );
    expect(message).toContain('after 3 attempt(s)');
    expect(message).not.toContain(S3RVER_CREDENTIALS.secretKey);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('says when the bucket is missing, and creates it when asked', async () => {
    const missing = s3rverStore({ bucket: 'po-missing-bucket' });
    await expect(missing.put('a', new Uint8Array(1))).rejects.toMatchObject({ code: 'BUCKET_NOT_FOUND' });
    const created = s3rverStore({ bucket: 'po-created-bucket', createBucket: true });
    await created.put('a', new Uint8Array([5]));
    expect((await created.get('a')).body).toEqual(new Uint8Array([5]));
  });

  it('survives the server stopping mid-run: UNREACHABLE quickly, then works again after a restart', async () => {
    const store = s3rverStore({ retry: { retries: 2, minTimeoutMs: 50, maxTimeoutMs: 200 } });
    await store.put('faults/restart.yaml', new TextEncoder().encode('config.yaml: 1.0.0\n'));
    expect((await store.get('faults/restart.yaml')).size).toBe(19);

    await server.stop();
    for (const call of [
      () => store.get('faults/restart.yaml'),
      () => store.stat('faults/restart.yaml'),
      () => store.list('faults/'),
      () => store.put('faults/other.yaml', new Uint8Array(1)),
    ]) {
      const started = Date.now();
      const error = await call().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'UNREACHABLE' });
      expect((error as Error).message).toContain(server.endpoint);
      expect(Date.now() - started).toBeLessThan(3000);
    }

    await server.start(); // same port, same folder
    expect(new TextDecoder().decode((await store.get('faults/restart.yaml')).body)).toBe(
      'config.yaml: 1.0.0\n',
    );
    expect((await store.list('faults/')).map((o) => o.key)).toEqual(['faults/restart.yaml']);
  });

  it('retries a request that fails once, and succeeds', async () => {
    const store = s3rverStore();
    await store.put('faults/flaky.bin', new Uint8Array([9]));
    // Stop the server now and start it again while the store backs off.
    await server.stop();
    const pending = store.get('faults/flaky.bin');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await server.start();
    expect((await pending).body).toEqual(new Uint8Array([9]));
  });

  it('a PUT cut mid-body is retried whole; the object is never left partial', async () => {
    const proxy = await startTcpProxy({ port: server.port });
    try {
      const store = createS3Store({ endpoint: proxy.endpoint, bucket: S3RVER_BUCKET, ...S3RVER_CREDENTIALS });
      const body = new Uint8Array(200_000).map((_, i) => i % 251);
      proxy.cutAfter(50_000, 1);
      await store.put('faults/cut.onnx', body);
      expect(proxy.cuts).toBe(1);
      const read = await s3rverStore().get('faults/cut.onnx');
      expect(read.size).toBe(body.byteLength);
      expect(Buffer.compare(read.body, body)).toBe(0);
      await store.close?.();
    } finally {
      await proxy.close();
    }
  });

  it('a PUT cut mid-body on every attempt rejects with UNREACHABLE (s3rver then keeps a partial object: see README)', async () => {
    const proxy = await startTcpProxy({ port: server.port });
    try {
      const store = createS3Store({ endpoint: proxy.endpoint, bucket: S3RVER_BUCKET, ...S3RVER_CREDENTIALS });
      proxy.cutAfter(50_000, 10);
      await expect(store.put('faults/always-cut.onnx', new Uint8Array(200_000))).rejects.toMatchObject({
        code: 'UNREACHABLE',
      });
      expect(proxy.cuts).toBe(3);
      await store.close?.();
    } finally {
      await proxy.close();
    }
  });

  it('uploads a 6 MiB model in a single PUT', async () => {
    const store = s3rverStore();
    const body = new Uint8Array(6 * 1024 * 1024).fill(3);
    const info = await store.put('models/saved_models/big.onnx', body);
    // A multipart upload's ETag ends with -<parts>.
    expect(info.etag).toMatch(/^[0-9a-f]{32}$/);
    expect((await store.get('models/saved_models/big.onnx')).size).toBe(body.byteLength);
  });

  it('refuses a malformed endpoint without echoing credentials in it', () => {
    expect(() => createS3Store({ endpoint: 'ftp://user:pw@host', ...S3RVER_CREDENTIALS })).toThrow(
      /Invalid endpoint "ftp:\/\/host"/,
    );
  });
});
