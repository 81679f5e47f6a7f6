import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalStore, LAST_RUN_KEY } from '@po/storage';
import { tempDir } from '@po/test-kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytes, type WatchedStore, watch } from '../test/helpers.ts';
import { createLastRunState, type LastRunStateOptions } from './last-run.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
let store: WatchedStore;

beforeEach(async () => {
  dir = await tempDir();
  store = watch(createLocalStore({ root: dir.path }));
});
afterEach(async () => {
  await store.close();
  await dir.remove();
});

const modes: [string, () => LastRunStateOptions][] = [
  ['metadata folder', () => ({ metadataDir: join(dir.path, 'metadata') })],
  ['store', () => ({ store })],
];

describe.each(modes)('last-run timestamp in a %s', (_mode, options) => {
  it("writes the predecessor's file and reads it back after a restart", async () => {
    const state = createLastRunState(options());
    expect(await state.load()).toBeUndefined();
    expect(await state.set('2024-06-04T21:33:53')).toBe('2024-06-04T21:33:53');
    expect(state.get()).toBe('2024-06-04T21:33:53');
    const file = await readFile(join(dir.path, 'metadata', 'last_run_timestamp.yaml'), 'utf8');
    expect(file).toBe("last_run_timestamp: '2024-06-04T21:33:53'\n");

    const restarted = createLastRunState(options());
    expect(restarted.get()).toBeUndefined();
    expect(await restarted.load()).toBe('2024-06-04T21:33:53');
  });

  it('writes a Date in UTC, to the second, without a zone', async () => {
    const state = createLastRunState(options());
    await state.set(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)));
    expect(state.get()).toBe('2025-01-02T03:04:05');
    expect(await createLastRunState(options()).load()).toBe('2025-01-02T03:04:05');
  });

  it('replaces the file atomically: concurrent sets land in call order and leave no temp file', async () => {
    const state = createLastRunState(options());
    const times = Array.from({ length: 20 }, (_, i) => `2024-06-04T21:${String(i).padStart(2, '0')}:00`);
    await Promise.all(times.map((t) => state.set(t)));
    expect(await createLastRunState(options()).load()).toBe(times.at(-1));
    expect((await readdir(join(dir.path, 'metadata'))).filter((f) => f.includes('tmp'))).toEqual([]);
  });

  it('reads a file the predecessor wrote by hand (PyYAML datetime)', async () => {
    await mkdir(join(dir.path, 'metadata'), { recursive: true });
    await writeFile(
      join(dir.path, 'metadata', 'last_run_timestamp.yaml'),
      'last_run_timestamp: 2024-06-04 21:33:53\n',
    );
    expect(await createLastRunState(options()).load()).toBe('2024-06-04T21:33:53');
  });

  it('rejects a malformed file with STATE_FAILED naming it, and a malformed timestamp', async () => {
    await mkdir(join(dir.path, 'metadata'), { recursive: true });
    await writeFile(join(dir.path, 'metadata', 'last_run_timestamp.yaml'), 'last_run: yesterday\n');
    const error = await createLastRunState(options())
      .load()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STATE_FAILED' });
    expect((error as Error).message).toMatch(
      /^\[po\/cache\] The last-run timestamp could not be read from .*last_run_timestamp/,
    );
    await expect(createLastRunState(options()).set('2024-06-04 21:33')).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    });
  });
});

it('keeps the value in memory and rejects with STATE_FAILED when the store write fails', async () => {
  const state = createLastRunState({ store });
  await state.set('2024-06-04T21:33:53');
  store.offline = true;
  await expect(state.set('2024-06-04T21:34:53')).rejects.toMatchObject({
    code: 'STATE_FAILED',
    key: LAST_RUN_KEY,
  });
  expect(state.get()).toBe('2024-06-04T21:34:53');
  store.offline = false;
  await state.set('2024-06-04T21:35:53');
  expect(await createLastRunState({ store }).load()).toBe('2024-06-04T21:35:53');
  expect(new TextDecoder().decode((await store.get(LAST_RUN_KEY)).body)).toBe(
    new TextDecoder().decode(bytes("last_run_timestamp: '2024-06-04T21:35:53'\n")),
  );
});
