import type { TrainingError, VariableRange } from '@po/core';
import { z } from 'zod';
import { ModelsError } from './errors.ts';
import { isJsonObject, jsonSource } from './json.ts';

/** A model's metadata file, validated loosely: only the fields po uses are checked. */
export interface ModelMetadata {
  /** The whole JSON object as read. */
  readonly raw: Readonly<Record<string, unknown>>;
  /** `inputs`, when the file lists them. */
  readonly inputs: readonly string[] | undefined;
  /** `output`, when the file names it. */
  readonly output: string | undefined;
  /** `activation`, when the file names it (used by the .pth import). */
  readonly activation: string | undefined;
  /** `training_domain`, when the file gives it: ranges by variable, optional covariance. */
  readonly trainingDomain: MetadataDomain | undefined;
  /** `training_error`, when the file gives it (output units). */
  readonly trainingError: TrainingError | undefined;
}

/** A metadata file's `training_domain`. */
export interface MetadataDomain {
  variables: Readonly<Record<string, VariableRange>>;
  covariance?: { variables: readonly string[]; matrix: readonly (readonly number[])[] } | undefined;
}

const finite = z.number().refine(Number.isFinite, 'expected a finite number');

const rangeSchema = z
  .strictObject({ min: finite, max: finite, mean: finite.optional() })
  .refine((r) => r.min <= r.max, 'min is above max')
  .refine((r) => r.mean === undefined || (r.mean >= r.min && r.mean <= r.max), 'mean is outside [min, max]');

const domainSchema = z
  .strictObject({
    variables: z.record(z.string().min(1), rangeSchema),
    covariance: z
      .strictObject({ variables: z.array(z.string().min(1)).min(1), matrix: z.array(z.array(finite)) })
      .refine(
        (c) =>
          c.matrix.length === c.variables.length &&
          c.matrix.every((row) => row.length === c.variables.length),
        'matrix must be square, one row and column per listed variable',
      )
      .optional(),
  })
  .refine(
    (d) => (d.covariance?.variables ?? []).every((v) => Object.hasOwn(d.variables, v)),
    'every covariance variable must have a range in variables',
  );

const errorSchema = z
  .strictObject({ rmse: finite.min(0).optional(), mean_abs: finite.min(0).optional() })
  .transform((e): TrainingError => ({ rmse: e.rmse, meanAbs: e.mean_abs }));

function zodProblem(field: string, error: z.ZodError): string {
  return error.issues.map((i) => `'${[field, ...i.path.map(String)].join('.')}': ${i.message}`).join('; ');
}

function invalid(file: string, problem: string, cause?: unknown): ModelsError {
  return new ModelsError(
    'INVALID_METADATA',
    `Metadata file '${file}': ${problem}. Fix the file: it must be a JSON object; 'inputs' (array of ` +
      "variable names), 'output' (a variable name), 'activation' (a string), 'training_domain' " +
      '({ variables: { name: { min, max, mean? } }, covariance?: { variables, matrix } }) and ' +
      "'training_error' ({ rmse?, mean_abs? }) are optional.",
    { cause },
  );
}

/** Parses a metadata JSON file. Throws `ModelsError` (`INVALID_METADATA`) naming the file. */
export function parseModelMetadata(source: Uint8Array | string | object, file: string): ModelMetadata {
  const json = jsonSource(source, (problem, cause) => invalid(file, problem, cause));
  if (!isJsonObject(json)) throw invalid(file, 'the top level is not a JSON object');
  const { inputs, output, activation } = json;
  if (inputs !== undefined && !(Array.isArray(inputs) && inputs.every((i) => typeof i === 'string'))) {
    throw invalid(file, "'inputs' is not an array of strings");
  }
  if (output !== undefined && typeof output !== 'string') throw invalid(file, "'output' is not a string");
  if (activation !== undefined && typeof activation !== 'string') {
    throw invalid(file, "'activation' is not a string");
  }
  const domain =
    json.training_domain === undefined ? undefined : domainSchema.safeParse(json.training_domain);
  if (domain && !domain.success) throw invalid(file, zodProblem('training_domain', domain.error));
  const error = json.training_error === undefined ? undefined : errorSchema.safeParse(json.training_error);
  if (error && !error.success) throw invalid(file, zodProblem('training_error', error.error));
  return {
    raw: json,
    inputs,
    output,
    activation,
    trainingDomain: domain?.data,
    trainingError: error?.data,
  };
}

/**
 * Where the metadata disagrees with the skill: a sentence naming both sides, or
 * `undefined` when they agree (or the metadata says nothing about inputs/output).
 */
export function describeMetadataMismatch(
  metadata: ModelMetadata,
  inputs: readonly string[],
  output: string,
): string | undefined {
  const problems: string[] = [];
  if (
    metadata.inputs !== undefined &&
    (metadata.inputs.length !== inputs.length || metadata.inputs.some((name, i) => name !== inputs[i]))
  ) {
    problems.push(
      `the metadata lists inputs [${metadata.inputs.join(', ')}] but the skill has [${inputs.join(', ')}]`,
    );
  }
  if (metadata.output !== undefined && metadata.output !== output) {
    problems.push(`the metadata names output '${metadata.output}' but the skill has '${output}'`);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}
