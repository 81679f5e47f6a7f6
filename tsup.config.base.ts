import type { Options } from 'tsup';

/** The build every package spreads: ESM, declarations, sources maps, Node 20. */
export const baseBuild: Options = {
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: false,
  treeshake: true,
};
