import { createLocalStore } from '@po/storage';
import { tempDir } from '@po/test-kit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { bytes, type WatchedStore, watch } from '../test/helpers.ts';
import { createArtifactCache } from './artifact-cache.ts';
import { createDeployment } from './deployment.ts';
import { createLastRunState } from './last-run.ts';
import { cacheReport } from './report.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
let store: WatchedStore;

beforeEach(async () => {
  dir = await tempDir();
  store = watch(createLocalStore({ root: dir.path, fsync: false }));
});
afterEach(async () => {
  await store.close();
  await dir.remove();
});

it("reports the predecessor's stats shape with po's counters", async () => {
  await store.put('configs/config-1.2.0.yaml', bytes('strategy'));
  await store.put('models/saved_models/a.onnx', bytes('model'));
  const cache = createArtifactCache({ store });
  const deployment = createDeployment({
    cache,
    pointer: async () => '1.2.0',
    load: async (_version, reader) => {
      await reader.strategy();
      return reader.modelFile('saved_models/a.onnx');
    },
  });
  await deployment.refresh();
  await cache.read('model', 'models/saved_models/a.onnx');
  const lastRun = createLastRunState({ store });
  await lastRun.set('2024-06-04T21:33:53');

  const report = cacheReport({ cache, deployment, lastRun });
  expect(Object.keys(report.cache_stats)).toEqual(['strategy', 'model', 'scaler', 'metadata']);
  expect(report).toMatchObject({
    current_config_version: '1.2.0',
    cached_last_run_timestamp: '2024-06-04T21:33:53',
    cache_stats: {
      strategy: { active_items: 1, expired_items: 0, total_items: 1, hits: 0, misses: 1, bytes: 8 },
      model: {
        active_items: 1,
        expired_items: 0,
        total_items: 1,
        hits: 1,
        misses: 1,
        hit_ratio: 0.5,
        bytes: 5,
      },
      scaler: { active_items: 0, expired_items: 0, total_items: 0, hit_ratio: 0 },
      metadata: { total_items: 0 },
    },
    totals: { total_items: 2, hits: 1, misses: 2, bytes: 13, downloads: 2, revalidations: 0 },
    store: { store: { kind: 'local' }, reachable: true, servingStale: false, lastError: null },
    deployment: { version: '1.2.0', lastError: null },
  });
  expect(report.totals.hit_ratio).toBeCloseTo(1 / 3);
  expect(JSON.parse(JSON.stringify(report))).toEqual(report);
});

it('reports nulls before anything is loaded', () => {
  const report = cacheReport({ cache: createArtifactCache({ store }) });
  expect(report).toMatchObject({
    current_config_version: null,
    cached_last_run_timestamp: null,
    deployment: null,
  });
});
