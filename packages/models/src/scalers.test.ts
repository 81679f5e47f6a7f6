import { describe, expect, it } from 'vitest';
import { ScalerFormatError } from './errors.ts';
import { parseScalerFile, scalerKey } from './scalers.ts';

function one(entry: Record<string, unknown>) {
  const set = parseScalerFile({ scalers: { v: entry } }, 'mem.json');
  return set.scalers.get('v')!;
}

function formatError(source: object | string, key?: string): ScalerFormatError {
  try {
    parseScalerFile(source, 'bad.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ScalerFormatError);
    const e = error as ScalerFormatError;
    expect(e.code).toBe('INVALID_SCALER');
    expect(e.message).toMatch(/^\[po\/models\] Scaler file 'bad\.json'/);
    expect(e.key).toBe(key);
    return e;
  }
  throw new Error('expected a ScalerFormatError');
}

describe('scalerKey', () => {
  it('removes every occurrence of delta_ like the predecessor', () => {
    expect(scalerKey('delta_Kiln_Coal_PV')).toBe('Kiln_Coal_PV');
    expect(scalerKey('delta_x_delta_y')).toBe('x_y');
    expect(scalerKey('Kiln_Coal_PV')).toBe('Kiln_Coal_PV');
  });
});

describe('parseScalerFile', () => {
  const x = 3.7;
  it('applies minmax in scikit-learn order', () => {
    const s = one({ kind: 'MinMaxScaler', min_: [0.25], scale_: [0.125], clip: false });
    expect(s.kind).toBe('minmax');
    expect(s.transform(x)).toBe(x * 0.125 + 0.25);
    expect(s.inverseTransform(0.6)).toBe((0.6 - 0.25) / 0.125);
  });

  it('applies robust with and without centering/scaling', () => {
    const s = one({ kind: 'RobustScaler', center_: [0.1], scale_: [0.3] });
    expect(s.transform(x)).toBe((x - 0.1) / 0.3);
    expect(s.inverseTransform(0.6)).toBe(0.6 * 0.3 + 0.1);
    const noCenter = one({ kind: 'robust', with_centering: false, center_: null, scale_: 0.3 });
    expect(noCenter.transform(x)).toBe(x / 0.3);
    const noScale = one({ kind: 'robust', with_scaling: false, center_: 0.1 });
    expect(noScale.transform(x)).toBe(x - 0.1);
    expect(noScale.inverseTransform(0.6)).toBe(0.6 + 0.1);
  });

  it('applies standard with the with_mean/with_std flags', () => {
    const s = one({ kind: 'StandardScaler', mean_: [2], scale_: [3] });
    expect(s.transform(x)).toBe((x - 2) / 3);
    expect(s.inverseTransform(0.6)).toBe(0.6 * 3 + 2);
    expect(one({ kind: 'standard', with_mean: false, scale_: [3] }).transform(x)).toBe(x / 3);
    expect(one({ kind: 'standard', with_std: false, mean_: [2] }).transform(x)).toBe(x - 2);
  });

  it('applies maxabs', () => {
    const s = one({ kind: 'MaxAbsScaler', scale_: [4] });
    expect(s.transform(x)).toBe(x / 4);
    expect(s.inverseTransform(0.6)).toBe(0.6 * 4);
  });

  it('accepts lower-case kinds, plain numbers and extra fields', () => {
    const s = one({
      kind: 'minmax',
      min_: 0.5,
      scale_: 2,
      feature_names_in_: ['v'],
      transform: 'x * scale_ + min_',
    });
    expect(s.transform(1)).toBe(2.5);
  });

  it('names the key of a bad entry', () => {
    expect(
      formatError({ scalers: { a: { kind: 'minmax', min_: [0], scale_: [1] }, b: { kind: 'zscore' } } }, 'b')
        .message,
    ).toContain("scalers.b.kind 'zscore' is not supported");
    expect(formatError({ scalers: { c: { kind: 'minmax', min_: [0] } } }, 'c').message).toContain(
      'scalers.c.scale_ is missing',
    );
    expect(
      formatError({ scalers: { d: { kind: 'robust', center_: [0], scale_: [0] } } }, 'd').message,
    ).toContain('is 0');
    expect(
      formatError({ scalers: { e: { kind: 'minmax', min_: [0, 1], scale_: [1] } } }, 'e').message,
    ).toContain('scalers.e.min_');
    expect(
      formatError({ scalers: { f: { kind: 'minmax', min_: [0], scale_: [1], clip: true } } }, 'f').message,
    ).toContain('clip');
    expect(formatError({ scalers: { g: 3 } }, 'g').message).toContain('scalers.g');
    expect(
      formatError({ scalers: { h: { kind: 'maxabs', scale_: [1], n_features_in_: 2 } } }, 'h').message,
    ).toContain('single-column');
  });

  it('reports a file without scalers or not JSON', () => {
    expect(formatError({ model: 'x' }).message).toContain('scalers');
    expect(formatError('{').message).toContain('not valid UTF-8 JSON');
    expect(formatError(new Uint8Array([0xff, 0xfe, 0x00])).message).toContain('not valid UTF-8 JSON');
  });
});
