import { describe, expect, it } from 'vitest';
import { StoreError } from './errors.ts';
import { modelKey, validateKey, validatePrefix } from './keys.ts';

function refusal(run: () => unknown): StoreError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  }
  throw new Error('expected a refusal');
}

describe('validateKey', () => {
  it('accepts the bucket layout', () => {
    for (const key of [
      'configs/config-1.1.0.yaml',
      'models/saved_models/4_Calciner_outlet_CO_ann_model_fold_2.onnx',
      'metadata/deployed_config_version.yaml',
      'a..b/c.d',
      'x'.repeat(240),
    ]) {
      expect(validateKey(key)).toBe(key);
    }
  });

  it.each([
    ['../../etc/passwd', "'..' segments"],
    ['models/../x', "'..' segments"],
    ['./x', "'.' segments"],
    ['/abs', 'absolute'],
    ['C:/x', 'drive letters'],
    ['a\\b', 'backslash'],
    ['a//b', 'empty segment'],
    ['a/', 'empty segment'],
    ['a\0b', 'NUL'],
    ['a\nb', 'control character'],
    ['', 'empty'],
    ['models/.po-tmp-1', 'reserved'],
    ['x'.repeat(1025), 'longer than 1024 bytes'],
    [`a/${'é'.repeat(121)}`, 'longer than 240 bytes'],
  ])('refuses %j (%s) with INVALID_KEY naming the key', (key, reason) => {
    const error = refusal(() => validateKey(key, 'local'));
    expect(error.code).toBe('INVALID_KEY');
    expect(error.key).toBe(key);
    expect(error.message).toMatch(/^\[po\/storage\] \[local\] Invalid key /);
    expect(error.message).toContain(reason);
    expect(error.message).toContain('Use a relative key');
  });

  it('checks list prefixes the same way, allowing a trailing slash and a partial name', () => {
    expect(validatePrefix('')).toBe('');
    expect(validatePrefix('models/')).toBe('models/');
    expect(validatePrefix('configs/config-')).toBe('configs/config-');
    for (const prefix of ['../', '/x', 'a//b', 'a\\', '..', 'models/..']) {
      expect(refusal(() => validatePrefix(prefix)).code).toBe('INVALID_KEY');
    }
  });
});

describe('modelKey (the predecessor rule for strategy model paths)', () => {
  it('prepends models/ and drops leading ../ segments', () => {
    expect(modelKey('saved_models/x.pth')).toBe('models/saved_models/x.pth');
    expect(modelKey('../../etc/passwd')).toBe('models/etc/passwd');
    expect(modelKey('../saved_scalers/s.pkl')).toBe('models/saved_scalers/s.pkl');
  });

  it('refuses .. anywhere else, absolute paths and backslashes', () => {
    for (const path of ['saved_models/../../x', '/etc/passwd', 'saved_models\\x.pth', '..', 'a/../b']) {
      expect(refusal(() => modelKey(path)).code).toBe('INVALID_KEY');
    }
  });
});
