import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalStore } from './drivers/local.ts';
import {
  DEPLOY_POINTER_KEY,
  deployVersion,
  parseDeployPointer,
  parseLastRunTimestamp,
  readDeployPointer,
  readLastRunTimestamp,
  readStoreDeployPointer,
  writeDeployPointer,
  writeLastRunTimestamp,
} from './pointer.ts';
import { uploadStrategy } from './versions.ts';

const folders: string[] = [];
async function tempFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'po-pointer-'));
  folders.push(folder);
  return folder;
}
afterAll(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

describe('deploy pointer', () => {
  it("reads the predecessor's file as it is (no trailing newline)", async () => {
    const dir = await tempFolder();
    await writeFile(join(dir, 'deployed_config_version.yaml'), 'config.yaml: 1.1.0');
    expect(await readDeployPointer(dir)).toBe('1.1.0');
    expect(parseDeployPointer('config.yaml: 1.10.0\n')).toBe('1.10.0');
  });

  it('is undefined when there is no file, and written in the same format', async () => {
    const dir = join(await tempFolder(), 'metadata');
    expect(await readDeployPointer(dir)).toBeUndefined();
    await writeDeployPointer(dir, '1.2.0');
    expect(await readFile(join(dir, 'deployed_config_version.yaml'), 'utf8')).toBe('config.yaml: 1.2.0\n');
    expect(await readDeployPointer(dir)).toBe('1.2.0');
  });

  it.each([
    ['', 'not a mapping'],
    ['config.yaml: [1, 2]', 'not a single value'],
    ['version: 1.1.0', "field 'config.yaml' is missing"],
    ['config.yaml: 1.1', 'expected a semantic version'],
    ['config.yaml: "1.1.0', 'not YAML'],
    ['config.yaml: 1.0.0\nconfig.yaml: 2.0.0', 'not YAML'],
  ])('refuses a malformed pointer %j with INVALID_FILE naming the file', (text, problem) => {
    let error: unknown;
    try {
      parseDeployPointer(text, '/srv/po/metadata/deployed_config_version.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'INVALID_FILE' });
    const message = (error as Error).message;
    expect(message).toMatch(
      /^\[po\/storage\] \[metadata\] \/srv\/po\/metadata\/deployed_config_version\.yaml is malformed/,
    );
    expect(message).toContain(problem);
    expect(message).toContain('`config.yaml: 1.1.0`');
  });

  it('a reader concurrent with many writes never sees a partial file', async () => {
    const dir = await tempFolder();
    await writeDeployPointer(dir, '1.0.0');
    const versions = ['1.0.0', '10.200.3000-rc.12345678'];
    let writing = true;
    const seen = new Set<string>();
    const reader = (async () => {
      while (writing) seen.add((await readDeployPointer(dir)) ?? 'missing');
    })();
    for (let i = 0; i < 300; i++) await writeDeployPointer(dir, versions[i % 2]!);
    writing = false;
    await reader;
    expect([...seen].sort()).toEqual([...versions].sort());
    expect((await readdir(dir)).filter((name) => name.includes('.po-tmp-'))).toEqual([]);
  });

  it('deploys a version that exists, locally and (fleet) in the store', async () => {
    const store = createLocalStore({ root: await tempFolder() });
    const dir = await tempFolder();
    await expect(deployVersion(store, '1.0.0', { metadataDir: dir })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await readDeployPointer(dir)).toBeUndefined();

    await uploadStrategy(store, '1.0.0', new TextEncoder().encode('a: 1\n'));
    expect(await readStoreDeployPointer(store)).toBeUndefined();
    await deployVersion(store, '1.0.0', { metadataDir: dir, fleet: true });
    expect(await readDeployPointer(dir)).toBe('1.0.0');
    expect(await readStoreDeployPointer(store)).toBe('1.0.0');
    expect(new TextDecoder().decode((await store.get(DEPLOY_POINTER_KEY)).body)).toBe('config.yaml: 1.0.0\n');
  });
});

describe('last-run timestamp', () => {
  it("reads and writes the predecessor's format", async () => {
    const dir = await tempFolder();
    expect(await readLastRunTimestamp(dir)).toBeUndefined();
    await writeFile(join(dir, 'last_run_timestamp.yaml'), "last_run_timestamp: '2024-06-04T21:33:53'\n");
    expect(await readLastRunTimestamp(dir)).toBe('2024-06-04T21:33:53');

    await writeLastRunTimestamp(dir, '2024-06-04T21:34:53');
    expect(await readFile(join(dir, 'last_run_timestamp.yaml'), 'utf8')).toBe(
      "last_run_timestamp: '2024-06-04T21:34:53'\n",
    );
    await writeLastRunTimestamp(dir, new Date('2024-06-04T21:35:53.789Z'));
    expect(await readLastRunTimestamp(dir)).toBe('2024-06-04T21:35:53');
  });

  it('refuses malformed timestamps', async () => {
    expect(() => parseLastRunTimestamp("last_run_timestamp: 'yesterday'", 'x.yaml')).toThrow(
      /x\.yaml is malformed: "yesterday" is not a date and time/,
    );
    expect(() => parseLastRunTimestamp("last_run_timestamp: '2024-13-45T99:00:00'")).toThrow(
      /INVALID|malformed/,
    );
    await expect(writeLastRunTimestamp(await tempFolder(), '2024-06-04')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
