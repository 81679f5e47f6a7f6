import onnxProto, { type onnx as Onnx } from 'onnx-proto';

const { onnx } = onnxProto;

/** Several ONNX models side by side in one graph: one runtime call evaluates them all. */
export interface FusedGraph {
  bytes: Uint8Array;
  /** Input name of each member, in the order given. */
  inputs: string[];
  /** Output name of each member, in the order given. */
  outputs: string[];
}

/**
 * Places single-input, single-output ONNX models side by side in one graph, every name
 * prefixed by its member index, so that one session run computes all of them. Returns a
 * reason instead when the models cannot be fused safely: different opsets, local
 * functions, sparse initializers, subgraphs (control flow), or training information.
 * The members must not depend on each other (the caller checks that).
 */
export function fuseOnnxModels(members: readonly Uint8Array[]): FusedGraph | string {
  if (members.length < 2) return 'fewer than two models';
  let models: Onnx.ModelProto[];
  try {
    models = members.map((bytes) => onnx.ModelProto.decode(bytes));
  } catch (e) {
    return `a model does not decode (${(e as Error).message})`;
  }
  const opsets = models.map((m) => opsetKey(m.opsetImport));
  if (new Set(opsets).size !== 1)
    return `the models use different opsets (${[...new Set(opsets)].join(' / ')})`;
  const graph = new onnx.GraphProto({ name: 'po_fused' });
  const inputs: string[] = [];
  const outputs: string[] = [];
  for (const [i, model] of models.entries()) {
    const g = model.graph ? onnx.GraphProto.fromObject(model.graph) : undefined;
    if (!g) return `model ${i} has no graph`;
    if (model.functions.length > 0) return `model ${i} defines local functions`;
    if (model.trainingInfo.length > 0) return `model ${i} carries training information`;
    if (g.sparseInitializer.length > 0) return `model ${i} has sparse initializers`;
    const initializers = new Set(g.initializer.map((t) => t.name));
    const realInputs = g.input.filter((v) => !initializers.has(v.name));
    if (realInputs.length !== 1 || g.output.length !== 1)
      return `model ${i} does not have one input and one output`;
    const rename = (name: string | null | undefined) => (name ? `m${i}/${name}` : '');
    for (const node of g.node) {
      if ((node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0))
        return `model ${i} has control flow (subgraphs)`;
      graph.node.push(
        new onnx.NodeProto({
          ...node,
          name: rename(node.name || `${node.opType}_${graph.node.length}`),
          input: (node.input ?? []).map(rename),
          output: (node.output ?? []).map(rename),
        }),
      );
    }
    for (const t of g.initializer)
      graph.initializer.push(new onnx.TensorProto({ ...t, name: rename(t.name) }));
    for (const v of g.valueInfo)
      graph.valueInfo.push(new onnx.ValueInfoProto({ ...v, name: rename(v.name) }));
    for (const v of g.input) graph.input.push(new onnx.ValueInfoProto({ ...v, name: rename(v.name) }));
    for (const v of g.output) graph.output.push(new onnx.ValueInfoProto({ ...v, name: rename(v.name) }));
    inputs.push(rename(realInputs[0]!.name));
    outputs.push(rename(g.output[0]!.name));
  }
  const first = models[0]!;
  const fused = new onnx.ModelProto({
    irVersion: Math.max(...models.map((m) => Number(m.irVersion))),
    opsetImport: first.opsetImport,
    producerName: 'po (fused surrogate models)',
    graph,
  });
  return { bytes: onnx.ModelProto.encode(fused).finish(), inputs, outputs };
}

function opsetKey(opsets: readonly Onnx.IOperatorSetIdProto[]): string {
  return opsets
    .map((o) => `${o.domain || 'ai.onnx'}:${Number(o.version)}`)
    .sort()
    .join(',');
}
