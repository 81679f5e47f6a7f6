/**
 * Loading a strategy's artifacts through the cache from an S3 API (s3rver on 127.0.0.1,
 * started here): cold (empty cache, every body downloaded), warm (every read answered from
 * memory) and revalidation of an unchanged version (every entry past its TTL, every answer a
 * 304). The demo strategy (config/demo: strategy.yaml + models/**) is the artifact set. The last
 * rows add the engine's compile (`compileStrategy` + `createModelProvider`) to the load.
 *
 *   pnpm --filter @po/cache bench
 *
 * Prints a markdown table.
 */
import { arch, cpus, platform } from 'node:os';
import { createModelProvider } from '@po/models';
import { compileStrategy } from '@po/rto-engine';
import { createS3Store } from '@po/storage/s3';
import { S3RVER_BUCKET, startS3rver } from '@po/test-kit';
import { type ArtifactCache, createArtifactCache } from '../src/index.ts';
import { fakeClock, text, uploadDemo, watch } from '../test/helpers.ts';

const VERSION = '1.0.0';
const RUNS = 30;
const WARM_READS = 2000;

const s3 = await startS3rver();
const store = watch(
  createS3Store({
    endpoint: s3.endpoint,
    bucket: S3RVER_BUCKET,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
  }),
);
const keys = await uploadDemo(store, VERSION);
const [strategyKey, ...modelKeys] = keys as [string, ...string[]];
const modelPaths = modelKeys.map((k) => k.slice('models/'.length));
let totalBytes = 0;
for (const key of keys) totalBytes += (await store.stat(key))?.size ?? 0;

/** Reads every artifact of the version through the cache, as a deployment's load does. */
async function readAll(cache: ArtifactCache): Promise<void> {
  const readFile = cache.modelFileReader();
  await Promise.all([cache.read('strategy', strategyKey), ...modelPaths.map((p) => readFile(p))]);
}

async function compile(cache: ArtifactCache) {
  const provider = createModelProvider({ readFile: cache.modelFileReader() });
  const compiled = await compileStrategy(text(await cache.read('strategy', strategyKey)), {
    modelProvider: provider,
    version: VERSION,
  });
  await compiled.dispose();
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function time(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

// Warm-up of the HTTP client, the S3 server and the JIT.
for (let i = 0; i < 3; i++) await readAll(createArtifactCache({ store }));

// Cold: a new cache each run, every body downloaded.
const cold: number[] = [];
for (let i = 0; i < RUNS; i++) cold.push(await time(() => readAll(createArtifactCache({ store }))));

// Warm: one cache, every read from memory.
const clock = fakeClock();
const cache = createArtifactCache({ store, now: clock });
await readAll(cache);
const warm: number[] = [];
for (let i = 0; i < WARM_READS; i++) warm.push(await time(() => readAll(cache)));

// Revalidation of an unchanged version: every entry past its TTL, every answer a 304.
const revalidation: number[] = [];
for (let i = 0; i < RUNS; i++) {
  clock.advance(25 * 3_600_000);
  const before = store.calls.notModified;
  const bytesBefore = store.bytesTransferred;
  revalidation.push(await time(() => readAll(cache)));
  if (store.calls.notModified - before !== keys.length || store.bytesTransferred !== bytesBefore) {
    throw new Error('expected one 304 and no body per artifact');
  }
}

// Ten concurrent cold loads share the downloads.
const shared = createArtifactCache({ store });
const getsBefore = store.calls.get;
await Promise.all(Array.from({ length: 10 }, () => readAll(shared)));
const concurrentGets = store.calls.get - getsBefore;

// With the engine's compile (ONNX sessions created each time).
const compileCold: number[] = [];
const compileWarm: number[] = [];
const compileCache = createArtifactCache({ store });
await compile(compileCache);
for (let i = 0; i < 10; i++) {
  compileCold.push(await time(() => compile(createArtifactCache({ store }))));
  compileWarm.push(await time(() => compile(compileCache)));
}

await store.close();
await s3.dispose();

const ms = (v: number) => (v >= 1 ? v.toFixed(2) : v.toFixed(4));
const coldMs = median(cold);
const warmMs = median(warm);
const lines = [
  '`pnpm --filter @po/cache bench`',
  '',
  `Node ${process.version}, ${platform()} ${arch()}, ${cpus()[0]?.model ?? 'unknown CPU'}; s3rver on 127.0.0.1 via ` +
    `@po/storage's S3 driver; the demo strategy: ${keys.length} artifacts (1 strategy, ${modelKeys.length} model/scaler/metadata files), ` +
    `${(totalBytes / 1024).toFixed(1)} KiB. Medians of ${RUNS} runs (warm: ${WARM_READS}).`,
  '',
  '| load of every artifact | median ms | vs cold | store calls per load |',
  '|---|---:|---:|---|',
  `| cold (empty cache, ${keys.length} GETs) | ${ms(coldMs)} | 1× | ${keys.length} GET |`,
  `| warm (all from memory) | ${ms(warmMs)} | ${(coldMs / warmMs).toFixed(0)}× faster | none |`,
  `| revalidation, unchanged version (all past TTL, all 304) | ${ms(median(revalidation))} | ${(coldMs / median(revalidation)).toFixed(1)}× faster | ${keys.length} conditional GET (304), 0 body bytes |`,
  `| 10 concurrent cold loads, one cache | – | – | ${concurrentGets} GET in total |`,
  `| cold + compile (models loaded into ONNX Runtime) | ${ms(median(compileCold))} | – | ${keys.length} GET |`,
  `| warm + compile | ${ms(median(compileWarm))} | – | none |`,
];
process.stdout.write(`${lines.join('\n')}\n`);
