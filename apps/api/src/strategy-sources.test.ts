import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { localModelFiles } from '@po/models';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createCyclePool } from './pool/index.ts';
import { deployedStrategy, requestBundles } from './strategy-sources.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const text = await readFile(`${DEMO}strategy.yaml`, 'utf8');

describe('requestBundles', () => {
  const pool = createCyclePool({ threads: 1 });
  afterAll(() => pool.close());

  it('reads the files of a strategy sent in requests once per distinct content (paths found in the pool)', async () => {
    const files = localModelFiles(`${DEMO}models`);
    const read: string[] = [];
    const bundle = requestBundles(async (path) => {
      read.push(path);
      return files(path);
    }, pool);
    const first = await bundle(text);
    expect(await bundle(text)).toBe(first);
    expect(read).toHaveLength(Object.keys(first.files).length);
    expect(read.length).toBeGreaterThan(0);
    expect(pool.stats().completed).toBe(1);
    const asJson = await bundle(parse(text) as Record<string, unknown>);
    expect(asJson).not.toBe(first);
    expect(await bundle(parse(text) as Record<string, unknown>)).toBe(asJson);
    expect(read).toHaveLength(2 * Object.keys(first.files).length);
  });
});

describe('deployedStrategy', () => {
  it('says why there is no strategy, by the source’s state', async () => {
    const reason = (state: 'none' | 'loading' | 'error') =>
      deployedStrategy({
        current: async () => undefined,
        status: () => ({ state, version: null, error: 'bad YAML at line 3' }),
      })().catch((e: unknown) => e);
    expect(await reason('none')).toMatchObject({ status: 400, code: 'NO_STRATEGY' });
    expect(await reason('loading')).toMatchObject({ status: 503, code: 'NO_STRATEGY' });
    expect(await reason('loading')).toMatchObject({ detail: expect.stringContaining('still loading') });
    expect(await reason('error')).toMatchObject({
      detail: 'the deployed strategy cannot be loaded: bad YAML at line 3',
    });
  });

  it('a source that cannot load is a 503 naming the cause', async () => {
    const failing = deployedStrategy({
      current: async () => {
        throw new Error('the store at http://127.0.0.1:9 did not answer');
      },
      status: () => ({ state: 'error', version: null }),
    });
    expect(await failing().catch((e: unknown) => e)).toMatchObject({
      status: 503,
      code: 'STRATEGY_UNAVAILABLE',
      detail: 'the deployed strategy cannot be loaded: the store at http://127.0.0.1:9 did not answer',
    });
  });
});
