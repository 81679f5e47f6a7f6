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
}

function invalid(file: string, problem: string, cause?: unknown): ModelsError {
  return new ModelsError(
    'INVALID_METADATA',
    `Metadata file '${file}': ${problem}. Fix the file: it must be a JSON object; 'inputs' (array of ` +
      "variable names), 'output' (a variable name) and 'activation' (a string) are optional.",
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
  return { raw: json, inputs, output, activation };
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
