import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  dict,
  float,
  global,
  int64Scalar,
  namesArray,
  ndarray,
  ndarray5,
  pickle,
  reduce,
  sklearnScaler,
  tuple,
} from '../../test/pickle-writer.ts';
import { parseScalerFile } from '../scalers.ts';
import { ModelImportError } from './errors.ts';
import { importScalerPickle } from './scalers-pickle.ts';

const SCALERS = fileURLToPath(new URL('../../test/fixtures/compat/models/saved_scalers/', import.meta.url));

function importError(data: Uint8Array, file = 'saved_scalers/x.pkl'): ModelImportError {
  try {
    importScalerPickle(data, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    expect((e as Error).message).toContain(`File '${file}'`);
    return e as ModelImportError;
  }
  throw new Error('expected a refusal');
}

describe('importScalerPickle: the compat .pkl files', () => {
  const files = readdirSync(SCALERS).filter((f) => f.endsWith('.pkl'));
  it('has the three compat scaler files', () => expect(files).toHaveLength(3));

  for (const name of files) {
    it(`${name}: every parameter bit-exact against its .params.json`, () => {
      const converted = importScalerPickle(readFileSync(SCALERS + name), `saved_scalers/${name}`);
      const params = JSON.parse(readFileSync(SCALERS + name.replace(/\.pkl$/, '.params.json'), 'utf8')) as {
        scalers: Record<string, Record<string, unknown>>;
      };
      expect(Object.keys(converted.scalers)).toEqual(Object.keys(params.scalers));
      for (const [key, expected] of Object.entries(params.scalers)) {
        const entry = converted.scalers[key]!;
        expect(entry.sklearn_class).toBe(expected.kind);
        for (const [field, value] of Object.entries(expected)) {
          if (field === 'kind' || field === 'transform' || field === 'inverse_transform') continue;
          // toEqual on numbers is Object.is: bit-exact float64.
          expect(entry[field], `${key}.${field}`).toEqual(value);
        }
      }
      // One code path: the engine's JSON parser accepts the result as it is.
      const set = parseScalerFile(converted, `saved_scalers/${name}`);
      const json = parseScalerFile(readFileSync(SCALERS + name.replace(/\.pkl$/, '.params.json')), 'p');
      for (const [key, scaler] of set.scalers) {
        for (const x of [-3.5, 0, 0.1, 42]) {
          expect(scaler.transform(x)).toBe(json.scalers.get(key)!.transform(x));
          expect(scaler.inverseTransform(x)).toBe(json.scalers.get(key)!.inverseTransform(x));
        }
      }
    });
  }
});

const standardState = (v: 1 | 2 = 1): [string, import('../../test/pickle-writer.ts').PV][] => [
  ['with_mean', true],
  ['with_std', true],
  ['copy', true],
  ['feature_names_in_', namesArray(['PH_Fan_Speed_PV'], v)],
  ['n_features_in_', 1],
  ['n_samples_seen_', int64Scalar(3000, v)],
  ['mean_', ndarray([0.125], { v })],
  ['var_', ndarray([132.25], { v })],
  ['scale_', ndarray([11.5], { v })],
  ['_sklearn_version', '1.2.1'],
];

const maxAbsState: [string, import('../../test/pickle-writer.ts').PV][] = [
  ['copy', true],
  ['n_features_in_', 1],
  ['n_samples_seen_', 3000],
  ['max_abs_', ndarray([60])],
  ['scale_', ndarray([60])],
  ['_sklearn_version', '1.2.1'],
];

describe('importScalerPickle: scaler kinds, numpy versions, protocols', () => {
  it('StandardScaler and MaxAbsScaler (protocol 4, numpy 1.x names)', () => {
    const data = pickle(
      dict([
        ['PH_Fan_Speed_PV', sklearnScaler('StandardScaler', standardState())],
        ['Kiln_Drive_Current', sklearnScaler('MaxAbsScaler', maxAbsState)],
      ]),
    );
    const converted = importScalerPickle(data, 'saved_scalers/mixed.pkl');
    expect(converted.scalers.PH_Fan_Speed_PV).toMatchObject({
      kind: 'standard',
      mean_: [0.125],
      var_: [132.25],
      scale_: [11.5],
      n_samples_seen_: 3000,
      feature_names_in_: ['PH_Fan_Speed_PV'],
    });
    expect(converted.scalers.Kiln_Drive_Current).toMatchObject({
      kind: 'maxabs',
      max_abs_: [60],
      scale_: [60],
    });
    const set = parseScalerFile(converted, 'mixed');
    expect(set.scalers.get('PH_Fan_Speed_PV')!.transform(23.125)).toBe((23.125 - 0.125) / 11.5);
    expect(set.scalers.get('Kiln_Drive_Current')!.inverseTransform(0.5)).toBe(30);
  });

  it('numpy 2.x module names (numpy._core.*)', () => {
    const data = pickle(dict([['PH_Fan_Speed_PV', sklearnScaler('StandardScaler', standardState(2))]]));
    expect(new TextDecoder('latin1').decode(data)).toContain('numpy._core.multiarray');
    expect(importScalerPickle(data, 'np2.pkl').scalers.PH_Fan_Speed_PV!.mean_).toEqual([0.125]);
  });

  it('protocol 2 (GLOBAL opcodes, bytes via _codecs.encode) and copyreg._reconstructor', () => {
    const data = pickle(
      dict([
        ['a', sklearnScaler('MaxAbsScaler', maxAbsState, { reconstructor: true })],
        ['b', sklearnScaler('StandardScaler', standardState())],
      ]),
      2,
    );
    const text = new TextDecoder('latin1').decode(data);
    expect(text).toContain('_codecs\nencode');
    expect(text).toContain('copyreg\n_reconstructor');
    const converted = importScalerPickle(data, 'p2.pkl');
    expect(converted.scalers.a!.scale_).toEqual([60]);
    expect(converted.scalers.b!.scale_).toEqual([11.5]);
  });

  it('protocol 5 arrays (numpy _frombuffer over a BYTEARRAY8)', () => {
    const data = pickle(
      dict([
        [
          'x',
          sklearnScaler('RobustScaler', [
            ['with_centering', true],
            ['with_scaling', true],
            ['quantile_range', tuple(float(25), float(75))],
            ['center_', ndarray5([0.25])],
            ['scale_', ndarray5([4])],
          ]),
        ],
      ]),
      5,
    );
    expect(importScalerPickle(data, 'p5.pkl').scalers.x).toMatchObject({
      center_: [0.25],
      scale_: [4],
      quantile_range: [25, 75],
    });
  });

  it('a __proto__ variable key is a plain entry and pollutes nothing', () => {
    const data = pickle(dict([['__proto__', sklearnScaler('MaxAbsScaler', maxAbsState)]]));
    const converted = importScalerPickle(data, 'proto.pkl');
    expect(Object.keys(converted.scalers)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(converted.scalers)).toBeNull();
    expect(({} as Record<string, unknown>).kind).toBeUndefined();
    const roundTrip = JSON.parse(JSON.stringify(converted)) as { scalers: object };
    expect(Object.getOwnPropertyDescriptor(roundTrip.scalers, '__proto__')?.value.kind).toBe('maxabs');
  });

  it('refuses any other class, named (and says nothing ran)', () => {
    const data = pickle(dict([['x', sklearnScaler('QuantileTransformer', [])]]));
    const error = importError(data);
    expect(error.problemKind).toBe('REFUSED_GLOBAL');
    expect(error.global).toBe('sklearn.preprocessing._data.QuantileTransformer');
    const pandas = importError(
      pickle(dict([['x', reduce(global('pandas.core.frame', 'DataFrame'), tuple())]])),
    );
    expect(pandas.global).toBe('pandas.core.frame.DataFrame');
  });

  it('refuses multi-column scalers, a bare scaler, non-string keys and non-numeric parameters', () => {
    expect(
      importError(
        pickle(
          dict([
            [
              'x',
              sklearnScaler('MaxAbsScaler', [
                ['n_features_in_', 2],
                ['scale_', ndarray([1, 2])],
              ]),
            ],
          ]),
        ),
      ).message,
    ).toContain('fitted on 2 columns');
    expect(
      importError(pickle(dict([['x', sklearnScaler('MaxAbsScaler', [['scale_', ndarray([1, 2])]])]])))
        .message,
    ).toContain('has 2 values');
    expect(importError(pickle(sklearnScaler('MaxAbsScaler', maxAbsState))).message).toContain(
      'holds one MaxAbsScaler, not a dict',
    );
    expect(importError(pickle(dict([[1, sklearnScaler('MaxAbsScaler', maxAbsState)]]))).message).toContain(
      'not a variable name',
    );
    expect(
      importError(pickle(dict([['x', sklearnScaler('MaxAbsScaler', [['scale_', 'big']])]]))).message,
    ).toContain('not numbers');
    expect(importError(pickle([1, 2])).problemKind).toBe('UNSUPPORTED_SCALER');
  });

  it('recognises joblib files: compressed headers and NumpyArrayWrapper', () => {
    const zlib = new Uint8Array([0x78, 0x9c, 0x6b, 0x60]);
    const error = importError(zlib);
    expect(error.problemKind).toBe('JOBLIB');
    expect(error.message).toContain('this is a joblib file');
    expect(error.message).toContain('pickle.dump');
    for (const magic of [
      [0x1f, 0x8b, 8],
      [0x42, 0x5a, 0x68],
      [0x5a, 0x46, 0x30],
    ]) {
      expect(importError(new Uint8Array(magic)).problemKind).toBe('JOBLIB');
    }
    const wrapped = pickle(
      dict([['x', reduce(global('joblib.numpy_pickle', 'NumpyArrayWrapper'), tuple())]]),
    );
    const inner = importError(wrapped);
    expect(inner.problemKind).toBe('JOBLIB');
    expect(inner.global).toBe('joblib.numpy_pickle.NumpyArrayWrapper');
    expect(importError(new Uint8Array([0x50, 0x4b, 3, 4])).message).toContain('zip archive');
  });

  it('names the file of a truncated scaler pickle', () => {
    const data = readFileSync(`${SCALERS}Kiln_Drive_Current_minmax_scalers.pkl`);
    const error = importError(data.subarray(0, data.length - 40), 'saved_scalers/cut.pkl');
    expect(error.problemKind).toBe('TRUNCATED');
  });
});
