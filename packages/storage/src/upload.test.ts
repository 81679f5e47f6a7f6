import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3Server } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from './drivers/local.ts';
import { createS3Store } from './drivers/s3.ts';
import type { ObjectStore } from './types.ts';
import { type UploadProgress, uploadModels } from './upload.ts';

const folders: string[] = [];
async function tempFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'po-upload-'));
  folders.push(folder);
  return folder;
}
let server: TestS3Server;
beforeAll(async () => {
  server = await startS3rver({ buckets: ['po-upload-a', 'po-upload-b'] });
});
afterAll(async () => {
  await server?.dispose();
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

/** A models folder in the predecessor's layout. */
async function dataDir(): Promise<string> {
  const dir = await tempFolder();
  await mkdir(join(dir, 'saved_models'), { recursive: true });
  await mkdir(join(dir, 'saved_scalers/robust'), { recursive: true });
  await mkdir(join(dir, 'saved_metadata'), { recursive: true });
  await writeFile(
    join(dir, 'saved_models/4_Calciner_outlet_CO_ann_model_fold_2.onnx'),
    Buffer.alloc(6000, 1),
  );
  await writeFile(join(dir, 'saved_scalers/robust/CO.params.json'), '{"kind":"RobustScaler"}');
  await writeFile(join(dir, 'saved_metadata/CO_metadata.json'), '{}');
  await writeFile(join(dir, 'saved_models/.DS_Store'), 'x');
  await writeFile(join(dir, 'README.txt'), 'not uploaded');
  return dir;
}

const stores: [string, (bucket: string) => Promise<ObjectStore>][] = [
  ['local', async () => createLocalStore({ root: await tempFolder() })],
  [
    's3 (s3rver)',
    async (bucket) => createS3Store({ endpoint: server.endpoint, bucket, ...S3RVER_CREDENTIALS }),
  ],
];

describe.each(stores)('uploadModels (%s)', (_name, create) => {
  it('uploads the three folders under models/, then skips unchanged files by checksum', async () => {
    const store = await create('po-upload-a');
    const dir = await dataDir();
    const events: UploadProgress[] = [];
    const first = await uploadModels(store, dir, { onProgress: (event) => events.push(event) });
    expect(first.files.map((f) => [f.key, f.status])).toEqual([
      ['models/saved_metadata/CO_metadata.json', 'uploaded'],
      ['models/saved_models/4_Calciner_outlet_CO_ann_model_fold_2.onnx', 'uploaded'],
      ['models/saved_scalers/robust/CO.params.json', 'uploaded'],
    ]);
    expect(events.map((e) => [e.done, e.total])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(events.at(-1)?.bytesDone).toBe(events.at(-1)?.bytesTotal);
    expect((await store.stat('models/saved_metadata/CO_metadata.json'))?.metadata?.sha256).toBe(
      first.files[0]?.sha256,
    );

    const again = await uploadModels(store, dir);
    expect([again.uploaded, again.skipped]).toEqual([0, 3]);

    await writeFile(join(dir, 'saved_metadata/CO_metadata.json'), '{"inputs":[]}');
    const changed = await uploadModels(store, dir);
    expect(changed.files.map((f) => f.status)).toEqual(['uploaded', 'skipped', 'skipped']);
    await store.close?.();
  });

  it('skips files already there without sha256 metadata when the content is the same', async () => {
    const store = await create('po-upload-b');
    const dir = await dataDir();
    await store.put('models/saved_metadata/CO_metadata.json', new TextEncoder().encode('{}'));
    await store.put(
      'models/saved_scalers/robust/CO.params.json',
      new TextEncoder().encode('{"kind":"Other!!!"}'),
    );
    const result = await uploadModels(store, dir);
    expect(result.files.map((f) => f.status)).toEqual(['skipped', 'uploaded', 'uploaded']);
    await store.close?.();
  });
});

describe('uploadModels', () => {
  it('also finds the folders under dataDir/models, and says when there are none', async () => {
    const root = await tempFolder();
    const store = createLocalStore({ root: join(root, 'store') });
    await expect(uploadModels(store, root)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await mkdir(join(root, 'models/saved_models'), { recursive: true });
    await writeFile(join(root, 'models/saved_models/a.onnx'), 'a');
    const result = await uploadModels(store, root);
    expect(result.folder).toBe(join(root, 'models'));
    expect(result.files.map((f) => f.key)).toEqual(['models/saved_models/a.onnx']);
  });
});

describe('uploadModels and symbolic links', () => {
  it('treats a linked top-level folder like a linked file: not followed, nothing uploaded from outside dataDir', async () => {
    const outside = await tempFolder();
    await writeFile(join(outside, 'secret.onnx'), 'from outside');
    const root = await tempFolder();
    const store = createLocalStore({ root: join(root, 'store') });
    const data = join(root, 'data');
    await mkdir(join(data, 'saved_scalers'), { recursive: true });
    await writeFile(join(data, 'saved_scalers/a.json'), '{}');
    await symlink(join(outside, 'secret.onnx'), join(data, 'saved_scalers/linked.onnx'));
    await symlink(outside, join(data, 'saved_models'));
    const result = await uploadModels(store, data);
    expect(result.files.map((f) => f.key)).toEqual(['models/saved_scalers/a.json']);

    // Only linked folders: refused, naming the link.
    const linkedOnly = await tempFolder();
    await symlink(outside, join(linkedOnly, 'saved_models'));
    await expect(uploadModels(store, linkedOnly)).rejects.toThrow(
      `symbolic links are not followed: "${join(linkedOnly, 'saved_models')}"`,
    );
    const linkedModels = await tempFolder();
    await symlink(data, join(linkedModels, 'models'));
    await expect(uploadModels(store, linkedModels)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.list('models/saved_models/')).toEqual([]);
  });
});
