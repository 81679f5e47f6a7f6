/**
 * Inference latency of the compat models through `SurrogateModel.predict`
 * (scaling + one ONNX Runtime run + inverse scaling per batch).
 *
 *   pnpm --filter @po/models bench
 *
 * Prints a markdown table: median and p95 per call over a fixed number of calls,
 * after a warm-up, for batch sizes 1, 11, 64 and 1024.
 */
import { arch, cpus, platform } from 'node:os';
import { createModelProvider, localModelFiles } from '../src/index.ts';
import { compatRequest, expected, FIXTURES, stackRows } from '../test/compat.ts';
import { percentile, timePredict } from './timing.ts';

const BATCH_SIZES = [1, 11, 64, 1024];
const WARMUP = 50;
const CALLS = 500;

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
for (const compat of expected.models) {
  const model = await provider.load(compatRequest(compat));
  for (const batch of BATCH_SIZES) {
    const inputs = stackRows(
      compat.rows.map((row) => row.x),
      batch,
    );
    const times = await timePredict(model, inputs, batch, { warmup: WARMUP, calls: CALLS });
    const median = percentile(times, 0.5);
    lines.push(
      `| ${compat.skill} | ${batch} | ${median.toFixed(1)} | ${percentile(times, 0.95).toFixed(1)} | ${(median / batch).toFixed(2)} |`,
    );
  }
  await model.dispose();
}
await provider.dispose();
process.stdout.write(`${lines.join('\n')}\n`);
