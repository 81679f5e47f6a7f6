/** What `po models inspect` shows: layers and shapes of a network, kind and parameters of scalers. */
import type { TrainingError, VariableRange } from '@po/core';
import onnxProto from 'onnx-proto';
import { type MetadataDomain, parseModelMetadata } from '../metadata.ts';
import { parseScalerFile, type ScalerSet } from '../scalers.ts';
import { ModelImportError } from './errors.ts';
import { type ImportedLayer, importPthModel, type PthImportOptions } from './network.ts';
import { importScalerPickle } from './scalers-pickle.ts';

const { onnx } = onnxProto;

/** A network file described. */
export interface NetworkDescription {
  type: 'network';
  format: 'pth' | 'onnx';
  file: string;
  inputSize: number | undefined;
  outputSize: number | undefined;
  /** .pth: the derived layers; .onnx: one entry per graph node. */
  layers: readonly {
    kind: string;
    module?: string | undefined;
    shape: readonly number[];
    detail?: string | undefined;
  }[];
  /** .pth: every state_dict tensor; .onnx: every initializer. */
  tensors: readonly { name: string; dtype: string; shape: readonly number[] }[];
  activation?: string | undefined;
  activationSource?: string | undefined;
  opset?: number | undefined;
  producer?: string | undefined;
  /** The metadata's `training_domain`, when a metadata file was given and has one. */
  trainingDomain?: MetadataDomain | undefined;
  /** The metadata's `training_error`, when given. */
  trainingError?: TrainingError | undefined;
}

/** A scaler file described. */
export interface ScalerDescription {
  type: 'scalers';
  format: 'pkl' | 'json';
  file: string;
  scalers: Readonly<Record<string, Record<string, unknown>>>;
  /** Per key, the training range the scaler tells (see `Scaler.range`), or why it tells none. */
  trainingRanges: Readonly<Record<string, VariableRange | string>>;
}

function rangesOf(set: ScalerSet): Record<string, VariableRange | string> {
  return Object.fromEntries([...set.scalers].map(([key, scaler]) => [key, scaler.range]));
}

/** The training domain and error a metadata object gives (nothing without one). */
function metadataTrust(metadata: Record<string, unknown> | undefined, file: string) {
  if (metadata === undefined) return {};
  const parsed = parseModelMetadata(metadata, `${file} metadata`);
  return { trainingDomain: parsed.trainingDomain, trainingError: parsed.trainingError };
}

/** The file kinds `describeModelFile` reads, by extension. */
export function modelFileFormat(file: string): 'pth' | 'onnx' | 'pkl' | 'json' | undefined {
  const m = /\.(pth|pt|onnx|pkl|json)$/i.exec(file);
  if (m === null) return undefined;
  const ext = m[1]!.toLowerCase();
  return ext === 'pt' ? 'pth' : (ext as 'pth' | 'onnx' | 'pkl' | 'json');
}

function dims(shape: onnxProto.onnx.ITensorShapeProto | null | undefined): (number | string)[] | undefined {
  return shape?.dim?.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0)));
}

function describeOnnx(bytes: Uint8Array, file: string): NetworkDescription {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new ModelImportError(
      'MALFORMED',
      file,
      `not a readable ONNX model (${cause instanceof Error ? cause.message : String(cause)})`,
      'Export the network to ONNX again.',
      { cause },
    );
  }
  const graph = model.graph;
  const initializers = new Map((graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const input = graph?.input?.find((i) => !initializers.has(i.name ?? ''));
  const output = graph?.output?.[0];
  const inShape = dims(input?.type?.tensorType?.shape);
  const outShape = dims(output?.type?.tensorType?.shape);
  const tensorName = (t: number | null | undefined) =>
    onnx.TensorProto.DataType[t ?? 0]?.toLowerCase() ?? 'unknown';
  return {
    type: 'network',
    format: 'onnx',
    file,
    inputSize: typeof inShape?.[1] === 'number' ? inShape[1] : undefined,
    outputSize: typeof outShape?.[1] === 'number' ? outShape[1] : undefined,
    layers: (graph?.node ?? []).map((node) => {
      const weight = node.input
        ?.map((n) => initializers.get(n))
        .find((t) => t !== undefined && (t.dims?.length ?? 0) > 0);
      return {
        kind: node.opType ?? '?',
        module: node.name ?? undefined,
        shape: (weight?.dims ?? []).map(Number),
      };
    }),
    tensors: [...initializers.values()].map((t) => ({
      name: t.name ?? '',
      dtype: tensorName(t.dataType),
      shape: (t.dims ?? []).map(Number),
    })),
    opset: Number(model.opsetImport?.find((o) => !o.domain)?.version ?? 0) || undefined,
    producer: model.producerName ?? undefined,
  };
}

function describeLayers(layers: readonly ImportedLayer[]) {
  return layers.map((l) => ({ kind: l.kind, module: l.module, shape: l.shape, detail: l.detail }));
}

/**
 * Describes a model or scaler file by its extension: `.pth`/`.pt` (derived layers and
 * tensors), `.onnx` (nodes, initializers), `.pkl` (scalers, converted to po's JSON
 * format) or `.json` (a po / compat scaler file). Throws `ModelImportError` for files
 * it refuses.
 */
export function describeModelFile(
  bytes: Uint8Array,
  file: string,
  options?: Omit<PthImportOptions, 'file'>,
): NetworkDescription | ScalerDescription {
  const format = modelFileFormat(file);
  switch (format) {
    case 'pth': {
      const net = importPthModel(bytes, { ...options, file });
      return {
        type: 'network',
        format,
        file,
        inputSize: net.inputSize,
        outputSize: net.outputSize,
        layers: describeLayers(net.layers),
        tensors: [...net.stateDict.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
        activation: net.layers.find((l) => l.kind === 'activation')?.detail,
        activationSource: net.activationSource,
        ...metadataTrust(options?.metadata, file),
      };
    }
    case 'onnx':
      return { ...describeOnnx(bytes, file), ...metadataTrust(options?.metadata, file) };
    case 'pkl': {
      const { scalers } = importScalerPickle(bytes, file);
      const trainingRanges = rangesOf(parseScalerFile({ scalers }, file));
      return { type: 'scalers', format, file, scalers, trainingRanges };
    }
    case 'json': {
      // Validate with the engine's parser, then show the entries as written.
      const trainingRanges = rangesOf(parseScalerFile(bytes, file));
      const json = JSON.parse(new TextDecoder().decode(bytes)) as {
        scalers: Record<string, Record<string, unknown>>;
      };
      return { type: 'scalers', format, file, scalers: json.scalers, trainingRanges };
    }
    default:
      throw new ModelImportError(
        'UNSUPPORTED_FORMAT',
        file,
        'the extension is not one of .pth, .pt, .onnx, .pkl, .json',
        'Name the file by its format.',
      );
  }
}
