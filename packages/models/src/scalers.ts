import type { VariableRange } from '@po/core';
import { z } from 'zod';
import { ScalerFormatError } from './errors.ts';
import { jsonSource } from './json.ts';

/** The scaler kinds po understands (scikit-learn's, single column). */
export type ScalerKind = 'minmax' | 'standard' | 'robust' | 'maxabs';

/**
 * One fitted single-column scaler. Both directions run in float64 in exactly the
 * order scikit-learn uses, so results are bit-identical to the predecessor:
 * minmax `x * scale_ + min_` / `(y - min_) / scale_`; robust and standard
 * `(x - center) / scale` / `y * scale + center`; maxabs `x / scale_` / `y * scale_`.
 */
export interface Scaler {
  readonly kind: ScalerKind;
  /**
   * The training range the fitted parameters tell, in engine units, or why there is none:
   * minmax `data_min_`/`data_max_` (or, without them, `feature_range` mapped back through
   * `min_`/`scale_`: exact); standard `mean_ ± 3 scale_` (soft: an estimate, not the extremes);
   * maxabs `± scale_` (soft); robust none (a median and a quantile range do not bound the data).
   */
  readonly range: VariableRange | string;
  transform(x: number): number;
  inverseTransform(y: number): number;
}

/** A parsed scaler file: scalers by key (variable name without `delta_`). */
export interface ScalerSet {
  /** The path the file was read from, for messages. */
  readonly file: string;
  readonly scalers: ReadonlyMap<string, Scaler>;
}

/**
 * One direction of a scaler as a two-parameter affine step. `mulAdd`: `x * a + b`;
 * `subDiv`: `(x - a) / b`. Every supported scaler direction is one of the two, and the
 * identity is `mulAdd` with a = 1, b = 0 (exact for every finite x).
 */
export interface AffineStep {
  readonly op: 'mulAdd' | 'subDiv';
  readonly a: number;
  readonly b: number;
}

/** The identity step, used for variables without a scaler. */
export const IDENTITY_STEP: AffineStep = Object.freeze({ op: 'mulAdd', a: 1, b: 0 });

class FittedScaler implements Scaler {
  constructor(
    readonly kind: ScalerKind,
    readonly forward: AffineStep,
    readonly inverse: AffineStep,
    readonly range: VariableRange | string,
  ) {}

  transform(x: number): number {
    return applyStep(this.forward, x);
  }

  inverseTransform(y: number): number {
    return applyStep(this.inverse, y);
  }
}

/** Applies one affine step in float64. */
export function applyStep(step: AffineStep, x: number): number {
  return step.op === 'mulAdd' ? x * step.a + step.b : (x - step.a) / step.b;
}

/** The affine steps of a scaler created by this module (identity for anything else). */
export function scalerSteps(scaler: Scaler | undefined): { forward: AffineStep; inverse: AffineStep } {
  if (scaler instanceof FittedScaler) return { forward: scaler.forward, inverse: scaler.inverse };
  return { forward: IDENTITY_STEP, inverse: IDENTITY_STEP };
}

/** The predecessor's lookup rule: every occurrence of `delta_` is removed. */
export function scalerKey(variable: string): string {
  return variable.replaceAll('delta_', '');
}

const KIND_ALIASES: Readonly<Record<string, ScalerKind>> = {
  minmaxscaler: 'minmax',
  minmax: 'minmax',
  standardscaler: 'standard',
  standard: 'standard',
  robustscaler: 'robust',
  robust: 'robust',
  maxabsscaler: 'maxabs',
  maxabs: 'maxabs',
};

const param = z
  .union([z.number(), z.tuple([z.number()])], {
    error: 'expected a finite number or an array of exactly one finite number',
  })
  .transform((v) => (typeof v === 'number' ? v : v[0]));

const entrySchema = z.looseObject({
  kind: z.string({ error: 'expected a string such as "minmax" or "MinMaxScaler"' }),
  n_features_in_: z.literal(1, { error: 'po reads single-column scalers only; expected 1' }).optional(),
  min_: param.optional(),
  scale_: param.optional(),
  center_: param.nullable().optional(),
  mean_: param.nullable().optional(),
  with_mean: z.boolean().optional(),
  with_std: z.boolean().optional(),
  with_centering: z.boolean().optional(),
  with_scaling: z.boolean().optional(),
  clip: z.boolean().optional(),
  data_min_: param.optional(),
  data_max_: param.optional(),
  feature_range: z.tuple([z.number(), z.number()]).optional(),
});

type ScalerEntry = z.infer<typeof entrySchema>;

const fileSchema = z.looseObject({
  scalers: z.record(z.string(), z.unknown(), {
    error: 'expected an object "scalers" mapping each variable key to a scaler',
  }),
});

function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string {
  return issues
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
      return `${path === '' ? '(file)' : path}: ${issue.message}`;
    })
    .join('; ');
}

function required(
  file: string,
  key: string,
  entry: ScalerEntry,
  field: 'min_' | 'scale_' | 'center_' | 'mean_',
) {
  const value = entry[field];
  if (value === undefined || value === null) {
    throw new ScalerFormatError(
      file,
      key,
      `scalers.${key}.${field} is missing (kind '${entry.kind}' needs it)`,
    );
  }
  if ((field === 'scale_' || field === 'min_') && !Number.isFinite(value)) {
    throw new ScalerFormatError(file, key, `scalers.${key}.${field} must be finite`);
  }
  return value;
}

function nonZeroScale(file: string, key: string, entry: ScalerEntry): number {
  const scale = required(file, key, entry, 'scale_');
  if (scale === 0)
    throw new ScalerFormatError(file, key, `scalers.${key}.scale_ is 0; a scaler cannot divide by 0`);
  return scale;
}

function buildScaler(file: string, key: string, raw: unknown): Scaler {
  const parsed = entrySchema.safeParse(raw);
  if (!parsed.success) {
    throw new ScalerFormatError(file, key, formatIssues(parsed.error.issues, `scalers.${key}`));
  }
  const entry = parsed.data;
  const kind = KIND_ALIASES[entry.kind.toLowerCase()];
  if (kind === undefined) {
    throw new ScalerFormatError(
      file,
      key,
      `scalers.${key}.kind '${entry.kind}' is not supported; use minmax, standard, robust or maxabs ` +
        '(or MinMaxScaler, StandardScaler, RobustScaler, MaxAbsScaler)',
    );
  }
  switch (kind) {
    case 'minmax': {
      if (entry.clip === true) {
        throw new ScalerFormatError(file, key, `scalers.${key}.clip is true; po supports clip: false only`);
      }
      const scale = nonZeroScale(file, key, entry);
      const min = required(file, key, entry, 'min_');
      const inverse: AffineStep = { op: 'subDiv', a: min, b: scale };
      return new FittedScaler(kind, { op: 'mulAdd', a: scale, b: min }, inverse, minmaxRange(entry, inverse));
    }
    case 'standard':
    case 'robust': {
      const centered = kind === 'standard' ? entry.with_mean !== false : entry.with_centering !== false;
      const scaled = kind === 'standard' ? entry.with_std !== false : entry.with_scaling !== false;
      const center = centered ? required(file, key, entry, kind === 'standard' ? 'mean_' : 'center_') : 0;
      const scale = scaled ? nonZeroScale(file, key, entry) : 1;
      if (!Number.isFinite(center))
        throw new ScalerFormatError(file, key, `scalers.${key} center must be finite`);
      return new FittedScaler(
        kind,
        { op: 'subDiv', a: center, b: scale },
        { op: 'mulAdd', a: scale, b: center },
        centeredRange(kind, centered && scaled, center, scale),
      );
    }
    case 'maxabs': {
      const scale = nonZeroScale(file, key, entry);
      const range = { min: -Math.abs(scale), max: Math.abs(scale), soft: true };
      return new FittedScaler(
        kind,
        { op: 'subDiv', a: 0, b: scale },
        { op: 'mulAdd', a: scale, b: 0 },
        range,
      );
    }
  }
}

/** How many standard deviations around a StandardScaler's mean count as its (soft) training range. */
export const STANDARD_RANGE_SIGMAS = 3;

/** A MinMax scaler's data range: `data_min_`/`data_max_`, else `feature_range` mapped back (exact). */
function minmaxRange(entry: ScalerEntry, inverse: AffineStep): VariableRange {
  if (entry.data_min_ !== undefined && entry.data_max_ !== undefined) {
    return { min: entry.data_min_, max: entry.data_max_ };
  }
  const [lo, hi] = entry.feature_range ?? [0, 1];
  const a = applyStep(inverse, lo);
  const b = applyStep(inverse, hi);
  return { min: Math.min(a, b), max: Math.max(a, b) };
}

function centeredRange(
  kind: ScalerKind,
  both: boolean,
  center: number,
  scale: number,
): VariableRange | string {
  if (kind === 'robust') {
    return 'a RobustScaler keeps a median and a quantile range, not the data range; give the range in the metadata (training_domain)';
  }
  if (!both) return 'a StandardScaler without both mean and standard deviation does not bound the data';
  const half = STANDARD_RANGE_SIGMAS * Math.abs(scale);
  return { min: center - half, max: center + half, mean: center, soft: true };
}

/**
 * Parses a JSON scaler file: po's format or the compat `.params.json` (they are the
 * same shape). `source` is the file's bytes, its text, or already-parsed JSON; `file`
 * names it in errors. Throws `ScalerFormatError` naming the file and the key.
 */
export function parseScalerFile(source: Uint8Array | string | object, file: string): ScalerSet {
  const json = jsonSource(
    source,
    (problem, cause) => new ScalerFormatError(file, undefined, problem, { cause }),
  );
  const top = fileSchema.safeParse(json);
  if (!top.success) throw new ScalerFormatError(file, undefined, formatIssues(top.error.issues, ''));
  const scalers = new Map<string, Scaler>();
  for (const [key, raw] of Object.entries(top.data.scalers)) scalers.set(key, buildScaler(file, key, raw));
  return { file, scalers };
}
