import { silentLogger } from '@po/core';
import { createModelProvider } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { createLocalStore } from '@po/storage';
import { tempDir } from '@po/test-kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytes, text, uploadDemo, type WatchedStore, watch } from '../test/helpers.ts';
import { type ArtifactCache, createArtifactCache } from './artifact-cache.ts';
import { createDeployment, type VersionReader } from './deployment.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
let store: WatchedStore;
let cache: ArtifactCache;
let deployed: string;

beforeEach(async () => {
  dir = await tempDir();
  store = watch(createLocalStore({ root: dir.path, fsync: false }));
  cache = createArtifactCache({ store });
  deployed = '1.0.0';
});
afterEach(async () => {
  await cache.close();
  await store.close();
  await dir.remove();
});

/** A toy "strategy": one model path per line; loading reads every model and fails on a corrupt one. */
interface Toy {
  version: string;
  models: Record<string, string>;
  disposed: boolean;
}

async function putVersion(version: string, models: Record<string, string>) {
  await store.put(`configs/config-${version}.yaml`, bytes(Object.keys(models).join('\n')));
  for (const [path, body] of Object.entries(models)) await store.put(`models/${path}`, bytes(body));
}

async function loadToy(version: string, reader: VersionReader): Promise<Toy> {
  const paths = text(await reader.strategy()).split('\n');
  const models: Record<string, string> = {};
  await Promise.all(
    paths.map(async (path) => {
      const body = text(await reader.modelFile(path));
      if (body.includes('corrupt')) throw new Error(`model '${path}' is corrupt`);
      models[path] = body;
    }),
  );
  return { version, models, disposed: false };
}

function toyDeployment(overrides: { load?: typeof loadToy } = {}) {
  const loads: string[] = [];
  const disposed: string[] = [];
  const deployment = createDeployment<Toy>({
    cache,
    pointer: async () => deployed,
    load: async (version, reader) => {
      loads.push(version);
      return (overrides.load ?? loadToy)(version, reader);
    },
    dispose: (toy) => {
      toy.disposed = true;
      disposed.push(toy.version);
    },
  });
  return { deployment, loads, disposed };
}

describe('createDeployment', () => {
  it('loads the deployed version and reports it', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1', 'saved_scalers/a_scalers.json': 's1' });
    const { deployment } = toyDeployment();
    expect(deployment.current()).toBeUndefined();
    expect(deployment.status()).toMatchObject({ version: null, lastError: null });
    expect(await deployment.refresh()).toEqual({
      version: '1.0.0',
      changed: true,
      previousVersion: undefined,
    });
    expect(deployment.current()).toMatchObject({
      version: '1.0.0',
      value: { models: { 'saved_models/a.onnx': 'a1' } },
    });
    expect(deployment.status()).toMatchObject({
      version: '1.0.0',
      loading: null,
      lastError: null,
      storeReachable: true,
      servingStale: false,
    });
    expect([...deployment.keysOf('1.0.0')].sort()).toEqual([
      'model:models/saved_models/a.onnx',
      'scaler:models/saved_scalers/a_scalers.json',
      'strategy:configs/config-1.0.0.yaml',
    ]);
  });

  it('does not load again while the pointer names the same version', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1' });
    const { deployment, loads } = toyDeployment();
    await deployment.refresh();
    expect(await deployment.refresh()).toMatchObject({ changed: false, version: '1.0.0' });
    expect(loads).toEqual(['1.0.0']);
  });

  it('swaps a new version in only after it loaded completely, then drops the old entries and disposes the old value', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1', 'saved_models/shared.onnx': 'shared' });
    await putVersion('1.1.0', { 'saved_models/b.onnx': 'b1', 'saved_models/shared.onnx': 'shared' });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { deployment, disposed } = toyDeployment({
      load: async (version, reader) => {
        const toy = await loadToy(version, reader);
        if (version === '1.1.0') await gate;
        return toy;
      },
    });
    await deployment.refresh();
    const old = deployment.current()!.value;

    deployed = '1.1.0';
    const refreshing = deployment.refresh();
    // Wait (bounded) until the load has read every model of 1.1.0; it then waits at the gate.
    for (let i = 0; i < 500 && !cache.has('model', 'models/saved_models/b.onnx'); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // Every model of 1.1.0 is read, but 1.0.0 serves until the load resolves.
    expect(cache.has('model', 'models/saved_models/b.onnx')).toBe(true);
    expect(deployment.current()?.version).toBe('1.0.0');
    expect(deployment.status()).toMatchObject({ version: '1.0.0', loading: '1.1.0' });

    release();
    expect(await refreshing).toEqual({ version: '1.1.0', changed: true, previousVersion: '1.0.0' });
    expect(deployment.current()?.version).toBe('1.1.0');
    expect(cache.has('model', 'models/saved_models/a.onnx')).toBe(false);
    expect(cache.has('strategy', 'configs/config-1.0.0.yaml')).toBe(false);
    expect(cache.has('model', 'models/saved_models/shared.onnx')).toBe(true);
    await deployment.close();
    expect(disposed).toEqual(['1.0.0', '1.1.0']);
    expect(old.disposed).toBe(true);
  });

  it('keeps the old version serving when the new one fails to load, with the error in status', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1' });
    await putVersion('2.0.0', { 'saved_models/a2.onnx': 'a2', 'saved_models/bad.onnx': 'corrupt bytes' });
    const logged: string[] = [];
    const deployment = createDeployment<Toy>({
      cache,
      pointer: async () => deployed,
      load: loadToy,
      logger: { ...silentLogger, error: (_fields, m) => logged.push(m ?? '') },
    });
    await deployment.refresh();

    deployed = '2.0.0';
    const error = await deployment.refresh().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LOAD_FAILED', version: '2.0.0' });
    expect((error as Error).message).toMatch(
      /^\[po\/cache\] Version '2.0.0' could not be loaded: model 'saved_models\/bad.onnx' is corrupt. Version '1.0.0' keeps serving/,
    );
    expect(deployment.current()?.version).toBe('1.0.0');
    expect(deployment.status()).toMatchObject({
      version: '1.0.0',
      loading: null,
      lastError: { version: '2.0.0', code: 'LOAD_FAILED', message: (error as Error).message },
    });
    expect(logged).toEqual([(error as Error).message]);

    // Fixed in the store: the next refresh loads it (the corrupt entry is revalidated, not reused).
    await store.put('models/saved_models/bad.onnx', bytes('fixed'));
    expect(await deployment.refresh()).toMatchObject({ version: '2.0.0', changed: true });
    expect(deployment.current()?.value.models['saved_models/bad.onnx']).toBe('fixed');
    expect(deployment.status().lastError).toBeNull();
  });

  it('shares one load between concurrent refreshes', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1' });
    store.delayMs = 10;
    const { deployment, loads } = toyDeployment();
    const results = await Promise.all(Array.from({ length: 5 }, () => deployment.refresh()));
    expect(loads).toEqual(['1.0.0']);
    expect(new Set(results.map((r) => r.version))).toEqual(new Set(['1.0.0']));
    expect(store.calls.get).toBe(2);
  });

  it('records a pointer failure and keeps serving', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1' });
    let down = false;
    const deployment = createDeployment<Toy>({
      cache,
      pointer: async () => {
        if (down)
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'UNREACHABLE' });
        return deployed;
      },
      load: loadToy,
    });
    await deployment.refresh();
    down = true;
    await expect(deployment.refresh()).rejects.toMatchObject({ code: 'POINTER_FAILED' });
    expect(deployment.current()?.version).toBe('1.0.0');
    expect(deployment.status()).toMatchObject({
      storeReachable: false,
      lastError: { version: null, code: 'POINTER_FAILED' },
    });
    down = false;
    await deployment.refresh();
    expect(deployment.status()).toMatchObject({ storeReachable: true, lastError: null });
  });

  it('revalidates cached files on a version change, so a file overwritten under the same key is not loaded stale', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1' });
    const { deployment } = toyDeployment();
    await deployment.refresh();
    await putVersion('1.0.1', { 'saved_models/a.onnx': 'a1 retrained' });
    deployed = '1.0.1';
    await deployment.refresh();
    expect(deployment.current()?.value.models['saved_models/a.onnx']).toBe('a1 retrained');
  });

  it('waits for users of the old version before disposing it', async () => {
    await putVersion('1.0.0', { 'saved_models/a.onnx': 'a1' });
    await putVersion('1.1.0', { 'saved_models/a.onnx': 'a1' });
    const { deployment, disposed } = toyDeployment();
    await deployment.refresh();
    let finish: () => void = () => undefined;
    const running = deployment.use(
      (toy, version) =>
        new Promise<string>((r) => {
          finish = () => r(`${version}:${toy.disposed}`);
        }),
    );
    deployed = '1.1.0';
    await deployment.refresh();
    expect(disposed).toEqual([]);
    finish();
    expect(await running).toBe('1.0.0:false');
    await new Promise((r) => setTimeout(r, 0));
    expect(disposed).toEqual(['1.0.0']);
  });

  it('fails the refresh when no version is deployed', async () => {
    const deployment = createDeployment<Toy>({ cache, pointer: async () => undefined, load: loadToy });
    await expect(deployment.refresh()).rejects.toThrow(/POINTER_FAILED|no version is deployed/);
    expect(deployment.status()).toMatchObject({
      version: null,
      storeReachable: true,
      lastError: { code: 'POINTER_FAILED' },
    });
  });

  it('fails the load of a version that is not a semantic version, naming it', async () => {
    deployed = 'latest';
    const { deployment } = toyDeployment();
    const error = await deployment.refresh().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LOAD_FAILED', version: 'latest' });
    expect((error as Error).message).toMatch(/Version 'latest' could not be loaded: .*semantic version/);
  });

  it('rejects use() before the first load', async () => {
    const { deployment } = toyDeployment();
    await expect(deployment.use(() => 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('createDeployment with the engine (demo strategy)', () => {
  const loadEngine = async (version: string, reader: VersionReader): Promise<CompiledStrategy> => {
    const provider = createModelProvider({ readFile: reader.modelFile });
    try {
      return await compileStrategy(text(await reader.strategy()), {
        modelProvider: provider,
        version,
        source: `configs/config-${version}.yaml`,
      });
    } catch (error) {
      await provider.dispose();
      throw error;
    }
  };

  it('compiles the demo strategy through the cache; a corrupt model in the next version leaves it serving', async () => {
    const keys = await uploadDemo(store, '1.0.0');
    await uploadDemo(store, '1.1.0');
    const deployment = createDeployment<CompiledStrategy>({
      cache,
      pointer: async () => deployed,
      load: loadEngine,
      dispose: (compiled) => compiled.dispose(),
    });
    await deployment.refresh();
    expect(deployment.current()?.version).toBe('1.0.0');
    expect(deployment.current()?.value.decisionVariables.length).toBeGreaterThan(0);
    expect(cache.stats().totals.total_items).toBe(keys.length);

    const onnx = keys.find((k) => k.endsWith('.onnx'))!;
    await store.put(onnx, bytes('not an onnx model'));
    deployed = '1.1.0';
    await expect(deployment.refresh()).rejects.toMatchObject({ code: 'LOAD_FAILED', version: '1.1.0' });
    expect(deployment.current()?.version).toBe('1.0.0');
    expect(deployment.status().lastError?.message).toContain(onnx.slice('models/'.length));
    await deployment.close();
  });
});
