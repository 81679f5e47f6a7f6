/**
 * Inference latency of the compat models through `SurrogateModel.predict`
 * (scaling + one ONNX Runtime run + inverse scaling per batch).
 *
 *   pnpm --filter @po/models bench
 *
 * Prints a markdown table: median and p95 per call over a fixed number of calls,
 * after a warm-up, for batch sizes 1, 11, 64 and 1024.
 */
import { readFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createModelProvider, localModelFiles } from '../src/index.ts';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const BATCH_SIZES = [1, 11, 64, 1024];
const WARMUP = 50;
const CALLS = 500;

interface CompatModel {
  skill: string;
  onnx_file: string;
  scaler_params_file: string;
  metadata_file: string | null;
  inputs: string[];
  output: string;
  rows: { x: number[] }[];
}

const { models } = JSON.parse(readFileSync(`${FIXTURES}expected/model-outputs.json`, 'utf8')) as {
  models: CompatModel[];
};

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
const lines = [
  '`pnpm --filter @po/models bench`',
  '',
  `Node ${process.version}, ${platform()} ${arch()}, ${cpus()[0]?.model ?? 'unknown CPU'}; onnxruntime-node, 1 thread; ` +
    `${CALLS} calls after ${WARMUP} warm-up calls per cell.`,
  '',
  '| model | batch | median µs/call | p95 µs/call | median µs/row |',
  '|---|---:|---:|---:|---:|',
];
for (const compat of models) {
  const model = await provider.load({
    skill: compat.skill,
    modelPath: compat.onnx_file,
    scalerPath: compat.scaler_params_file,
    metadataPath: compat.metadata_file ?? undefined,
    inputs: compat.inputs,
    output: compat.output,
  });
  const n = compat.inputs.length;
  for (const batch of BATCH_SIZES) {
    const inputs = new Float64Array(batch * n);
    for (let r = 0; r < batch; r++) inputs.set(compat.rows[r % compat.rows.length]!.x, r * n);
    const out = new Float64Array(batch);
    for (let i = 0; i < WARMUP; i++) await model.predict(inputs, batch, out);
    const times = new Float64Array(CALLS);
    for (let i = 0; i < CALLS; i++) {
      const start = performance.now();
      await model.predict(inputs, batch, out);
      times[i] = (performance.now() - start) * 1000;
    }
    times.sort();
    const median = percentile(times, 0.5);
    lines.push(
      `| ${compat.skill} | ${batch} | ${median.toFixed(1)} | ${percentile(times, 0.95).toFixed(1)} | ${(median / batch).toFixed(2)} |`,
    );
  }
  await model.dispose();
}
await provider.dispose();
process.stdout.write(`${lines.join('\n')}\n`);
