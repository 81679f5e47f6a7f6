/**
 * The predecessor's .pth + .pkl files through the provider: load time (median of N loads,
 * ONNX session creation included) and inference latency per batch size of the converted
 * networks against the same networks exported by PyTorch (the compat .onnx files).
 *
 *   pnpm --filter @po/models bench
 */
import { readFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ModelRequest } from '@po/core';
import { createModelProvider, importPthModel, importScalerPickle, localModelFiles } from '../src/index.ts';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const LOADS = 30;
const BATCH_SIZES = [1, 11, 64, 1024];
const WARMUP = 50;
const CALLS = 500;

interface CompatModel {
  skill: string;
  model_file: string;
  onnx_file: string;
  scaler_file: string;
  scaler_params_file: string;
  metadata_file: string | null;
  inputs: string[];
  output: string;
  rows: { x: number[] }[];
}

const { models } = JSON.parse(readFileSync(`${FIXTURES}expected/model-outputs.json`, 'utf8')) as {
  models: CompatModel[];
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
const request = (m: CompatModel, pth: boolean): ModelRequest => ({
  skill: m.skill,
  modelPath: pth ? m.model_file : m.onnx_file,
  scalerPath: pth ? m.scaler_file : m.scaler_params_file,
  metadataPath: m.metadata_file ?? undefined,
  inputs: m.inputs,
  output: m.output,
});

const load = [
  `Node ${process.version}, ${platform()} ${arch()}, ${cpus()[0]?.model ?? 'unknown CPU'}; onnxruntime-node, 1 thread.`,
  '',
  `Load through \`provider.load\` (read files, parse, convert, create the ONNX session), median of ${LOADS}:`,
  '',
  '| model | .pth + .pkl (ms) | of which import (ms) | .onnx + .params.json (ms) |',
  '|---|---:|---:|---:|',
];
for (const m of models) {
  const times = { pth: [] as number[], onnx: [] as number[], convert: [] as number[] };
  const pthBytes = readFileSync(`${FIXTURES}models/${m.model_file}`);
  const pklBytes = readFileSync(`${FIXTURES}models/${m.scaler_file}`);
  for (let i = 0; i < LOADS + 3; i++) {
    for (const pth of [true, false]) {
      const start = performance.now();
      const model = await provider.load(request(m, pth));
      const elapsed = performance.now() - start;
      await model.dispose();
      if (i >= 3) (pth ? times.pth : times.onnx).push(elapsed);
    }
    const start = performance.now();
    importPthModel(pthBytes, { file: m.model_file, inputs: m.inputs });
    importScalerPickle(pklBytes, m.scaler_file);
    if (i >= 3) times.convert.push(performance.now() - start);
  }
  load.push(
    `| ${m.skill} | ${median(times.pth).toFixed(2)} | ${median(times.convert).toFixed(3)} | ${median(times.onnx).toFixed(2)} |`,
  );
}

const latency = [
  '',
  `Inference through \`predict\` (scaling + one ONNX run + inverse scaling), median µs per call over ${CALLS} calls:`,
  '',
  '| model | batch | converted from .pth | PyTorch export (.onnx) |',
  '|---|---:|---:|---:|',
];
for (const m of models) {
  const loaded = [await provider.load(request(m, true)), await provider.load(request(m, false))];
  const n = m.inputs.length;
  for (const batch of BATCH_SIZES) {
    const inputs = new Float64Array(batch * n);
    for (let r = 0; r < batch; r++) inputs.set(m.rows[r % m.rows.length]!.x, r * n);
    const out = new Float64Array(batch);
    const cells: string[] = [];
    for (const model of loaded) {
      for (let i = 0; i < WARMUP; i++) await model.predict(inputs, batch, out);
      const times: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        const start = performance.now();
        await model.predict(inputs, batch, out);
        times.push((performance.now() - start) * 1000);
      }
      cells.push(median(times).toFixed(1));
    }
    latency.push(`| ${m.skill} | ${batch} | ${cells[0]} | ${cells[1]} |`);
  }
  await Promise.all(loaded.map((l) => l.dispose()));
}
await provider.dispose();
process.stdout.write(`${[...load, ...latency].join('\n')}\n`);
