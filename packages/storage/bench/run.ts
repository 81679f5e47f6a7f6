/**
 * Latency of the store operations a cycle uses, on the local folder and on an s3rver on
 * 127.0.0.1 (a stand-in for MinIO: the numbers say what the driver costs, not what a real
 * MinIO does). The cache package's benchmarks are the ones reported in BENCHMARKS.md.
 *
 *   pnpm --filter @po/storage bench
 *
 * Prints a markdown table: median and p95 per call over a fixed number of calls, after a
 * warm-up, for a 10 kB and a 1 MiB object.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3RVER_BUCKET, S3RVER_CREDENTIALS, startS3rver } from '@po/test-kit';
import { createS3Store } from '../src/drivers/s3.ts';
import { createLocalStore, type ObjectStore } from '../src/index.ts';

const WARMUP = 20;
const CALLS = 200;
const SIZES = [10_000, 1024 * 1024];

async function time(run: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  for (let i = 0; i < WARMUP; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(CALLS / 2)]!, p95: samples[Math.floor(CALLS * 0.95)]! };
}

async function bench(name: string, store: ObjectStore): Promise<void> {
  for (const size of SIZES) {
    const key = `bench/model-${size}.onnx`;
    const body = randomBytes(size);
    const { etag } = await store.put(key, body);
    const rows: [string, () => Promise<unknown>][] = [
      ['put', () => store.put(key, body)],
      ['get', () => store.get(key)],
      ['getIfChanged (not modified)', () => store.getIfChanged(key, etag)],
      ['stat', () => store.stat(key)],
    ];
    for (const [operation, run] of rows) {
      const { median, p95 } = await time(run);
      console.log(`| ${name} | ${operation} | ${size} | ${median.toFixed(3)} | ${p95.toFixed(3)} |`);
    }
  }
}

const folder = await mkdtemp(join(tmpdir(), 'po-storage-bench-'));
const server = await startS3rver();
try {
  console.log('| store | operation | bytes | median ms | p95 ms |\n|---|---|---|---|---|');
  await bench('local', createLocalStore({ root: folder }));
  await bench(
    's3 (s3rver)',
    createS3Store({ endpoint: server.endpoint, bucket: S3RVER_BUCKET, ...S3RVER_CREDENTIALS }),
  );
} finally {
  await server.dispose();
  await rm(folder, { recursive: true, force: true });
}
