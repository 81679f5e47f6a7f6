import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFileError } from './errors.ts';
import { localModelFiles, normalizeModelPath } from './paths.ts';

describe('normalizeModelPath', () => {
  it('drops leading ../ segments, as the store key does', () => {
    expect(normalizeModelPath('saved_models/x.onnx')).toBe('saved_models/x.onnx');
    expect(normalizeModelPath('../saved_models/x.onnx')).toBe('saved_models/x.onnx');
    expect(normalizeModelPath('../../etc/passwd')).toBe('etc/passwd');
  });

  // The store's key rule (@po/storage modelKey): what the bucket refuses, the folder refuses too.
  it.each([
    ['/etc/passwd', 'leading, trailing or double slash'],
    ['C:/models/x.onnx', 'drive letter'],
    ['saved_models/../x.onnx', "'..'"],
    ['../..', "'..'"],
    ['saved_models\\x.onnx', 'backslash'],
    ['x\0y', 'NUL'],
    ['', 'empty segment'],
    ['../', 'empty segment'],
    ['./saved_models//x.onnx', "'.' segments"],
    ['saved_models//x.onnx', 'empty segment'],
  ])('refuses %j (%s)', (path, reason) => {
    let error: unknown;
    try {
      normalizeModelPath(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as ModelFileError).code).toBe('UNSAFE_PATH');
    expect((error as ModelFileError).message).toContain(reason);
  });
});

describe('localModelFiles', () => {
  let dir: string;
  let outside: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'po-models-'));
    outside = await mkdtemp(join(tmpdir(), 'po-outside-'));
    await mkdir(join(dir, 'models', 'saved_models'), { recursive: true });
    await mkdir(join(dir, 'saved_scalers'), { recursive: true });
    await writeFile(join(dir, 'models', 'saved_models', 'a.onnx'), 'bucket layout');
    await writeFile(join(dir, 'saved_scalers', 's.json'), 'flat layout');
    await writeFile(join(outside, 'secret'), 'secret');
    await symlink(join(outside, 'secret'), join(dir, 'models', 'saved_models', 'link.onnx'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  it('reads <dir>/models/<path> first, then <dir>/<path>', async () => {
    const read = localModelFiles(dir);
    expect(text(await read('saved_models/a.onnx'))).toBe('bucket layout');
    expect(text(await read('../saved_models/a.onnx'))).toBe('bucket layout');
    expect(text(await read('saved_scalers/s.json'))).toBe('flat layout');
  });

  it('says where it looked when a file is missing', async () => {
    const error = (await localModelFiles(dir)('saved_models/none.onnx').catch(
      (e: unknown) => e,
    )) as ModelFileError;
    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain(join(dir, 'models', 'saved_models', 'none.onnx'));
    expect(error.message).toContain(join(dir, 'saved_models', 'none.onnx'));
  });

  it('does not follow a symbolic link out of the folder', async () => {
    const error = (await localModelFiles(dir)('saved_models/link.onnx').catch(
      (e: unknown) => e,
    )) as ModelFileError;
    expect(error.code).toBe('UNSAFE_PATH');
  });
});
