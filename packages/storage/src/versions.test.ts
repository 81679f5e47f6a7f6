import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStore } from './drivers/local.ts';
import { StoreError, StrategyRejectedError } from './errors.ts';
import type { ObjectStore } from './types.ts';
import { listVersions, readStrategy, strategyKey, uploadStrategy } from './versions.ts';

const folders: string[] = [];
let store: ObjectStore;
beforeEach(async () => {
  const folder = await mkdtemp(join(tmpdir(), 'po-versions-'));
  folders.push(folder);
  store = createLocalStore({ root: folder });
});
afterAll(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

const yaml = (text: string) => new TextEncoder().encode(text);

describe('strategy versions', () => {
  it('names versions configs/config-<semver>.yaml and refuses what is not semver', async () => {
    expect(strategyKey('1.1.0')).toBe('configs/config-1.1.0.yaml');
    for (const bad of ['1.1', 'v1.1.0', '1.1.0/../../x', 'latest', '']) {
      await expect(uploadStrategy(store, bad, yaml('a: 1'))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await expect(uploadStrategy(store, '1.1', yaml('a: 1'))).rejects.toThrow(/did you mean 1\.1\.0\?/);
  });

  it('lists versions in semver order, ignoring other files', async () => {
    for (const version of ['1.10.0', '1.2.0', '1.9.0', '2.0.0-rc.1', '2.0.0']) {
      await uploadStrategy(store, version, yaml(`version: ${version}\n`));
    }
    await store.put('configs/notes.txt', yaml('x'));
    await store.put('configs/config-latest.yaml', yaml('x'));
    expect((await listVersions(store)).map((v) => v.version)).toEqual([
      '1.2.0',
      '1.9.0',
      '1.10.0',
      '2.0.0-rc.1',
      '2.0.0',
    ]);
  });

  it('versions are immutable: same bytes are a no-op, different bytes need force', async () => {
    const first = await uploadStrategy(store, '1.1.0', yaml('a: 1\n'));
    expect(first.status).toBe('uploaded');
    expect((await uploadStrategy(store, '1.1.0', yaml('a: 1\n'))).status).toBe('unchanged');

    const error = await uploadStrategy(store, '1.1.0', yaml('a: 2\n')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'CONFLICT', key: 'configs/config-1.1.0.yaml' });
    expect((error as Error).message).toContain('upload it as a new version (e.g. 1.1.1)');
    expect((await readStrategy(store, '1.1.0')).text).toBe('a: 1\n');

    const forced = await uploadStrategy(store, '1.1.0', yaml('a: 2\n'), { force: true });
    expect(forced.status).toBe('replaced');
    expect((await readStrategy(store, '1.1.0')).text).toBe('a: 2\n');
  });

  it('runs the validate hook and refuses with every problem listed', async () => {
    const validate = async (bytes: Uint8Array) => {
      expect(new TextDecoder().decode(bytes)).toBe('skills: {}\n');
      return [
        'skills.im_predict_CO.config.model_path: models/saved_models/x.onnx is not in the store',
        'tasks: missing',
      ];
    };
    const error = await uploadStrategy(store, '1.0.0', yaml('skills: {}\n'), { validate }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StrategyRejectedError);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((error as StrategyRejectedError).problems).toHaveLength(2);
    expect((error as Error).message).toContain('2 problem(s)');
    expect((error as Error).message).toContain('  - tasks: missing');
    expect(await listVersions(store)).toEqual([]);
    expect(
      (await uploadStrategy(store, '1.0.0', yaml('skills: {}\n'), { validate: async () => [] })).status,
    ).toBe('uploaded');
  });

  it('readStrategy names the known versions when one is missing', async () => {
    await uploadStrategy(store, '1.0.0', yaml('a: 1\n'));
    const error = await readStrategy(store, '3.0.0').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NOT_FOUND' });
    expect((error as Error).message).toContain('Known versions: 1.0.0.');
  });
});
