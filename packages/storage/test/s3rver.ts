import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export const TEST_BUCKET = 'process-optimization';
/** s3rver accepts any credentials (it checks no signature). */
export const S3RVER_CREDENTIALS = { accessKey: 'S3RVER', secretKey: 'S3RVER-secret-do-not-print' };

/** An s3rver on 127.0.0.1 (a free port), its files in a temp folder; stop and start again on the same port and folder. */
export interface TestS3Server {
  endpoint: string;
  port: number;
  directory: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its folder. */
  dispose(): Promise<void>;
}

export async function startS3rver(options: { buckets?: string[] } = {}): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'po-s3rver-'));
  let server: S3rver | undefined;
  let port = 0;
  const start = async () => {
    const instance = new S3rver({
      address: '127.0.0.1',
      port,
      directory,
      silent: true,
      configureBuckets: (options.buckets ?? [TEST_BUCKET]).map((name) => ({ name })),
    });
    port = (await instance.run()).port;
    server = instance;
  };
  const stop = async () => {
    const instance = server;
    server = undefined;
    await instance?.close();
  };
  await start();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    start,
    stop,
    async dispose() {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
