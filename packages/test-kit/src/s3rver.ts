/// <reference path="./s3rver.d.ts" />
import S3rver from 's3rver';
import { tempDir } from './temp-dir.ts';

/** The bucket po uses by default, created by `startS3rver()` unless told otherwise. */
export const S3RVER_BUCKET = 'process-optimization';

/**
 * s3rver accepts any credentials (it checks no signature); the secret is distinctive so that a
 * test can check it never appears in a message.
 */
export const S3RVER_CREDENTIALS = Object.freeze({
  accessKey: 'S3RVER',
  secretKey: 'S3RVER-secret-do-not-print',
});

export interface S3rverStartOptions {
  /** Buckets to create. Default `[S3RVER_BUCKET]`; `[]` for none (a client that creates its own). */
  buckets?: readonly string[];
}

/** An s3rver on 127.0.0.1 at a free port, its files in a temporary folder. */
export interface TestS3Server {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly port: number;
  /** Where s3rver keeps the objects. */
  readonly directory: string;
  /** The first bucket created (`S3RVER_BUCKET` by default), or undefined when none was. */
  readonly bucket: string | undefined;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Stops the server (connections refused); the objects stay in `directory`. */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  /** Stops the server and removes its folder; for `afterAll`. */
  dispose(): Promise<void>;
}

/** Starts s3rver for a test or a benchmark: a real S3 API on loopback. */
export async function startS3rver(options: S3rverStartOptions = {}): Promise<TestS3Server> {
  const buckets = options.buckets ?? [S3RVER_BUCKET];
  const directory = await tempDir('po-s3rver');
  let server: S3rver | undefined;
  let port = 0;
  const start = async () => {
    if (server !== undefined) return;
    const instance = new S3rver({
      address: '127.0.0.1',
      port,
      directory: directory.path,
      silent: true,
      configureBuckets: buckets.map((name) => ({ name })),
    });
    port = (await instance.run()).port;
    server = instance;
  };
  const stop = async () => {
    const instance = server;
    server = undefined;
    await instance?.close();
  };
  try {
    await start();
  } catch (error) {
    await directory.remove();
    throw error;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory: directory.path,
    bucket: buckets[0],
    ...S3RVER_CREDENTIALS,
    start,
    stop,
    async dispose() {
      await stop();
      await directory.remove();
    },
  };
}
