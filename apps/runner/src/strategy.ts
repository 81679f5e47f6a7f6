import type { StrategySource } from '@po/core';

/** A strategy that never changes (tests, or a strategy compiled by the caller). */
export function staticStrategySource<Strategy>(
  strategy: Strategy,
  version: string | null = null,
): StrategySource<Strategy> {
  const loaded = { version, strategy };
  return { current: async () => loaded, status: () => ({ state: 'loaded', version }) };
}
