import { describe, expect, it } from 'vitest';
import {
  describeError,
  errorCode,
  gaussian,
  isPoError,
  isUnreachable,
  ModelLoadError,
  mulberry32,
  PoError,
} from './index.ts';

class StoreError extends PoError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super('storage', code, message, options);
  }
}
class NotFound extends StoreError {
  constructor(key: string) {
    super('NOT_FOUND', `'${key}' does not exist. Upload it first.`);
  }
}

describe('PoError', () => {
  it('prefixes the message with its scope once, keeps the bare text as detail, names the subclass', () => {
    const e = new NotFound('configs/config-1.0.0.yaml');
    expect(e.message).toBe("[po/storage] 'configs/config-1.0.0.yaml' does not exist. Upload it first.");
    expect(e.detail).toBe("'configs/config-1.0.0.yaml' does not exist. Upload it first.");
    expect(e.name).toBe('NotFound');
    expect(e.code).toBe('NOT_FOUND');
    expect(e.scope).toBe('storage');
    expect(new StoreError('X', '[po/storage] already prefixed').message).toBe(
      '[po/storage] already prefixed',
    );
  });

  it('keeps the cause', () => {
    const cause = new Error('socket hang up');
    expect(new StoreError('UNREACHABLE', 'down', { cause }).cause).toBe(cause);
    expect('cause' in new StoreError('UNREACHABLE', 'down')).toBe(false);
  });

  it('instanceof works down the hierarchy and not across siblings', () => {
    const e = new NotFound('k');
    expect(e).toBeInstanceOf(PoError);
    expect(e).toBeInstanceOf(StoreError);
    expect(e).toBeInstanceOf(Error);
    expect(new StoreError('X', 'y')).not.toBeInstanceOf(NotFound);
    expect(new Error('plain')).not.toBeInstanceOf(PoError);
    expect((null as unknown as object) instanceof PoError).toBe(false);
  });

  it('recognises a PoError from another copy of the package by its brand', () => {
    const foreign = Object.create({ [Symbol.for('po.error')]: true }) as object;
    expect(foreign instanceof PoError).toBe(true);
  });

  it('isPoError filters by code and scope', () => {
    const e = new NotFound('k');
    expect(isPoError(e)).toBe(true);
    expect(isPoError(e, 'NOT_FOUND')).toBe(true);
    expect(isPoError(e, 'NOT_FOUND', 'db')).toBe(false);
    expect(isPoError(e, 'CLOSED')).toBe(false);
    expect(isPoError(new Error('x'))).toBe(false);
  });
});

describe('describeError', () => {
  it('words PoErrors, other errors and other values', () => {
    const e = new StoreError('X', 'first line\n  - second');
    expect(describeError(e)).toBe('[po/storage] first line\n  - second');
    expect(describeError(e, { scope: false })).toBe('first line\n  - second');
    expect(describeError(e, { oneLine: true })).toBe('[po/storage] first line - second');
    expect(describeError(new TypeError('bad'))).toBe('bad');
    expect(describeError(new Error(''))).toBe('Error');
    expect(describeError(42)).toBe('42');
  });
});

describe('errorCode and isUnreachable', () => {
  it('read codes of po errors and system errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(errorCode(refused)).toBe('ECONNREFUSED');
    expect(errorCode(new StoreError('UNREACHABLE', 'x'))).toBe('UNREACHABLE');
    expect(errorCode('text')).toBeUndefined();
    expect(isUnreachable(refused)).toBe(true);
    expect(isUnreachable(new StoreError('UNREACHABLE', 'x'))).toBe(true);
    expect(isUnreachable(new NotFound('k'))).toBe(false);
  });
});

describe('random', () => {
  it('mulberry32 repeats its sequence for a seed and stays in [0, 1)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(mulberry32(8)()).not.toBe(xs[0]);
  });

  it('gaussian draws are clipped, centred and of unit spread', () => {
    const draw = gaussian(mulberry32(1), 3);
    const zs = Array.from({ length: 20000 }, draw);
    const mean = zs.reduce((s, z) => s + z, 0) / zs.length;
    const sd = Math.sqrt(zs.reduce((s, z) => s + (z - mean) ** 2, 0) / zs.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
    expect(Math.max(...zs.map(Math.abs))).toBeLessThanOrEqual(3);
  });
});

describe('ModelLoadError', () => {
  it('names the skill, the file and the fix', () => {
    const e = new ModelLoadError({
      skill: 'kiln_current_model',
      role: 'scaler',
      path: 'saved_scalers/x.pkl',
      problem: 'the file does not exist',
      fix: 'Upload it with po upload-models.',
      code: 'FILE_NOT_FOUND',
    });
    expect(e.message).toBe(
      "[po/models] Skill 'kiln_current_model': scaler file 'saved_scalers/x.pkl': the file does not exist. Upload it with po upload-models.",
    );
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e).toBeInstanceOf(PoError);
    const wrapped = new ModelLoadError({ skill: 's', problem: 'no runtime', scope: 'rto-engine' });
    expect(wrapped.message).toBe("[po/rto-engine] Skill 's': no runtime.");
    expect(wrapped.code).toBe('MODEL_LOAD_FAILED');
  });
});
