/**
 * The predecessor's .pth + .pkl files through the provider: load time (median of N loads,
 * ONNX session creation included) and inference latency per batch size of the converted
 * networks against the same networks exported by PyTorch (the compat .onnx files).
 *
 *   pnpm --filter @po/models bench
 */
import { readFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { createModelProvider, importPthModel, importScalerPickle, localModelFiles } from '../src/index.ts';
import { compatRequest, expected, FIXTURES, pthRequest, stackRows } from '../test/compat.ts';
import { median, percentile, timePredict } from './timing.ts';

const LOADS = 30;
const BATCH_SIZES = [1, 11, 64, 1024];
const WARMUP = 50;
const CALLS = 500;

const { models } = expected;
const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
const request = (m: (typeof models)[number], pth: boolean) => (pth ? pthRequest(m) : compatRequest(m));

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
  for (const batch of BATCH_SIZES) {
    const inputs = stackRows(
      m.rows.map((row) => row.x),
      batch,
    );
    const cells: string[] = [];
    for (const model of loaded) {
      const times = await timePredict(model, inputs, batch, { warmup: WARMUP, calls: CALLS });
      cells.push(percentile(times, 0.5).toFixed(1));
    }
    latency.push(`| ${m.skill} | ${batch} | ${cells[0]} | ${cells[1]} |`);
  }
  await Promise.all(loaded.map((l) => l.dispose()));
}
await provider.dispose();
process.stdout.write(`${[...load, ...latency].join('\n')}\n`);
