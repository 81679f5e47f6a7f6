/** Seeded uniform random source in [0, 1) (mulberry32): 32 bits of state, the same sequence on every platform. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Standard normal draws (Box-Muller) from a uniform source, clipped to ±`clip`: measurement
 * noise on a plant is bounded, and a bound makes simulated noise testable.
 */
export function gaussian(uniform: () => number, clip = 3): () => number {
  return () => {
    const u = 1 - uniform(); // (0, 1]: log is finite
    const v = uniform();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.max(-clip, Math.min(clip, z));
  };
}
