/**
 * The per-format loaders behind `ModelProvider.load`: the request check, reading a skill's
 * files, then one loader per file kind (metadata JSON; scalers as JSON or `.pkl`; the network
 * as `.onnx` or `.pth`) and the check of the network's signature. Each turns its failure into
 * a `ModelLoadError` naming the skill, the file's role and its path.
 */
import { createHash } from 'node:crypto';
import {
  describeError,
  type ModelFile,
  type ModelFileReader,
  type ModelFileRole,
  ModelLoadError,
  type ModelRequest,
} from '@po/core';
import {
  causeClause,
  ModelFileError,
  ModelsError,
  type ModelsErrorCode,
  ScalerFormatError,
} from './errors.ts';
import { ModelImportError } from './import/errors.ts';
import { importPthModel } from './import/network.ts';
import { importScalerPickle } from './import/scalers-pickle.ts';
import { describeMetadataMismatch, type ModelMetadata, parseModelMetadata } from './metadata.ts';
import type { OnnxSignature } from './onnx-session.ts';
import { staticDim } from './onnx-session.ts';
import { type AffineStep, parseScalerFile, type ScalerSet, scalerKey, scalerSteps } from './scalers.ts';

const PYTORCH = /\.(pth|pt)$/i;
const PICKLE = /\.pkl$/i;

const FIXES: Partial<Record<ModelsErrorCode, string>> = {
  FILE_NOT_FOUND: 'Put the file in the models folder or correct the path in the strategy.',
  UNSAFE_PATH: "Write the path relative to the models folder, e.g. 'saved_models/x.onnx'.",
  FILE_UNREADABLE: 'Check that the file exists and can be read.',
};

/** Refuses a request that is not what the engine sends, before anything is read. */
export function checkRequest(request: ModelRequest): void {
  const problems: string[] = [];
  if (typeof request.skill !== 'string' || request.skill === '')
    problems.push('skill must be a non-empty string');
  if (typeof request.modelPath !== 'string' || request.modelPath === '') {
    problems.push('modelPath (config.model_path) must be a non-empty string');
  }
  if (!Array.isArray(request.inputs) || request.inputs.length === 0) {
    problems.push('inputs must list at least one variable');
  } else if (!request.inputs.every((i) => typeof i === 'string' && i !== '')) {
    problems.push('every input must be a non-empty variable name');
  }
  if (typeof request.output !== 'string' || request.output === '')
    problems.push('output must be a variable name');
  if (problems.length > 0) {
    throw new ModelsError(
      'INVALID_REQUEST',
      `Skill '${String(request.skill)}': invalid model request: ${problems.join('; ')}. ` +
        'Fix the InferenceModel skill in the strategy.',
    );
  }
  if (request.metadataPath !== undefined && PICKLE.test(request.metadataPath)) {
    throw new ModelLoadError({
      code: 'UNSUPPORTED_FORMAT',
      skill: request.skill,
      role: 'metadata',
      path: request.metadataPath,
      problem: 'metadata must be a JSON file',
      fix: 'Point metadata_path at a JSON file.',
    });
  }
}

/** The bytes of a skill's files, by role, and their provenance (model first). */
export interface SkillFiles {
  bytes: ReadonlyMap<ModelFileRole, Uint8Array>;
  files: readonly ModelFile[];
}

/** Reads every file of the skill before parsing any, then reports the first failure in role order. */
export async function readSkillFiles(request: ModelRequest, readFile: ModelFileReader): Promise<SkillFiles> {
  const wanted: { role: ModelFileRole; path: string }[] = [{ role: 'model', path: request.modelPath }];
  if (request.scalerPath !== undefined) wanted.push({ role: 'scaler', path: request.scalerPath });
  if (request.metadataPath !== undefined) wanted.push({ role: 'metadata', path: request.metadataPath });
  const settled = await Promise.allSettled(wanted.map((w) => readFile(w.path)));
  const bytes = new Map<ModelFileRole, Uint8Array>();
  const files: ModelFile[] = [];
  for (const [i, result] of settled.entries()) {
    const { role, path } = wanted[i]!;
    if (result.status === 'rejected') throw readFailure(request.skill, role, path, result.reason);
    bytes.set(role, result.value);
    files.push({ role, path, sha256: sha256(result.value) });
  }
  return { bytes, files };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function readFailure(skill: string, role: ModelFileRole, path: string, cause: unknown): ModelLoadError {
  if (cause instanceof ModelFileError) {
    const { code, problem, fix } = cause;
    return new ModelLoadError({ code, skill, role, path, problem, fix, cause });
  }
  const code = cause instanceof ModelsError ? cause.code : 'FILE_UNREADABLE';
  return new ModelLoadError({
    code,
    skill,
    role,
    path,
    problem: `cannot be read (${causeClause(cause)})`,
    fix: FIXES[code] ?? 'Check the file and the path in the strategy.',
    cause,
  });
}

/** A `.pth`/`.pkl` import failure as a load error naming the skill, the role and the file. */
function importFailure(
  skill: string,
  role: ModelFileRole,
  path: string,
  cause: ModelImportError,
): ModelLoadError {
  return new ModelLoadError({
    code: cause.code,
    skill,
    role,
    path,
    problem: cause.problem.replace(/\.\s*$/, ''),
    fix: cause.fix,
    cause,
  });
}

/** The metadata JSON file, checked against the skill's inputs and output; undefined without one. */
export function loadMetadata(request: ModelRequest, files: SkillFiles): ModelMetadata | undefined {
  const path = request.metadataPath;
  if (path === undefined) return undefined;
  const fail = (code: ModelsErrorCode, problem: string, fix: string, cause?: unknown) =>
    new ModelLoadError({ code, skill: request.skill, role: 'metadata', path, problem, fix, cause });
  let metadata: ModelMetadata;
  try {
    metadata = parseModelMetadata(files.bytes.get('metadata')!, path);
  } catch (cause) {
    const fix = 'Fix the metadata file or remove metadata_path from the skill.';
    throw fail('INVALID_METADATA', causeClause(cause), fix, cause);
  }
  const mismatch = describeMetadataMismatch(metadata, request.inputs, request.output);
  if (mismatch !== undefined) {
    throw fail(
      'METADATA_MISMATCH',
      mismatch,
      'The skill must list the inputs (in the same order) and the output the model was trained on: ' +
        'fix the skill or point metadata_path at the right file.',
    );
  }
  return metadata;
}

/**
 * The scaler file: po's JSON format, or a `.pkl` read by the restricted reader into that format
 * (one scaling code path). Undefined without a scaler_path.
 */
export function loadScalers(request: ModelRequest, files: SkillFiles): ScalerSet | undefined {
  const path = request.scalerPath;
  if (path === undefined) return undefined;
  try {
    const bytes = files.bytes.get('scaler')!;
    return parseScalerFile(PICKLE.test(path) ? importScalerPickle(bytes, path) : bytes, path);
  } catch (cause) {
    if (cause instanceof ModelImportError) throw importFailure(request.skill, 'scaler', path, cause);
    const key = cause instanceof ScalerFormatError ? cause.key : undefined;
    throw new ModelLoadError({
      code: 'INVALID_SCALER',
      skill: request.skill,
      role: 'scaler',
      path,
      problem: `${key === undefined ? '' : `scaler '${key}': `}${causeClause(cause)}`,
      fix: 'Fix the scaler file (see the JSON scaler format in the @po/models README).',
      cause,
    });
  }
}

/** The ONNX graph to run and the key its session is shared under. */
export interface NetworkBytes {
  onnx: Uint8Array;
  sessionKey: string;
}

/**
 * The network: an `.onnx` file as is, keyed by its SHA-256; a `.pth` state_dict converted in
 * memory to ONNX, keyed by the ONNX bytes (the same .pth with another activation is another
 * network).
 */
export function loadNetwork(
  request: ModelRequest,
  files: SkillFiles,
  metadata: ModelMetadata | undefined,
): NetworkBytes {
  const bytes = files.bytes.get('model')!;
  if (!PYTORCH.test(request.modelPath)) return { onnx: bytes, sessionKey: files.files[0]!.sha256 };
  let onnx: Uint8Array;
  try {
    onnx = importPthModel(bytes, {
      file: request.modelPath,
      activation: request.activation,
      metadata: metadata?.raw,
      inputs: request.inputs,
    }).onnx;
  } catch (cause) {
    if (cause instanceof ModelImportError)
      throw importFailure(request.skill, 'model', request.modelPath, cause);
    throw cause;
  }
  return { onnx, sessionKey: `pth:${sha256(onnx)}` };
}

/** The session ONNX Runtime opened from the network, or why it could not. */
export async function openedSession<T>(request: ModelRequest, session: Promise<T>): Promise<T> {
  try {
    return await session;
  } catch (cause) {
    throw new ModelLoadError({
      code: 'INVALID_ONNX',
      skill: request.skill,
      role: 'model',
      path: request.modelPath,
      problem: `ONNX Runtime cannot read it as an ONNX model (${describeError(cause, { oneLine: true })})`,
      fix: 'Export the network to ONNX again (opset 17, one float32 input [batch, inputs], one output [batch, 1]).',
      cause,
    });
  }
}

/** Scaling around the network: one step per input, the output's inverse, and what is missing. */
export interface Scaling {
  inputSteps: readonly AffineStep[];
  outputStep: AffineStep;
  warnings: string[];
}

/** The scaler of each input and of the output (identity where the file has none, with a warning for the output). */
export function scalingFor(request: ModelRequest, scalers: ScalerSet | undefined): Scaling {
  const warnings: string[] = [];
  const inputSteps = request.inputs.map((name) => scalerSteps(scalers?.scalers.get(scalerKey(name))).forward);
  const outputScaler = scalers?.scalers.get(scalerKey(request.output));
  if (outputScaler === undefined) {
    warnings.push(
      `Skill '${request.skill}': no scaler for output '${request.output}' (key '${scalerKey(request.output)}'` +
        `${request.scalerPath === undefined ? ', no scaler_path' : ` in '${request.scalerPath}'`}); ` +
        'the raw network output is used as the prediction.',
    );
  }
  return { inputSteps, outputStep: scalerSteps(outputScaler).inverse, warnings };
}

const REEXPORT =
  'Export the network with one float32 input [batch, inputs] and one float32 output [batch, 1], ' +
  'or fix the skill so that it lists the inputs the network was trained on.';

/** Checks that the network takes one float32 row of the skill's inputs and gives one value per row. */
export function checkSignature(request: ModelRequest, signature: OnnxSignature | string): OnnxSignature {
  const fail = (problem: string, fix = REEXPORT) =>
    new ModelLoadError({
      code: 'MODEL_SHAPE_MISMATCH',
      skill: request.skill,
      role: 'model',
      path: request.modelPath,
      problem,
      fix,
    });
  if (typeof signature === 'string') throw fail(signature);
  if (signature.inputType !== undefined && signature.inputType !== 'float32') {
    throw fail(`the network input is ${signature.inputType}, not float32`);
  }
  if (signature.outputType !== undefined && signature.outputType !== 'float32') {
    throw fail(`the network output is ${signature.outputType}, not float32`);
  }
  const { inputShape, outputShape } = signature;
  if (inputShape !== undefined && inputShape.length > 0 && inputShape.length !== 2) {
    throw fail(`the network input has shape [${inputShape.join(', ')}], not [batch, n]`);
  }
  const width = staticDim(inputShape, 1);
  if (width !== undefined && width !== request.inputs.length) {
    throw fail(
      `the network takes ${width} input(s) but the skill lists ${request.inputs.length} ` +
        `(${request.inputs.join(', ')})`,
      'List exactly the inputs the network was trained on, in its order, or point model_path at the right model.',
    );
  }
  if (outputShape !== undefined && outputShape.length > 0) {
    const last = staticDim(outputShape, outputShape.length - 1);
    if (outputShape.length > 2 || (last !== undefined && last !== 1 && outputShape.length === 2)) {
      throw fail(
        `the network output has shape [${outputShape.join(', ')}]; po expects one value per row ([batch, 1])`,
      );
    }
  }
  return signature;
}
