/**
 * Engine benchmarks on the predecessor's strategy with the compat models (ONNX exports):
 * full-cycle latency and evaluations per cycle (against the predecessor's scipy counts), the
 * same on 200 random plant states, batched evaluation and value-and-gradient throughput, and
 * RSS over 100,000 cycles in one process.
 * Run: pnpm --filter @po/rto-engine bench   (prints markdown for BENCHMARKS.md)
 *      BENCH_CYCLES=20000 to shorten the memory run; BENCH_PARTS=states,random,throughput,memory
 *      (any subset, comma-separated; also `cpu`: CPU time per cycle by state, which a loaded
 *      machine inflates less than wall-clock time) to run only some tables; BENCH_STATES=opt-06,probe-3 to time
 *      only those predecessor states (e.g. under node --cpu-prof).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '@po/core';
import { createModelProvider, localModelFiles } from '@po/models';
import { parse } from 'yaml';
import { compileStrategy } from '../src/index.ts';

const fixtures = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const cases = JSON.parse(readFileSync(`${fixtures}expected/optimize-cases.json`, 'utf8')).cases as {
  case_id: string;
  input_data: Record<string, number>;
  bounds: [number, number][];
  success: boolean;
  cost: number;
  scipy: { nfev: number; fun: number };
}[];

const probes = JSON.parse(readFileSync(`${fixtures}expected/forward-probes.json`, 'utf8')).states as {
  state_id: string;
  input_data: Record<string, number>;
}[];

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function load(algorithm?: string) {
  const spec = parse(readFileSync(`${fixtures}predecessor-strategy.onnx.yaml`, 'utf8'));
  spec.engine = { compat: 'predecessor' };
  if (algorithm) spec.skills.os_main_optimizer.config.algorithm = algorithm;
  return compileStrategy(spec, {
    modelProvider: createModelProvider({ readFile: localModelFiles(fixtures) }),
  });
}

type Strategy = Awaited<ReturnType<typeof load>>;

/** `cycles` timed cycles after 20 warm-up ones; the times and the last result. */
async function timeCycles(strategy: Strategy, state: Record<string, number>, cycles: number) {
  for (let i = 0; i < 20; i++) await strategy.optimize(state);
  const times: number[] = [];
  let result = await strategy.optimize(state);
  for (let i = 0; i < cycles; i++) {
    const t = performance.now();
    result = await strategy.optimize(state);
    times.push(performance.now() - t);
  }
  return { times, result };
}

const ms = (v: number) => v.toFixed(3);

async function predecessorStates(strategy: Strategy, before: Strategy) {
  console.log(
    '## @po/rto-engine: cycle latency (predecessor strategy, compat models, SLSQP = projected-bfgs)\n',
  );
  console.log(
    `Command: \`pnpm --filter @po/rto-engine bench\` — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}. ` +
      `Method: after an untimed warm-up of ${WARM_UP_STATES * WARM_UP_CYCLES} cycles on ${WARM_UP_STATES} random states ` +
      `(seed ${WARM_UP_SEED}, none of the states below), 20 untimed then 200 timed cycles per state.\n`,
  );
  console.log(
    '| state | cycles | median ms | p95 ms | evaluations/cycle | scipy nfev | projected-quasi-newton evaluations | iterations | cost | scipy cost |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const all: number[] = [];
  const states = [
    ...cases.map((c) => ({ id: c.case_id, input: c.input_data, scipy: c })),
    ...probes.map((p) => ({ id: p.state_id, input: p.input_data, scipy: undefined })),
  ];
  const only = process.env.BENCH_STATES?.split(',');
  for (const state of states) {
    if (only && !only.includes(state.id)) continue;
    const { times, result } = await timeCycles(strategy, state.input, 200);
    const old = await before.optimize(state.input);
    times.sort((a, b) => a - b);
    all.push(...times);
    const o = result.optimizer;
    const scipyCost = state.scipy
      ? state.scipy.success
        ? state.scipy.cost
        : state.scipy.scipy.fun
      : undefined;
    console.log(
      `| ${state.id} | ${times.length} | ${ms(quantile(times, 0.5))} | ${ms(quantile(times, 0.95))} | ${o.evaluations} | ${state.scipy?.scipy.nfev ?? '–'} | ${old.optimizer.evaluations} | ${o.iterations} | ${result.cost_function_value.toFixed(4)} | ${scipyCost?.toFixed(4) ?? '–'} |`,
    );
  }
  all.sort((a, b) => a - b);
  console.log(
    `| **${only ? only.join(', ') : 'all 12 predecessor states'}** | ${all.length} | **${ms(quantile(all, 0.5))}** | **${ms(quantile(all, 0.95))}** | | | | | | |\n`,
  );
}

/** `count` random plant states (seeded), each input uniform within the span of the 12 predecessor states. */
function randomInputs(seed: number, count: number): Record<string, number>[] {
  const inputs = [...cases.map((c) => c.input_data), ...probes.map((p) => p.input_data)];
  const names = Object.keys(inputs[0]!);
  const lo = names.map((n) => Math.min(...inputs.map((s) => s[n]!)));
  const hi = names.map((n) => Math.max(...inputs.map((s) => s[n]!)));
  const rng = mulberry32(seed);
  return Array.from({ length: count }, () =>
    Object.fromEntries(names.map((n, j) => [n, lo[j]! + rng() * (hi[j]! - lo[j]!)])),
  );
}

/**
 * Untimed warm-up before any table: cycles on random states of another seed (none of the states
 * timed), so that the first state timed does not carry the process's JIT warm-up. A plant runs a
 * cycle a minute in a long-lived process: the steady state is what the tables measure.
 */
const WARM_UP_SEED = 7;
const WARM_UP_STATES = 50;
const WARM_UP_CYCLES = 20;

async function warmUp(strategy: Strategy) {
  for (const state of randomInputs(WARM_UP_SEED, WARM_UP_STATES)) {
    for (let i = 0; i < WARM_UP_CYCLES; i++) await strategy.optimize(state);
  }
}

/** 200 random plant states, each input uniform within the span of the 12 predecessor states. */
async function randomStates(strategy: Strategy) {
  const times: number[] = [];
  const evaluations: number[] = [];
  let held = 0;
  let gains = 0;
  for (const state of randomInputs(2026, 200)) {
    const { times: t, result } = await timeCycles(strategy, state, 20);
    times.push(...t);
    evaluations.push(result.optimizer.evaluations);
    if (result.warnings.some((w) => w.startsWith('holding'))) held++;
    gains += result.cost_at_current - result.cost_function_value;
  }
  times.sort((a, b) => a - b);
  evaluations.sort((a, b) => a - b);
  console.log(
    "## @po/rto-engine: 200 random plant states (seed 2026, each input uniform over the 12 states' span)\n",
  );
  console.log('| | median | p95 | max |');
  console.log('|---|---|---|---|');
  console.log(
    `| cycle ms (20 timed cycles per state) | ${ms(quantile(times, 0.5))} | ${ms(quantile(times, 0.95))} | ${ms(times.at(-1)!)} |`,
  );
  console.log(
    `| evaluations/cycle | ${quantile(evaluations, 0.5)} | ${quantile(evaluations, 0.95)} | ${evaluations.at(-1)} |`,
  );
  console.log(
    `\nHeld (no better answer than the current values): ${held} of 200; mean cost gain over holding ${(gains / 200).toFixed(3)}.\n`,
  );
}

async function throughput(strategy: Strategy) {
  console.log('## @po/rto-engine: evaluation throughput (cost composition, 3 models)\n');
  console.log('| batch size | what | calls | points/s | µs per call |');
  console.log('|---|---|---|---|---|');
  const c = cases[0]!;
  const n = strategy.decisionVariables.length;
  for (const size of [1, 64]) {
    const points = new Float64Array(size * n);
    for (let r = 0; r < size; r++) {
      for (let j = 0; j < n; j++) {
        const [lo, hi] = c.bounds[j]!;
        points[r * n + j] = lo + (((r * 7 + j * 13) % 17) / 16) * (hi - lo);
      }
    }
    const runs = {
      'value (ONNX Runtime)': () => strategy.evaluate(c.input_data, points, size),
      'value and gradient (kernel)': () => strategy.evaluateGradient!(c.input_data, points, size),
    };
    for (const [what, run] of Object.entries(runs)) {
      for (let i = 0; i < 50; i++) await run();
      const calls = Math.max(50, Math.round(100_000 / size));
      const t = performance.now();
      for (let i = 0; i < calls; i++) await run();
      const seconds = (performance.now() - t) / 1000;
      console.log(
        `| ${size} | ${what} | ${calls} | ${Math.round((calls * size) / seconds).toLocaleString('en-US')} | ${((seconds * 1e6) / calls).toFixed(1)} |`,
      );
    }
  }
  console.log('\nEach call includes the per-call set-up (plant state, PreCalculateVariables).\n');
}

/** CPU time (this process, all threads) per cycle by state: 200 cycles after 20 warm-up ones. */
async function cpuTime(strategy: Strategy) {
  console.log('## @po/rto-engine: CPU time per cycle (process.cpuUsage, 200 cycles per state)\n');
  console.log('| state | CPU ms/cycle | evaluations/cycle |');
  console.log('|---|---|---|');
  const states = [
    ...cases.map((c) => ({ id: c.case_id, input: c.input_data })),
    ...probes.map((p) => ({ id: p.state_id, input: p.input_data })),
  ];
  let sum = 0;
  for (const state of states) {
    for (let i = 0; i < 20; i++) await strategy.optimize(state.input);
    const start = process.cpuUsage();
    let result = await strategy.optimize(state.input);
    for (let i = 1; i < 200; i++) result = await strategy.optimize(state.input);
    const used = process.cpuUsage(start);
    const perCycle = (used.user + used.system) / 1000 / 200;
    sum += perCycle;
    console.log(`| ${state.id} | ${ms(perCycle)} | ${result.optimizer.evaluations} |`);
  }
  console.log(`| **sum of the 12** | **${ms(sum)}** | |\n`);
}

async function memory(strategy: Strategy) {
  const total = Number(process.env.BENCH_CYCLES ?? 100_000);
  const states = [...cases.map((c) => c.input_data), ...probes.map((p) => p.input_data)];
  console.log(`## @po/rto-engine: memory over ${total.toLocaleString('en-US')} cycles in one process\n`);
  console.log('| cycles | RSS MiB | heap used MiB |');
  console.log('|---|---|---|');
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const row = (k: number) => {
    const m = process.memoryUsage();
    console.log(`| ${k.toLocaleString('en-US')} | ${mib(m.rss)} | ${mib(m.heapUsed)} |`);
  };
  row(0);
  const t = performance.now();
  for (let k = 1; k <= total; k++) {
    await strategy.optimize(states[k % states.length]!);
    if (k % 10_000 === 0) row(k);
  }
  console.log(
    `\n${total} cycles (the 12 states in turn) in ${((performance.now() - t) / 1000).toFixed(1)} s.\n`,
  );
}

const parts = new Set((process.env.BENCH_PARTS ?? 'states,random,throughput,memory').split(','));

async function main() {
  const strategy = await load();
  const before = await load('projected-quasi-newton');
  await warmUp(strategy);
  if (parts.has('states')) await predecessorStates(strategy, before);
  if (parts.has('random')) await randomStates(strategy);
  if (parts.has('throughput')) await throughput(strategy);
  if (parts.has('cpu')) await cpuTime(strategy);
  if (parts.has('memory')) await memory(strategy);
  await before.dispose();
  await strategy.dispose();
}

await main();
