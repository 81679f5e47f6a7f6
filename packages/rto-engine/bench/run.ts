/**
 * Engine benchmarks on the predecessor's strategy with the compat models (ONNX exports):
 * full-cycle latency and evaluations per cycle, and batched evaluation throughput.
 * Run: pnpm --filter @po/rto-engine bench   (prints markdown for BENCHMARKS.md)
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createModelProvider, localModelFiles } from '@po/models';
import { parse } from 'yaml';
import { compileStrategy } from '../src/index.ts';

const fixtures = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const cases = JSON.parse(readFileSync(`${fixtures}expected/optimize-cases.json`, 'utf8')).cases as {
  case_id: string;
  input_data: Record<string, number>;
  bounds: [number, number][];
}[];

const probes = JSON.parse(readFileSync(`${fixtures}expected/forward-probes.json`, 'utf8')).states as {
  state_id: string;
  input_data: Record<string, number>;
}[];

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main() {
  const spec = parse(readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8'));
  spec.engine = { compat: 'predecessor' };
  const strategy = await compileStrategy(spec, {
    modelProvider: createModelProvider({ readFile: localModelFiles(fixtures) }),
  });

  console.log(
    `## @po/rto-engine: cycle latency (predecessor strategy, compat models, SLSQP = projected-quasi-newton)\n`,
  );
  console.log(
    `Command: \`pnpm --filter @po/rto-engine bench\` — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}\n`,
  );
  console.log(
    '| case | cycles | median ms | p95 ms | evaluations/cycle | batches/cycle | iterations | cost |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const all: number[] = [];
  for (const c of cases) {
    for (let i = 0; i < 20; i++) await strategy.optimize(c.input_data); // warm-up
    const times: number[] = [];
    let result = await strategy.optimize(c.input_data);
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      result = await strategy.optimize(c.input_data);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    all.push(...times);
    const o = result.optimizer;
    console.log(
      `| ${c.case_id} | ${times.length} | ${quantile(times, 0.5).toFixed(3)} | ${quantile(times, 0.95).toFixed(3)} | ${o.evaluations} | ${o.batches} | ${o.iterations} | ${result.cost_function_value.toFixed(4)} |`,
    );
  }
  all.sort((a, b) => a - b);
  const row = (label: string) =>
    `| **${label}** | ${all.length} | **${quantile(all, 0.5).toFixed(3)}** | **${quantile(all, 0.95).toFixed(3)}** | | | | |`;
  console.log(row('the 6 reference cases'));
  // The forward-probe states are predecessor plant states too (two push values past the physical limits).
  for (const p of probes) {
    for (let i = 0; i < 20; i++) await strategy.optimize(p.input_data);
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await strategy.optimize(p.input_data);
      all.push(performance.now() - t);
    }
  }
  all.sort((a, b) => a - b);
  console.log(`${row('all 12 predecessor states (the 6 cases + the 6 forward-probe states)')}\n`);

  console.log('## @po/rto-engine: batched evaluation throughput (cost composition, 3 ONNX models)\n');
  console.log('| batch size | batches | points/s | µs per batch |');
  console.log('|---|---|---|---|');
  const c = cases[0]!;
  const n = strategy.decisionVariables.length;
  for (const size of [1, 11, 64, 256, 1024]) {
    const points = new Float64Array(size * n);
    for (let r = 0; r < size; r++) {
      for (let j = 0; j < n; j++) {
        const [lo, hi] = c.bounds[j]!;
        points[r * n + j] = lo + (((r * 7 + j * 13) % 17) / 16) * (hi - lo);
      }
    }
    for (let i = 0; i < 50; i++) await strategy.evaluate(c.input_data, points, size);
    const batches = Math.max(50, Math.round(200_000 / size));
    const t = performance.now();
    for (let i = 0; i < batches; i++) await strategy.evaluate(c.input_data, points, size);
    const seconds = (performance.now() - t) / 1000;
    console.log(
      `| ${size} | ${batches} | ${Math.round((batches * size) / seconds).toLocaleString('en-US')} | ${((seconds * 1e6) / batches).toFixed(1)} |`,
    );
  }
  console.log(
    '\nEach batch includes the per-cycle set-up (plant state, PreCalculateVariables) that `evaluate` does once per call.',
  );
  await strategy.dispose();
}

await main();
