import { createHash } from 'node:crypto';
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { errorCode } from '@po/core';
import { XMLParser } from 'fast-xml-parser';
import { Client, type ClientOptions } from 'minio';
import pRetry from 'p-retry';
import { StoreError } from '../errors.ts';
import { validateKey } from '../keys.ts';
import { compareKeys, defineObjectStore } from '../store.ts';
import type { NotModified, ObjectInfo, ObjectStore, PutOptions, StoredObject } from '../types.ts';

export const DRIVER_NAME = 's3';

/** How transient failures are retried (with exponential backoff and jitter, by p-retry). */
export interface S3RetryOptions {
  /** Retries after the first attempt. Default `2` (3 attempts). */
  retries?: number;
  /** Wait before the first retry, in ms. Default `100`. */
  minTimeoutMs?: number;
  /** Longest wait between two attempts, in ms. Default `1000`. */
  maxTimeoutMs?: number;
  /** No retry starts after this many ms since the first attempt. Default `3000`. */
  maxRetryTimeMs?: number;
}

export interface S3StoreOptions {
  /**
   * URL of the S3 endpoint, e.g. `http://127.0.0.1:9000` (MinIO) or
   * `https://s3.eu-west-1.amazonaws.com`. The scheme chooses TLS; the port defaults to 80/443.
   */
  endpoint: string;
  /** The bucket. Default `process-optimization`. */
  bucket?: string;
  /** Access key (MinIO user). */
  accessKey: string;
  /** Secret key (MinIO password). Never appears in messages. */
  secretKey: string;
  /** Region the requests are signed for. Default `us-east-1` (MinIO's default). */
  region?: string;
  /** Path-style URLs (`http://host/bucket/key`), as MinIO expects. Default `true`; `false` for virtual-hosted style. */
  pathStyle?: boolean;
  /** Create the bucket at first use when it does not exist. Default `false`. */
  createBucket?: boolean;
  /** Retries of transient failures (connection refused or reset, timeouts, 5xx, SlowDown). */
  retry?: S3RetryOptions;
  /** Longest wait for a TCP (and TLS) connection, in ms. Default `1000`. */
  connectTimeoutMs?: number;
  /** Longest silence on an open connection (waiting for headers or body bytes), in ms. Default `10000`. */
  timeoutMs?: number;
  /**
   * Part size of the SDK's multipart uploads. `put` always sends one PUT (the object appears
   * whole, up to S3's 5 GiB limit), and this is set high (default 64 MiB) so that nothing
   * else splits model files either (s3rver cannot list multipart uploads).
   */
  partSize?: number;
}

/** An error that says the request may succeed if sent again. */
const TRANSIENT_NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'PO_TIMEOUT',
  'PO_TRUNCATED',
  'PO_HTTP_STATUS',
]);
/** Statuses worth another attempt: the server is overloaded, restarting or behind a failing proxy. */
const RETRY_STATUSES = [408, 429, 500, 502, 503, 504];
const TRANSIENT_S3 = new Set([
  'SlowDown',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'XMinioServerNotInitialized',
  'XMinioReadQuorum',
  'XMinioWriteQuorum',
]);
const NOT_FOUND = new Set(['NoSuchKey', 'NotFound']);
const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken']);

interface ListBucketResult {
  Contents?: { Key?: string; Size?: string; ETag?: string; LastModified?: string }[];
  IsTruncated?: string;
  NextContinuationToken?: string;
}
interface ListPage {
  infos: ObjectInfo[];
  next: string | undefined;
}
// Every value kept as the exact text (no number parsing, no trimming: keys may look like numbers or end in spaces).
const listParser = new XMLParser({
  parseTagValue: false,
  trimValues: false,
  ignoreAttributes: true,
  isArray: (name) => name === 'Contents',
});

function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function isTransient(error: unknown): boolean {
  const code = errorCode(error) ?? '';
  if (TRANSIENT_NETWORK.has(code) || TRANSIENT_S3.has(code)) return true;
  // The SDK's own message for statuses it retries (408, 429, 5xx) when its retry is on.
  return error instanceof Error && /^Retryable HTTP status|^Request failed after/.test(error.message);
}

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^(W\/)?"|"$/g, '');
}

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function infoFromHeaders(key: string, response: IncomingMessage, size: number): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) {
      metadata[name.slice('x-amz-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
    }
  }
  const lastModified = header(response, 'last-modified');
  const info: ObjectInfo = {
    key,
    size,
    etag: unquote(header(response, 'etag')),
    lastModified: lastModified === undefined ? new Date() : new Date(lastModified),
    metadata,
  };
  const contentType = header(response, 'content-type');
  if (contentType !== undefined) info.contentType = contentType;
  return info;
}

async function readBody(response: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const expected = header(response, 'content-length');
  if (expected !== undefined && Number(expected) !== body.byteLength) {
    throw codedError('PO_TRUNCATED', `the body ended after ${body.byteLength} of ${expected} bytes`);
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * A store over a bucket of MinIO or any S3, through the `minio` SDK (loaded only by this
 * subpath, `@po/storage/s3`).
 *
 * - `put` is a single PUT request: S3 makes the object visible whole or not at all.
 * - Transient failures are retried by p-retry (3 attempts within ~3 s by default); the SDK's
 *   own retry is off. After that, calls reject with UNREACHABLE naming the endpoint. NoSuchKey,
 *   AccessDenied and invalid keys are never retried.
 * - Keys are validated by `validateKey` before any request; objects whose keys it refuses are
 *   left out of `list`.
 */
export function createS3Store(options: S3StoreOptions): ObjectStore {
  const bucket = options.bucket ?? 'process-optimization';
  let url: URL;
  try {
    url = new URL(options.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch (error) {
    throw new StoreError(
      'INVALID_ARGUMENT',
      DRIVER_NAME,
      `Invalid endpoint ${JSON.stringify(options.endpoint.replace(/\/\/[^@/]*@/, '//'))}: expected a URL such as http://127.0.0.1:9000.`,
      { cause: error },
    );
  }
  const useSSL = url.protocol === 'https:';
  const endpoint = `${url.protocol}//${url.host}`;
  const location = `${endpoint}/${bucket}`;
  const connectTimeoutMs = options.connectTimeoutMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retry = {
    retries: options.retry?.retries ?? 2,
    minTimeout: options.retry?.minTimeoutMs ?? 100,
    maxTimeout: options.retry?.maxTimeoutMs ?? 1000,
    maxRetryTime: options.retry?.maxRetryTimeMs ?? 3000,
  };

  const agent = useSSL ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const connect = useSSL ? httpsRequest : httpRequest;
  // The SDK has no timeouts: bound the connection and every silence ourselves.
  const transport = {
    request(requestOptions: object, onResponse: (response: IncomingMessage) => void): ClientRequest {
      const request = connect(requestOptions, onResponse);
      request.setTimeout(timeoutMs, () =>
        request.destroy(codedError('PO_TIMEOUT', `no answer within ${timeoutMs} ms`)),
      );
      request.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(
          () => request.destroy(codedError('PO_TIMEOUT', `no connection within ${connectTimeoutMs} ms`)),
          connectTimeoutMs,
        );
        socket.once(useSSL ? 'secureConnect' : 'connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      return request;
    },
  };

  const client = new Client({
    endPoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region: options.region ?? 'us-east-1',
    pathStyle: options.pathStyle ?? true,
    partSize: options.partSize ?? 64 * 1024 * 1024,
    transport: transport as unknown as ClientOptions['transport'],
    transportAgent: agent,
    retryOptions: { disableRetry: true },
  });

  function toStoreError(error: unknown, action: string, key: string, attempts: number): StoreError {
    if (error instanceof StoreError) return error;
    const code = errorCode(error) ?? '';
    const detail = error instanceof Error && error.message !== '' ? error.message : code || String(error);
    const named = key === '' ? '' : ` ${JSON.stringify(key)}`;
    if (isTransient(error)) {
      return new StoreError(
        'UNREACHABLE',
        DRIVER_NAME,
        `Cannot ${action}${named}: ${endpoint} (bucket ${bucket}) did not answer (${code || detail}) after ${attempts} attempt(s). Check that the server runs and is reachable from this host, or use the local store.`,
        { key, cause: error },
      );
    }
    if (NOT_FOUND.has(code)) {
      return new StoreError(
        'NOT_FOUND',
        DRIVER_NAME,
        `Object${named} not found in ${location}. Upload it, or correct the key.`,
        { key, cause: error },
      );
    }
    if (code === 'NoSuchBucket') {
      return new StoreError(
        'BUCKET_NOT_FOUND',
        DRIVER_NAME,
        `Bucket ${bucket} does not exist at ${endpoint} (while trying to ${action}${named}). Create it (mc mb) or set createBucket: true.`,
        { key, cause: error },
      );
    }
    if (DENIED.has(code)) {
      return new StoreError(
        'ACCESS_DENIED',
        DRIVER_NAME,
        `${endpoint} refused to ${action}${named} in bucket ${bucket} (${code}). Check the access key and secret key, and the bucket policy.`,
        { key, cause: error },
      );
    }
    return new StoreError(
      'IO_ERROR',
      DRIVER_NAME,
      `Cannot ${action}${named} in ${location}: ${code ? `${code}: ` : ''}${detail}.`,
      { key, cause: error },
    );
  }

  /** One request; retryable statuses become a PO_HTTP_STATUS error, other failures the SDK's S3Error. */
  async function send(
    method: string,
    key: string,
    headers: Record<string, string> = {},
    payload: Buffer | '' = '',
    ok: number[] = [200],
  ): Promise<IncomingMessage> {
    const response = await client.makeRequestAsync(
      { method, bucketName: bucket, objectName: key, headers },
      payload,
      [...ok, ...RETRY_STATUSES],
    );
    if (RETRY_STATUSES.includes(response.statusCode ?? 0)) {
      response.resume();
      throw codedError('PO_HTTP_STATUS', `HTTP ${response.statusCode}`);
    }
    return response;
  }

  async function attempt<T>(action: string, key: string, run: () => Promise<T>): Promise<T> {
    let attempts = 0;
    try {
      return await pRetry(
        () => {
          attempts++;
          return run();
        },
        { ...retry, factor: 2, randomize: true, shouldRetry: ({ error }) => isTransient(error) },
      );
    } catch (error) {
      throw toStoreError(error, action, key, attempts);
    }
  }

  let bucketReady: Promise<void> | undefined;
  function ensureBucket(): Promise<void> {
    if (!options.createBucket) return Promise.resolve();
    bucketReady ??= attempt('create the bucket', '', async () => {
      if (await client.bucketExists(bucket)) return;
      try {
        await client.makeBucket(bucket, options.region ?? 'us-east-1');
      } catch (error) {
        const code = errorCode(error);
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
      }
    }).catch((error: unknown) => {
      bucketReady = undefined; // Try again at the next call (the server may be back).
      throw error;
    });
    return bucketReady;
  }

  async function read(key: string, unlessEtag?: string): Promise<StoredObject | NotModified> {
    await ensureBucket();
    return attempt('read', key, async () => {
      const headers: Record<string, string> = {};
      if (unlessEtag !== undefined) headers['if-none-match'] = `"${unlessEtag}"`;
      const response = await send('GET', key, headers, '', [200, 304]);
      if (response.statusCode === 304) {
        response.resume();
        return { notModified: true, key, etag: unquote(header(response, 'etag')) || (unlessEtag as string) };
      }
      const body = await readBody(response);
      const info = infoFromHeaders(key, response, body.byteLength);
      // Servers that ignore If-None-Match still answer 200: compare ourselves.
      if (unlessEtag !== undefined && info.etag === unlessEtag)
        return { notModified: true, key, etag: info.etag };
      return { ...info, body };
    });
  }

  async function stat(key: string): Promise<ObjectInfo | undefined> {
    await ensureBucket();
    try {
      return await attempt('stat', key, async () => {
        const response = await send('HEAD', key);
        response.resume();
        return infoFromHeaders(key, response, Number(header(response, 'content-length') ?? 0));
      });
    } catch (error) {
      if (error instanceof StoreError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
  }

  async function put(key: string, body: Uint8Array, putOptions?: PutOptions): Promise<ObjectInfo> {
    await ensureBucket();
    const payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const headers: Record<string, string> = {
      'content-type': putOptions?.contentType ?? 'application/octet-stream',
      // S3 and MinIO refuse a body that does not match (BadDigest): no truncated object.
      'content-md5': createHash('md5').update(payload).digest('base64'),
    };
    for (const [name, value] of Object.entries(putOptions?.metadata ?? {}))
      headers[`x-amz-meta-${name}`] = value;
    return attempt('write', key, async () => {
      const response = await send('PUT', key, headers, payload);
      response.resume();
      const date = header(response, 'date');
      const info: ObjectInfo = {
        key,
        size: body.byteLength,
        etag: unquote(header(response, 'etag')),
        lastModified: date === undefined ? new Date() : new Date(date),
        metadata: { ...putOptions?.metadata },
      };
      if (putOptions?.contentType !== undefined) info.contentType = putOptions.contentType;
      return info;
    });
  }

  /**
   * ListObjectsV2 sent directly: the SDK always asks for `encoding-type=url` and decodes the
   * answer, which garbles keys with `+` or `%` on servers that ignore the parameter (s3rver).
   * Keys po accepts contain no character that XML cannot carry, so no encoding is needed.
   */
  async function listPage(prefix: string, token: string | undefined): Promise<ListPage> {
    const query = [`list-type=2`, `max-keys=1000`, `prefix=${rfc3986(prefix)}`];
    if (token !== undefined) query.push(`continuation-token=${rfc3986(token)}`);
    const response = await client.makeRequestAsync(
      { method: 'GET', bucketName: bucket, query: query.join('&') },
      '',
      [200, ...RETRY_STATUSES],
    );
    if (RETRY_STATUSES.includes(response.statusCode ?? 0)) {
      response.resume();
      throw codedError('PO_HTTP_STATUS', `HTTP ${response.statusCode}`);
    }
    const xml = new TextDecoder().decode(await readBody(response));
    const result = (listParser.parse(xml) as { ListBucketResult?: ListBucketResult }).ListBucketResult;
    if (result === undefined)
      throw codedError('PO_BAD_LIST', 'the answer to ListObjectsV2 is not a ListBucketResult');
    const infos: ObjectInfo[] = [];
    for (const item of result.Contents ?? []) {
      const key = String(item.Key ?? '');
      try {
        validateKey(key, DRIVER_NAME);
      } catch {
        continue; // Put there by another tool under a key po refuses.
      }
      infos.push({
        key,
        size: Number(item.Size ?? 0),
        etag: unquote(item.ETag),
        lastModified: item.LastModified === undefined ? new Date(0) : new Date(item.LastModified),
      });
    }
    const next = result.IsTruncated === 'true' ? result.NextContinuationToken : undefined;
    return { infos, next };
  }

  async function list(prefix: string): Promise<ObjectInfo[]> {
    await ensureBucket();
    return attempt('list', prefix, async () => {
      const infos: ObjectInfo[] = [];
      let token: string | undefined;
      do {
        const page = await listPage(prefix, token);
        infos.push(...page.infos);
        token = page.next;
      } while (token !== undefined);
      return infos.sort(compareKeys);
    });
  }

  async function remove(key: string): Promise<void> {
    await ensureBucket();
    try {
      await attempt('delete', key, async () => {
        const response = await send('DELETE', key, {}, '', [200, 204]);
        response.resume();
      });
    } catch (error) {
      if (error instanceof StoreError && error.code === 'NOT_FOUND') return;
      throw error;
    }
  }

  return defineObjectStore({
    kind: DRIVER_NAME,
    location,
    get: (key) => read(key) as Promise<StoredObject>,
    getIfChanged: (key, etag) => read(key, etag),
    stat,
    put,
    list,
    delete: remove,
    async close() {
      agent.destroy();
    },
  });
}
