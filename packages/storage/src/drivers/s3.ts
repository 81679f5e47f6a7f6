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
import { StoreError, type StoreErrorCode } from '../errors.ts';
import { validateKey } from '../keys.ts';
import { compareKeys, defineObjectStore, onceUntilFailure } from '../store.ts';
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

/** The bucket and what every operation on it shares. */
interface Bucket {
  readonly client: Client;
  readonly name: string;
  /** `<scheme>://<host>`, for messages. */
  readonly endpoint: string;
  /** `<endpoint>/<bucket>`, for messages. */
  readonly location: string;
  readonly retry: {
    retries: number;
    minTimeout: number;
    maxTimeout: number;
    maxRetryTime: number;
  };
  /** Resolves once the bucket exists (with `createBucket`), or at once. */
  ready(): Promise<void>;
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
  const name = options.bucket ?? 'process-optimization';
  const region = options.region ?? 'us-east-1';
  const url = parseEndpoint(options.endpoint);
  const useSSL = url.protocol === 'https:';
  const endpoint = `${url.protocol}//${url.host}`;
  const agent = useSSL ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const client = new Client({
    endPoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region,
    pathStyle: options.pathStyle ?? true,
    partSize: options.partSize ?? 64 * 1024 * 1024,
    transport: timedTransport(
      useSSL,
      options.connectTimeoutMs ?? 1000,
      options.timeoutMs ?? 10_000,
    ) as unknown as ClientOptions['transport'],
    transportAgent: agent,
    retryOptions: { disableRetry: true },
  });
  const created = onceUntilFailure(() => createBucket(bucket, region));
  const bucket: Bucket = {
    client,
    name,
    endpoint,
    location: `${endpoint}/${name}`,
    retry: {
      retries: options.retry?.retries ?? 2,
      minTimeout: options.retry?.minTimeoutMs ?? 100,
      maxTimeout: options.retry?.maxTimeoutMs ?? 1000,
      maxRetryTime: options.retry?.maxRetryTimeMs ?? 3000,
    },
    ready: () => (options.createBucket ? created() : Promise.resolve()),
  };
  return defineObjectStore({
    kind: DRIVER_NAME,
    location: bucket.location,
    get: (key) => readObject(bucket, key) as Promise<StoredObject>,
    getIfChanged: (key, etag) => readObject(bucket, key, etag),
    stat: (key) => statObject(bucket, key),
    put: (key, body, putOptions) => putObject(bucket, key, body, putOptions),
    list: (prefix) => listObjects(bucket, prefix),
    delete: (key) => removeObject(bucket, key),
    async close() {
      agent.destroy();
    },
  });
}

function parseEndpoint(endpoint: string): URL {
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    return url;
  } catch (error) {
    throw new StoreError(
      'INVALID_ARGUMENT',
      DRIVER_NAME,
      `Invalid endpoint ${JSON.stringify(endpoint.replace(/\/\/[^@/]*@/, '//'))}: expected a URL such as http://127.0.0.1:9000.`,
      { cause: error },
    );
  }
}

/** The SDK has no timeouts: a transport that bounds the connection and every silence. */
function timedTransport(useSSL: boolean, connectTimeoutMs: number, timeoutMs: number) {
  const connect = useSSL ? httpsRequest : httpRequest;
  return {
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
}

function toStoreError(
  bucket: Bucket,
  error: unknown,
  action: string,
  key: string,
  attempts: number,
): StoreError {
  if (error instanceof StoreError) return error;
  const { endpoint, name, location } = bucket;
  const code = errorCode(error) ?? '';
  const detail = error instanceof Error && error.message !== '' ? error.message : code || String(error);
  const named = key === '' ? '' : ` ${JSON.stringify(key)}`;
  const fail = (storeCode: StoreErrorCode, message: string) =>
    new StoreError(storeCode, DRIVER_NAME, message, { key, cause: error });
  if (isTransient(error)) {
    return fail(
      'UNREACHABLE',
      `Cannot ${action}${named}: ${endpoint} (bucket ${name}) did not answer (${code || detail}) after ${attempts} attempt(s). Check that the server runs and is reachable from this host, or use the local store.`,
    );
  }
  if (NOT_FOUND.has(code)) {
    return fail('NOT_FOUND', `Object${named} not found in ${location}. Upload it, or correct the key.`);
  }
  if (code === 'NoSuchBucket') {
    return fail(
      'BUCKET_NOT_FOUND',
      `Bucket ${name} does not exist at ${endpoint} (while trying to ${action}${named}). Create it (mc mb) or set createBucket: true.`,
    );
  }
  if (DENIED.has(code)) {
    return fail(
      'ACCESS_DENIED',
      `${endpoint} refused to ${action}${named} in bucket ${name} (${code}). Check the access key and secret key, and the bucket policy.`,
    );
  }
  return fail('IO_ERROR', `Cannot ${action}${named} in ${location}: ${code ? `${code}: ` : ''}${detail}.`);
}

/** One request; retryable statuses become a PO_HTTP_STATUS error, other failures the SDK's S3Error. */
async function send(
  bucket: Bucket,
  request: { method: string; key?: string; query?: string; headers?: Record<string, string> },
  payload: Buffer | '' = '',
  ok: number[] = [200],
): Promise<IncomingMessage> {
  const response = await bucket.client.makeRequestAsync(
    {
      method: request.method,
      bucketName: bucket.name,
      ...(request.key === undefined ? {} : { objectName: request.key }),
      ...(request.query === undefined ? {} : { query: request.query }),
      headers: request.headers ?? {},
    },
    payload,
    [...ok, ...RETRY_STATUSES],
  );
  if (RETRY_STATUSES.includes(response.statusCode ?? 0)) {
    response.resume();
    throw codedError('PO_HTTP_STATUS', `HTTP ${response.statusCode}`);
  }
  return response;
}

/** Runs `run` with p-retry on transient failures; what still fails becomes a `StoreError`. */
async function attempt<T>(bucket: Bucket, action: string, key: string, run: () => Promise<T>): Promise<T> {
  let attempts = 0;
  try {
    return await pRetry(
      () => {
        attempts++;
        return run();
      },
      { ...bucket.retry, factor: 2, randomize: true, shouldRetry: ({ error }) => isTransient(error) },
    );
  } catch (error) {
    throw toStoreError(bucket, error, action, key, attempts);
  }
}

function createBucket(bucket: Bucket, region: string): Promise<void> {
  return attempt(bucket, 'create the bucket', '', async () => {
    if (await bucket.client.bucketExists(bucket.name)) return;
    try {
      await bucket.client.makeBucket(bucket.name, region);
    } catch (error) {
      const code = errorCode(error);
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
    }
  });
}

async function readObject(
  bucket: Bucket,
  key: string,
  unlessEtag?: string,
): Promise<StoredObject | NotModified> {
  await bucket.ready();
  return attempt(bucket, 'read', key, async () => {
    const headers: Record<string, string> = {};
    if (unlessEtag !== undefined) headers['if-none-match'] = `"${unlessEtag}"`;
    const response = await send(bucket, { method: 'GET', key, headers }, '', [200, 304]);
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

async function statObject(bucket: Bucket, key: string): Promise<ObjectInfo | undefined> {
  await bucket.ready();
  try {
    return await attempt(bucket, 'stat', key, async () => {
      const response = await send(bucket, { method: 'HEAD', key });
      response.resume();
      return infoFromHeaders(key, response, Number(header(response, 'content-length') ?? 0));
    });
  } catch (error) {
    if (error instanceof StoreError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

async function putObject(
  bucket: Bucket,
  key: string,
  body: Uint8Array,
  options: PutOptions | undefined,
): Promise<ObjectInfo> {
  await bucket.ready();
  const payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const headers: Record<string, string> = {
    'content-type': options?.contentType ?? 'application/octet-stream',
    // S3 and MinIO refuse a body that does not match (BadDigest): no truncated object.
    'content-md5': createHash('md5').update(payload).digest('base64'),
  };
  for (const [name, value] of Object.entries(options?.metadata ?? {})) headers[`x-amz-meta-${name}`] = value;
  return attempt(bucket, 'write', key, async () => {
    const response = await send(bucket, { method: 'PUT', key, headers }, payload);
    response.resume();
    const date = header(response, 'date');
    const info: ObjectInfo = {
      key,
      size: body.byteLength,
      etag: unquote(header(response, 'etag')),
      lastModified: date === undefined ? new Date() : new Date(date),
      metadata: { ...options?.metadata },
    };
    if (options?.contentType !== undefined) info.contentType = options.contentType;
    return info;
  });
}

/**
 * ListObjectsV2 sent directly: the SDK always asks for `encoding-type=url` and decodes the
 * answer, which garbles keys with `+` or `%` on servers that ignore the parameter (s3rver).
 * Keys po accepts contain no character that XML cannot carry, so no encoding is needed.
 */
async function listPage(bucket: Bucket, prefix: string, token: string | undefined): Promise<ListPage> {
  const query = [`list-type=2`, `max-keys=1000`, `prefix=${rfc3986(prefix)}`];
  if (token !== undefined) query.push(`continuation-token=${rfc3986(token)}`);
  const response = await send(bucket, { method: 'GET', query: query.join('&') });
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

async function listObjects(bucket: Bucket, prefix: string): Promise<ObjectInfo[]> {
  await bucket.ready();
  return attempt(bucket, 'list', prefix, async () => {
    const infos: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await listPage(bucket, prefix, token);
      infos.push(...page.infos);
      token = page.next;
    } while (token !== undefined);
    return infos.sort(compareKeys);
  });
}

async function removeObject(bucket: Bucket, key: string): Promise<void> {
  await bucket.ready();
  try {
    await attempt(bucket, 'delete', key, async () => {
      const response = await send(bucket, { method: 'DELETE', key }, '', [200, 204]);
      response.resume();
    });
  } catch (error) {
    if (error instanceof StoreError && error.code === 'NOT_FOUND') return;
    throw error;
  }
}
