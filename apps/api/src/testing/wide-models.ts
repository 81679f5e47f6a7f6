/**
 * For tests that need compiling a strategy to take long on any machine (time limits, ending
 * workers): the demo's model files with each network replaced by a wide, deep one with the
 * same inputs. Compiling then spends most of its time in ONNX Runtime (sessions created,
 * conformance runs) instead of the few milliseconds the demo's small networks take.
 */
import type { ModelFileReader } from '@po/core';
import { buildMlpOnnx, localModelFiles, type MlpLayer } from '@po/models';

/**
 * Reads `modelsDir` (the demo's layout), answering wide networks for `saved_models/*_ann.onnx`
 * (built once per path: `prepare` builds them ahead, so requests do not wait for it).
 */
export function wideModelFiles(
  modelsDir: string,
  width = 768,
  hiddenLayers = 2,
): ModelFileReader & { prepare(paths: readonly string[]): Promise<void> } {
  const demo = localModelFiles(modelsDir);
  const built = new Map<string, Promise<Uint8Array>>();
  const read = (path: string): Promise<Uint8Array> => {
    const model = /^saved_models\/(.+)_ann\.onnx$/.exec(path);
    if (!model) return demo(path);
    let bytes = built.get(path);
    if (!bytes) {
      bytes = wideNetwork(demo, model[1]!, width, hiddenLayers);
      built.set(path, bytes);
    }
    return bytes;
  };
  return Object.assign(read, {
    prepare: async (paths: readonly string[]) => {
      await Promise.all(paths.map(read));
    },
  });
}

async function wideNetwork(
  demo: ModelFileReader,
  name: string,
  width: number,
  hiddenLayers: number,
): Promise<Uint8Array> {
  const metadata = JSON.parse(
    new TextDecoder().decode(await demo(`saved_metadata/${name}_metadata.json`)),
  ) as { inputs: string[] };
  const linear = (out: number, inputs: number): MlpLayer => ({
    kind: 'linear',
    weight: Float32Array.from({ length: out * inputs }, (_, k) => Math.sin(k) / Math.sqrt(inputs)),
    bias: new Float32Array(out),
  });
  const layers: MlpLayer[] = [linear(width, metadata.inputs.length), { kind: 'activation', fn: 'gelu' }];
  for (let i = 1; i < hiddenLayers; i++)
    layers.push(linear(width, width), { kind: 'activation', fn: 'gelu' });
  layers.push(linear(1, width));
  return buildMlpOnnx({ inputSize: metadata.inputs.length, layers });
}
