/**
 * From a state_dict to an MLP spec: the layer sequence is derived from the keys and
 * shapes (`<prefix>.<index>.<param>`), the activation from the skill, the metadata or
 * the predecessor's default (GELU), then `buildMlpOnnx` encodes it.
 */
import type { ActivationFunction, MlpLayer, MlpSpec } from '../mlp-onnx.ts';
import { buildMlpOnnx } from '../mlp-onnx.ts';
import { ModelImportError } from './errors.ts';
import { type PthLimits, readStateDict, type StateDict, type StateDictTensor } from './pth.ts';

/** An activation as po exports it. */
export interface Activation {
  fn: ActivationFunction;
  /** leaky_relu's negative slope. */
  alpha?: number | undefined;
}

/** Where the activation came from. */
export type ActivationSource = 'skill' | 'metadata' | 'metadata layers' | 'default';

/** One derived layer, for messages and `po models inspect`. */
export interface ImportedLayer {
  /** The state_dict module (`network.0`), or undefined for an activation. */
  module: string | undefined;
  kind: 'linear' | 'batchnorm' | 'activation';
  /** Linear: [out, in]; BatchNorm: [features]. */
  shape: readonly number[];
  /** Activation name (`gelu`, `leaky_relu(0.2)`), BatchNorm eps. */
  detail: string | undefined;
}

/** Options of `networkFromStateDict` and `importPthModel`. */
export interface PthImportOptions {
  /** Names the file in errors. */
  file: string;
  /** The skill's `activation` (wins over the metadata). */
  activation?: string | undefined;
  /** The model's metadata JSON (raw object): `activation`, `architecture.layers`, `architecture.batchnorm_eps`. */
  metadata?: Readonly<Record<string, unknown>> | undefined;
  /** The skill's inputs: the first Linear must take exactly this many. */
  inputs?: readonly string[] | undefined;
  /** Size limits of the archive and pickle. */
  limits?: PthLimits | undefined;
}

/** A state_dict turned into a network. */
export interface ImportedNetwork {
  spec: MlpSpec;
  layers: readonly ImportedLayer[];
  inputSize: number;
  outputSize: number;
  activation: Activation;
  activationSource: ActivationSource;
  stateDict: StateDict;
}

const ACTIVATIONS: Readonly<Record<string, ActivationFunction>> = {
  gelu: 'gelu',
  relu: 'relu',
  tanh: 'tanh',
  sigmoid: 'sigmoid',
  leakyrelu: 'leaky_relu',
  leaky_relu: 'leaky_relu',
  silu: 'silu',
  swish: 'silu',
};

/**
 * Parses an activation name as written in a strategy or metadata: `gelu`, `GELU`,
 * `GELU(exact,erf)`, `relu`, `Tanh`, `sigmoid`, `LeakyReLU(0.2)`,
 * `LeakyReLU(negative_slope=0.2)`, `leaky_relu`, `SiLU`. Returns a problem sentence for
 * anything else (e.g. tanh-approximated GELU).
 */
export function parseActivation(text: string): Activation | string {
  const m = /^\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*$/.exec(text);
  const fn = m === null ? undefined : ACTIVATIONS[m[1]!.toLowerCase()];
  if (m === null || fn === undefined) {
    return `activation '${text}' is not supported (gelu, relu, tanh, sigmoid, leaky_relu, silu)`;
  }
  const args = (m[2] ?? '').trim();
  if (fn === 'gelu' && /tanh/i.test(args)) {
    return `activation '${text}': the tanh approximation of GELU is not supported (po exports exact GELU)`;
  }
  if (fn === 'leaky_relu' && args !== '') {
    const slope = /^(?:negative_slope\s*=\s*)?([-+0-9.eE]+)(?:\s*,.*)?$/.exec(args);
    const alpha = slope === null ? Number.NaN : Number(slope[1]);
    if (!Number.isFinite(alpha)) return `activation '${text}': cannot read the negative slope`;
    return { fn, alpha };
  }
  return { fn };
}

function describeActivation(a: Activation): string {
  return a.fn === 'leaky_relu' && a.alpha !== undefined ? `leaky_relu(${a.alpha})` : a.fn;
}

interface Module {
  name: string;
  index: number;
  params: Map<string, StateDictTensor>;
}

interface LayerPlan {
  kind: 'linear' | 'batchnorm' | 'activation' | 'identity';
  activation?: Activation;
  shapeHint?: [number | undefined, number | undefined];
}

function layout(file: string, problem: string): ModelImportError {
  return new ModelImportError(
    'UNEXPECTED_LAYOUT',
    file,
    problem,
    'po derives networks made of nn.Sequential Linear and BatchNorm1d layers (keys <prefix>.<index>.weight); ' +
      "describe other layouts in the metadata's architecture.layers, or export the model to ONNX.",
  );
}

function groupModules(stateDict: StateDict): Module[] {
  const { file } = stateDict;
  const modules = new Map<string, Module>();
  let prefix: string | undefined;
  for (const [key, tensor] of stateDict.tensors) {
    const m = /^(.*?)(\d+)\.([A-Za-z_]+)$/.exec(key);
    if (m === null || (m[1] !== '' && !m[1]!.endsWith('.'))) {
      throw layout(file, `state_dict key '${key}' is not <prefix>.<index>.<parameter>`);
    }
    if (prefix === undefined) prefix = m[1]!;
    else if (prefix !== m[1]) {
      throw layout(file, `state_dict keys mix the prefixes '${prefix}' and '${m[1]}' ('${key}')`);
    }
    const name = `${m[1]}${m[2]}`;
    let module = modules.get(name);
    if (module === undefined) modules.set(name, (module = { name, index: Number(m[2]), params: new Map() }));
    module.params.set(m[3]!, tensor);
  }
  if (modules.size === 0) throw layout(file, 'the state_dict is empty');
  return [...modules.values()].sort((a, b) => a.index - b.index);
}

const LINEAR = new Set(['weight', 'bias']);
const BATCHNORM = new Set(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);

type ModuleKind = 'linear' | 'batchnorm';

function moduleKind(module: Module, file: string): ModuleKind {
  const names = [...module.params.keys()];
  if (module.params.has('running_mean') || module.params.has('running_var')) {
    if (
      !module.params.has('running_mean') ||
      !module.params.has('running_var') ||
      names.some((n) => !BATCHNORM.has(n))
    ) {
      throw layout(
        file,
        `module '${module.name}' has [${names.join(', ')}]; a BatchNorm1d needs running_mean and running_var`,
      );
    }
    return 'batchnorm';
  }
  if (module.params.has('weight') && names.every((n) => LINEAR.has(n))) return 'linear';
  throw layout(
    file,
    `module '${module.name}' has parameters [${names.join(', ')}]: not a Linear or BatchNorm1d layer`,
  );
}

function parseLayerStrings(layers: readonly unknown[], file: string, metadataName: string): LayerPlan[] {
  return layers.map((entry, i) => {
    const text = String(entry);
    const m = /^\s*([A-Za-z_0-9]+)\s*(?:\((.*)\))?\s*$/.exec(text);
    const name = m?.[1]?.toLowerCase();
    if (name === 'linear') {
      const dims = (m![2] ?? '').split(',').map((d) => (/^\s*\d+\s*$/.test(d) ? Number(d) : undefined));
      return { kind: 'linear', shapeHint: [dims[0], dims[1]] };
    }
    if (name === 'batchnorm1d') return { kind: 'batchnorm' };
    if (name === 'dropout' || name === 'identity' || name === 'alphadropout') return { kind: 'identity' };
    const activation = parseActivation(text);
    if (typeof activation === 'string') {
      throw layout(
        file,
        `${metadataName} architecture.layers[${i}] '${text}' is not a layer po reads (${activation})`,
      );
    }
    return { kind: 'activation', activation };
  });
}

function vector(module: Module, name: string, width: number, file: string, fill: number): Float32Array {
  const t = module.params.get(name);
  if (t === undefined) return new Float32Array(width).fill(fill);
  if (t.shape.length !== 1 || t.shape[0] !== width) {
    throw layout(file, `'${module.name}.${name}' has shape [${t.shape.join(', ')}]; expected [${width}]`);
  }
  return Float32Array.from(t.values);
}

/** The metadata's `architecture` object, when it has one. */
function architectureOf(metadata: PthImportOptions['metadata']): Record<string, unknown> | undefined {
  const architecture = metadata?.architecture;
  return typeof architecture === 'object' && architecture !== null && !Array.isArray(architecture)
    ? (architecture as Record<string, unknown>)
    : undefined;
}

/** The activation the skill or the metadata names (the skill wins); undefined when neither does. */
function namedActivation(
  options: PthImportOptions,
  file: string,
): { activation: Activation; source: ActivationSource } | undefined {
  const { metadata } = options;
  const named =
    options.activation ?? (typeof metadata?.activation === 'string' ? metadata.activation : undefined);
  if (named === undefined) return undefined;
  const parsed = parseActivation(named);
  if (typeof parsed === 'string') {
    throw new ModelImportError(
      'UNSUPPORTED_ACTIVATION',
      file,
      parsed,
      options.activation !== undefined
        ? "Set the skill's activation to one of gelu, relu, tanh, sigmoid, leaky_relu, silu."
        : "Fix 'activation' in the metadata file: gelu, relu, tanh, sigmoid, leaky_relu or silu.",
    );
  }
  return { activation: parsed, source: options.activation !== undefined ? 'skill' : 'metadata' };
}

/** The plan from the metadata's `architecture.layers`, checked against the state_dict's modules. */
function planFromMetadata(
  layers: readonly unknown[],
  modules: readonly Module[],
  kinds: readonly ModuleKind[],
  file: string,
): LayerPlan[] {
  const plan = parseLayerStrings(layers, file, 'the metadata');
  const parametric = plan.filter((p) => p.kind === 'linear' || p.kind === 'batchnorm');
  if (parametric.length !== modules.length || parametric.some((p, i) => p.kind !== kinds[i])) {
    throw layout(
      file,
      `the metadata's architecture.layers lists [${parametric.map((p) => p.kind).join(', ')}] but the state_dict ` +
        `has [${kinds.join(', ')}] (${modules.map((m) => m.name).join(', ')})`,
    );
  }
  return plan;
}

/** The plan from the module indices: one activation in each gap between two parametric modules. */
function planFromIndices(
  modules: readonly Module[],
  kinds: readonly ModuleKind[],
  file: string,
): LayerPlan[] {
  if (modules[0]!.index !== 0) {
    throw layout(
      file,
      `the first module is '${modules[0]!.name}': po cannot tell what the parameterless modules before it are`,
    );
  }
  const plan: LayerPlan[] = [];
  modules.forEach((module, i) => {
    plan.push({ kind: kinds[i]! });
    const next = modules[i + 1];
    if (next === undefined) return;
    const gap = next.index - module.index - 1;
    if (gap > 2) {
      throw layout(
        file,
        `${gap} parameterless modules between '${module.name}' and '${next.name}': po reads one activation ` +
          'per gap (optionally followed by Dropout)',
      );
    }
    if (gap > 0) plan.push({ kind: 'activation' });
  });
  return plan;
}

/** The layers being built from a plan: the MLP spec's, the summary's, and the running width. */
interface LayerStack {
  readonly file: string;
  readonly options: PthImportOptions;
  readonly layers: MlpLayer[];
  readonly summary: ImportedLayer[];
  width: number | undefined;
  inputSize: number;
}

function addLinear(stack: LayerStack, module: Module, hint: LayerPlan['shapeHint']): void {
  const { file, options } = stack;
  const weight = module.params.get('weight')!;
  if (weight.shape.length !== 2) {
    throw layout(
      file,
      `'${module.name}.weight' has shape [${weight.shape.join(', ')}]; a Linear weight is [out, in]`,
    );
  }
  const [out, inWidth] = weight.shape as [number, number];
  if (stack.width === undefined) {
    stack.inputSize = inWidth;
    if (options.inputs !== undefined && inWidth !== options.inputs.length) {
      throw new ModelImportError(
        'INPUT_MISMATCH',
        file,
        `the first Linear '${module.name}.weight' has shape [${out}, ${inWidth}]: the network takes ${inWidth} ` +
          `input(s) but the skill lists ${options.inputs.length} (${options.inputs.join(', ')})`,
        'List exactly the inputs the network was trained on, in its order, or point model_path at the right model.',
      );
    }
  } else if (inWidth !== stack.width) {
    throw layout(
      file,
      `'${module.name}.weight' takes ${inWidth} inputs but the layer before gives ${stack.width}`,
    );
  }
  // Linear(in_features, out_features) in the metadata must agree with the weight.
  const [hintIn, hintOut] = hint ?? [];
  if ((hintIn !== undefined && hintIn !== inWidth) || (hintOut !== undefined && hintOut !== out)) {
    throw layout(
      file,
      `the metadata says Linear(${hintIn ?? 'n'}, ${hintOut ?? 'n'}) but '${module.name}.weight' is [${out}, ${inWidth}]`,
    );
  }
  stack.layers.push({
    kind: 'linear',
    weight: Float32Array.from(weight.values),
    bias: vector(module, 'bias', out, file, 0),
  });
  stack.summary.push({ module: module.name, kind: 'linear', shape: [out, inWidth], detail: undefined });
  stack.width = out;
}

function addBatchNorm(stack: LayerStack, module: Module, eps: number): void {
  const { file } = stack;
  const mean = module.params.get('running_mean')!;
  const features = mean.shape[0] ?? 0;
  if (mean.shape.length !== 1) throw layout(file, `'${module.name}.running_mean' is not a vector`);
  if (stack.width === undefined) stack.inputSize = stack.width = features;
  const width = stack.width;
  if (features !== width) {
    throw layout(
      file,
      `BatchNorm '${module.name}' has ${features} features but the layer before gives ${width}`,
    );
  }
  stack.layers.push({
    kind: 'batchnorm',
    weight: vector(module, 'weight', width, file, 1),
    bias: vector(module, 'bias', width, file, 0),
    runningMean: vector(module, 'running_mean', width, file, 0),
    runningVar: vector(module, 'running_var', width, file, 1),
    eps,
  });
  stack.summary.push({ module: module.name, kind: 'batchnorm', shape: [width], detail: `eps ${eps}` });
}

/**
 * Derives the network of a state_dict: `<prefix>.<i>.weight` [out, in] (+ bias) is a
 * Linear, a module with running_mean/running_var a BatchNorm1d (eps 1e-5, or the
 * metadata's `architecture.batchnorm_eps`), and a gap in the indices between two layers
 * one activation (plus identity modules such as Dropout) — the predecessor's ANNModel is
 * `network.{0,4,8,12}` Linear, `{1,5,9}` BatchNorm, GELU + Dropout in the gaps. When the
 * metadata lists `architecture.layers`, that list gives the order instead.
 * The activation is the skill's, else the metadata's `activation`, else the one named in
 * `architecture.layers`, else GELU (exact). Throws `ModelImportError` naming the file.
 */
export function networkFromStateDict(stateDict: StateDict, options: PthImportOptions): ImportedNetwork {
  const { file } = stateDict;
  const modules = groupModules(stateDict);
  const kinds = modules.map((m) => moduleKind(m, file));
  const arch = architectureOf(options.metadata);
  const eps = typeof arch?.batchnorm_eps === 'number' && arch.batchnorm_eps >= 0 ? arch.batchnorm_eps : 1e-5;
  const named = namedActivation(options, file);
  const override = named?.activation;
  let source: ActivationSource = named?.source ?? 'default';

  // The plan: parametric layers in module order, activations where they go.
  let plan: LayerPlan[];
  if (Array.isArray(arch?.layers) && arch.layers.length > 0) {
    plan = planFromMetadata(arch.layers, modules, kinds, file);
    if (override === undefined && plan.some((p) => p.kind === 'activation')) source = 'metadata layers';
  } else {
    plan = planFromIndices(modules, kinds, file);
  }

  const activation = override ?? { fn: 'gelu' as const };
  const stack: LayerStack = { file, options, layers: [], summary: [], width: undefined, inputSize: 0 };
  let moduleIndex = 0;
  for (const step of plan) {
    if (step.kind === 'identity') continue;
    if (step.kind === 'activation') {
      const a = override ?? step.activation ?? activation;
      stack.layers.push({ kind: 'activation', fn: a.fn, alpha: a.alpha });
      stack.summary.push({ module: undefined, kind: 'activation', shape: [], detail: describeActivation(a) });
    } else if (step.kind === 'linear') addLinear(stack, modules[moduleIndex++]!, step.shapeHint);
    else addBatchNorm(stack, modules[moduleIndex++]!, eps);
  }
  const { inputSize, width } = stack;
  return {
    spec: {
      inputSize,
      layers: stack.layers,
      name: 'po_imported_mlp',
      docString: `Imported by po from the PyTorch state_dict '${file}'.`,
      metadata: {
        'po.source': file,
        'po.source_format': 'pytorch-state-dict',
        'po.activation': describeActivation(activation),
        'po.activation_source': source,
      },
    },
    layers: stack.summary,
    inputSize,
    outputSize: width ?? 0,
    activation,
    activationSource: source,
    stateDict,
  };
}

/**
 * Reads a `.pth` state_dict and converts it in memory to ONNX (`buildMlpOnnx`): the
 * network runs in float32 with ONNX Runtime like any ONNX model. Throws
 * `ModelImportError` naming the file.
 */
export function importPthModel(
  bytes: Uint8Array,
  options: PthImportOptions,
): ImportedNetwork & { onnx: Uint8Array } {
  const stateDict = readStateDict(bytes, options.file, options.limits);
  const network = networkFromStateDict(stateDict, options);
  return { ...network, onnx: buildMlpOnnx(network.spec) };
}
