/**
 * The predecessor's `.pkl` scaler files (a pickled dict of fitted scikit-learn scalers
 * keyed by variable name) read with the restricted pickle reader and turned into po's
 * JSON scaler format, so that one code path (`parseScalerFile`) scales everything.
 */
import { detectForeignPickle, joblibRefusal } from './detect.ts';
import { ModelImportError } from './errors.ts';
import { NUMPY_GLOBALS, NumpyArray } from './numpy.ts';
import { readPickle } from './pickle.ts';
import type { PickleLimits } from './pickle-machine.ts';
import {
  describePickleValue,
  isTuple,
  type PickleGlobal,
  PickleGlobalRef,
  type PickleGlobals,
  SET_STATE,
} from './pickle-values.ts';

/** The scikit-learn scalers po reads. */
export type SklearnScalerClass = 'MinMaxScaler' | 'StandardScaler' | 'RobustScaler' | 'MaxAbsScaler';

const KINDS: Record<SklearnScalerClass, 'minmax' | 'standard' | 'robust' | 'maxabs'> = {
  MinMaxScaler: 'minmax',
  StandardScaler: 'standard',
  RobustScaler: 'robust',
  MaxAbsScaler: 'maxabs',
};

/** A scikit-learn estimator rebuilt as data: its class and its `__dict__` (BUILD state). */
export class SklearnObject {
  state: ReadonlyMap<unknown, unknown> = new Map();

  constructor(readonly className: SklearnScalerClass) {}

  [SET_STATE](state: unknown): void {
    if (!(state instanceof Map)) throw new Error(`${this.className} state is not a dict`);
    this.state = state;
  }
}

/** `builtins.object`: understood only as the base class argument of `copyreg._reconstructor`. */
const objectBase: PickleGlobal = {};

function scalerClass(className: SklearnScalerClass): PickleGlobal {
  return {
    construct(args) {
      if (args.length !== 0) throw new Error(`${className}.__new__ takes no arguments`);
      return new SklearnObject(className);
    },
  };
}

const reconstructor: PickleGlobal = {
  // copyreg._reconstructor(cls, object, None): protocol 0/1 style instance creation.
  call(args) {
    const [cls, base, state] = args;
    if (
      !(cls instanceof PickleGlobalRef) ||
      !(base instanceof PickleGlobalRef) ||
      base.handler !== objectBase ||
      state !== null
    ) {
      throw new Error('_reconstructor takes (scaler class, object, None)');
    }
    const construct = cls.handler.construct;
    if (construct === undefined) throw new Error(`_reconstructor cannot build ${cls.qualifiedName}`);
    return construct.call(cls.handler, [], undefined);
  },
};

const codecsEncode: PickleGlobal = {
  // _codecs.encode(str, 'latin1'): how protocol 2 stores bytes (numpy array data).
  call(args) {
    const [text, encoding] = args;
    if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
      throw new Error("_codecs.encode is understood with (str, 'latin1') only");
    }
    return Uint8Array.from(text, (c) => {
      const code = c.charCodeAt(0);
      if (code > 0xff) throw new Error('a latin1 string holds a character beyond U+00FF');
      return code;
    });
  },
};

const SKLEARN_MODULES = ['sklearn.preprocessing._data', 'sklearn.preprocessing.data'];

/** The allow-list of scaler pickles: four scikit-learn scalers, numpy arrays, and how they are built. */
export const SCALER_PICKLE_GLOBALS: PickleGlobals = {
  ...Object.fromEntries(
    SKLEARN_MODULES.flatMap((module) =>
      (Object.keys(KINDS) as SklearnScalerClass[]).map((name) => [`${module}.${name}`, scalerClass(name)]),
    ),
  ),
  ...NUMPY_GLOBALS,
  'copyreg._reconstructor': reconstructor,
  'copy_reg._reconstructor': reconstructor,
  'builtins.object': objectBase,
  '__builtin__.object': objectBase,
  '_codecs.encode': codecsEncode,
};

/** One scaler in po's JSON scaler format (what `parseScalerFile` reads). */
export interface PoScalerEntry {
  kind: 'minmax' | 'standard' | 'robust' | 'maxabs';
  /** The scikit-learn class it was read from. */
  sklearn_class: SklearnScalerClass;
  [parameter: string]: unknown;
}

/** A po JSON scaler file. */
export interface PoScalerFile {
  format: 'po-scalers/1';
  /** The `.pkl` file it was converted from. */
  source: string;
  lookup: string;
  /** Scalers by variable key. A null-prototype object: a key such as `__proto__` is a plain entry. */
  scalers: Record<string, PoScalerEntry>;
}

const NUMERIC = [
  'data_min_',
  'data_max_',
  'data_range_',
  'min_',
  'scale_',
  'center_',
  'mean_',
  'var_',
  'max_abs_',
] as const;
const FLAGS = ['clip', 'with_centering', 'with_scaling', 'unit_variance', 'with_mean', 'with_std'] as const;

/**
 * Reads a pickled dict of scikit-learn scalers (MinMaxScaler, StandardScaler,
 * RobustScaler, MaxAbsScaler; numpy 1.x or 2.x arrays) and returns po's JSON scaler
 * format. Executes nothing: any other class is refused, named. A joblib file is
 * recognised and refused with the command that converts it.
 * Throws `ModelImportError` naming `file`.
 */
export function importScalerPickle(
  bytes: Uint8Array,
  file: string,
  options?: { limits?: PickleLimits },
): PoScalerFile {
  const foreign = detectForeignPickle(bytes, file);
  if (foreign !== undefined) throw foreign;
  const value = readPickle(bytes, {
    file,
    globals: SCALER_PICKLE_GLOBALS,
    refusalHint: (name) => joblibRefusal(name, file),
    limits: options?.limits,
  });
  const unsupported = (problem: string) =>
    new ModelImportError(
      'UNSUPPORTED_SCALER',
      file,
      problem,
      'po reads a dict mapping each variable name to a single-column MinMaxScaler, StandardScaler, ' +
        'RobustScaler or MaxAbsScaler; write that, or a po JSON scaler file.',
    );
  if (value instanceof SklearnObject) {
    throw unsupported(`the file holds one ${value.className}, not a dict of scalers keyed by variable name`);
  }
  if (!(value instanceof Map)) {
    throw unsupported(`the file holds a ${describePickleValue(value)}, not a dict of scalers`);
  }
  const scalers = Object.create(null) as Record<string, PoScalerEntry>;
  for (const [key, scaler] of value) {
    if (typeof key !== 'string')
      throw unsupported(`a key is a ${describePickleValue(key)}, not a variable name`);
    if (!(scaler instanceof SklearnObject)) {
      throw unsupported(`'${key}' is a ${describePickleValue(scaler)}, not a scikit-learn scaler`);
    }
    Object.defineProperty(scalers, key, {
      value: scalerEntry(key, scaler, unsupported),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return {
    format: 'po-scalers/1',
    source: file,
    lookup: "scaler_id = variable_name.replaceAll('delta_', '')",
    scalers,
  };
}

function scalerEntry(
  key: string,
  scaler: SklearnObject,
  unsupported: (problem: string) => ModelImportError,
): PoScalerEntry {
  const state = scaler.state;
  const entry: PoScalerEntry = { kind: KINDS[scaler.className], sklearn_class: scaler.className };
  const nFeatures = state.get('n_features_in_');
  if (nFeatures !== undefined) {
    if (nFeatures !== 1) {
      throw unsupported(
        `'${key}' (${scaler.className}) was fitted on ${String(nFeatures)} columns; po uses one single-column scaler per variable`,
      );
    }
    entry.n_features_in_ = 1;
  }
  const names = state.get('feature_names_in_');
  if (names instanceof NumpyArray && names.items !== undefined) {
    entry.feature_names_in_ = names.items.map((n) => (typeof n === 'string' ? n : String(n)));
  }
  for (const flag of FLAGS) {
    const v = state.get(flag);
    if (typeof v === 'boolean') entry[flag] = v;
  }
  for (const pair of ['feature_range', 'quantile_range'] as const) {
    const v = state.get(pair);
    if (isTuple(v) && v.length === 2 && v.every((x) => typeof x === 'number')) entry[pair] = [...v];
  }
  const seen = state.get('n_samples_seen_');
  if (typeof seen === 'number') entry.n_samples_seen_ = seen;
  else if (seen instanceof NumpyArray && seen.values.length === 1) entry.n_samples_seen_ = seen.values[0];
  for (const name of NUMERIC) {
    const v = state.get(name);
    if (v === undefined || v === null) continue;
    const values =
      v instanceof NumpyArray ? v.values : typeof v === 'number' ? Float64Array.of(v) : undefined;
    if (values === undefined || (v instanceof NumpyArray && v.items !== undefined)) {
      throw unsupported(`'${key}' (${scaler.className}).${name} is a ${describePickleValue(v)}, not numbers`);
    }
    if (values.length !== 1) {
      throw unsupported(
        `'${key}' (${scaler.className}).${name} has ${values.length} values; po uses single-column scalers`,
      );
    }
    entry[name] = [values[0]];
  }
  return entry;
}
