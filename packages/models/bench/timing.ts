import type { SurrogateModel } from '@po/core';

/** Per-call latency of `predict` in µs, sorted ascending: `calls` timed calls after `warmup` untimed ones. */
export async function timePredict(
  model: SurrogateModel,
  inputs: Float64Array,
  batch: number,
  { warmup, calls }: { warmup: number; calls: number },
): Promise<Float64Array> {
  const out = new Float64Array(batch);
  for (let i = 0; i < warmup; i++) await model.predict(inputs, batch, out);
  const times = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await model.predict(inputs, batch, out);
    times[i] = (performance.now() - start) * 1000;
  }
  return times.sort();
}

/** The value at fraction `p` of sorted samples (the median at 0.5). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** The median of unsorted samples. */
export function median(values: readonly number[]): number {
  return percentile(Float64Array.from(values).sort(), 0.5);
}
