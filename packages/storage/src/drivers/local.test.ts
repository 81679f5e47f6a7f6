import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testObjectStore } from '../conformance.ts';
import { StoreError } from '../errors.ts';
import { createLocalStore, DRIVER_NAME } from './local.ts';

const folders: string[] = [];
async function tempFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'po-local-store-'));
  folders.push(folder);
  return folder;
}
afterAll(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

let conformanceRoot: string | undefined;
testObjectStore({
  name: 'local (temp folder)',
  create: async () => createLocalStore({ root: (conformanceRoot ??= await tempFolder()) }),
});

async function files(folder: string): Promise<string[]> {
  return (await readdir(folder, { recursive: true })).map(String).sort();
}

describe('local store', () => {
  it('is laid out like the bucket, and files copied in by hand are objects', async () => {
    const root = await tempFolder();
    const store = createLocalStore({ root });
    expect(store.kind).toBe(DRIVER_NAME);
    await store.put('models/saved_models/x.onnx', new Uint8Array([1, 2, 3]));
    expect(await readFile(join(root, 'models/saved_models/x.onnx'))).toEqual(Buffer.from([1, 2, 3]));

    await mkdir(join(root, 'configs'), { recursive: true });
    await writeFile(join(root, 'configs/config-1.0.0.yaml'), 'variables: {}\n');
    const info = await store.stat('configs/config-1.0.0.yaml');
    // No sidecar: the ETag is the SHA-256 of the content.
    expect(info?.etag).toBe(createHash('sha256').update('variables: {}\n').digest('hex'));
    expect((await store.list('')).map((o) => o.key)).toEqual([
      'configs/config-1.0.0.yaml',
      'models/saved_models/x.onnx',
    ]);
  });

  it('notices a file edited by hand (the sidecar no longer matches)', async () => {
    const root = await tempFolder();
    const store = createLocalStore({ root });
    const first = await store.put('a.yaml', new TextEncoder().encode('one'), { metadata: { sha256: 'x' } });
    await writeFile(join(root, 'a.yaml'), 'two!');
    const info = await store.stat('a.yaml');
    expect(info?.etag).not.toBe(first.etag);
    expect(info?.metadata).toEqual({});
    const read = await store.getIfChanged('a.yaml', first.etag);
    expect(read.notModified).not.toBe(true);
  });

  it('refuses symbolic links that lead outside the folder', async () => {
    const root = await tempFolder();
    const outside = await tempFolder();
    await writeFile(join(outside, 'secret.txt'), 'secret');
    await symlink(join(outside, 'secret.txt'), join(root, 'leak.txt'));
    await symlink(outside, join(root, 'models'));
    const store = createLocalStore({ root });
    for (const call of [
      () => store.get('leak.txt'),
      () => store.stat('leak.txt'),
      () => store.get('models/secret.txt'),
      () => store.put('models/new.onnx', new Uint8Array([1])),
      () => store.put('models/deeper/new.onnx', new Uint8Array([1])),
      () => store.list('models/'),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: 'INVALID_KEY' });
    }
    expect(await files(outside)).toEqual(['secret.txt']);
    expect((await store.list('')).map((o) => o.key)).toEqual([]);
    // Deleting removes the link, never what it points to.
    await store.delete('leak.txt');
    expect(await files(outside)).toEqual(['secret.txt']);
  });

  it('follows links to files inside the folder', async () => {
    const root = await tempFolder();
    const store = createLocalStore({ root });
    await store.put('models/a.onnx', new Uint8Array([7]));
    await symlink(join(root, 'models/a.onnx'), join(root, 'models/b.onnx'));
    expect((await store.get('models/b.onnx')).body).toEqual(new Uint8Array([7]));
  });

  it('a write that fails between the temp file and the rename leaves nothing visible and no temp file', async () => {
    const root = await tempFolder();
    const store = createLocalStore({ root });
    // A folder where the object should go makes the rename fail after the temp file is written.
    await store.put('models/x.onnx/inner', new Uint8Array([1]));
    const error = await store.put('models/x.onnx', new Uint8Array(10_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'CONFLICT', key: 'models/x.onnx' });
    expect((error as Error).message).toMatch(/^\[po\/storage\] \[local\] Cannot write "models\/x.onnx" in /);
    expect((await store.list('models/')).map((o) => o.key)).toEqual(['models/x.onnx/inner']);
    expect((await files(join(root, 'models'))).filter((name) => name.includes('.po-tmp-'))).toEqual([]);
  });

  it('never lists the temp file of a crashed write, and removes stale ones', async () => {
    const root = await tempFolder();
    await mkdir(join(root, 'models'), { recursive: true });
    // What a process killed between writing the temp file and renaming it leaves behind.
    const stale = join(root, 'models/.po-tmp-0123456789abcdef');
    const fresh = join(root, 'models/.po-tmp-fedcba9876543210');
    await writeFile(stale, 'half a mod');
    await writeFile(fresh, 'a write in progress');
    const old = new Date(Date.now() - 60 * 60_000);
    await utimes(stale, old, old);

    const store = createLocalStore({ root });
    expect(await store.list('')).toEqual([]);
    expect(await store.list('models/')).toEqual([]);
    const names = await files(join(root, 'models'));
    expect(names).toEqual(['.po-tmp-fedcba9876543210']); // the stale one is gone, the young one kept
    await expect(store.get('models/.po-tmp-fedcba9876543210')).rejects.toMatchObject({ code: 'INVALID_KEY' });
  });

  it('removes folders left empty by a delete, so the key can become an object', async () => {
    const root = await tempFolder();
    const store = createLocalStore({ root });
    await store.put('a/b/c', new Uint8Array([1]));
    await store.delete('a/b/c');
    expect(await files(root)).toEqual([]);
    await store.put('a', new Uint8Array([2]));
    expect((await store.get('a')).body).toEqual(new Uint8Array([2]));
  });

  it('says when the folder is missing and must not be created', async () => {
    const root = join(await tempFolder(), 'absent');
    const store = createLocalStore({ root, create: false });
    const error = await store.list('').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NOT_FOUND' });
    expect((error as Error).message).toContain(root);
  });
});
