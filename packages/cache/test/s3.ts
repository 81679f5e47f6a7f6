import S3rver from 's3rver';
import { tempDir } from './helpers.ts';

export const BUCKET = 'process-optimization';

export interface RunningS3rver {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
}

/** Starts s3rver on 127.0.0.1 at a free port, with the bucket created, in a temp folder. */
export async function startS3rver(): Promise<RunningS3rver> {
  const dir = await tempDir();
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir.path,
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await server.run();
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await dir.remove();
    },
  };
}
