import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemoModels, DEMO_MODELS } from '../scripts/build-demo-models.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';

/** The committed demo models (created by `tsx scripts/build-demo-models.ts ../../config/demo`). */
const COMMITTED = fileURLToPath(new URL('../../../config/demo/', import.meta.url));

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('demo models', () => {
  let outDir: string;
  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'po-demo-models-'));
    await buildDemoModels(outDir);
  }, 60_000);
  afterAll(() => rm(outDir, { recursive: true, force: true }));

  it('regenerate byte-identical to config/demo/models', async () => {
    expect(
      existsSync(join(COMMITTED, 'models')),
      'config/demo/models is missing: run `pnpm --filter @po/models exec tsx scripts/build-demo-models.ts ../../config/demo`',
    ).toBe(true);
    const fresh = await listFiles(join(outDir, 'models'));
    expect(fresh).toHaveLength(9);
    expect(await listFiles(join(COMMITTED, 'models'))).toEqual(fresh);
    for (const file of fresh) {
      const a = await readFile(join(outDir, 'models', file));
      const b = await readFile(join(COMMITTED, 'models', file));
      expect(a.equals(b), `${file} differs from config/demo/models; regenerate it`).toBe(true);
    }
  });

  it('load through the provider and respond with the documented signs', async () => {
    const provider = createModelProvider({ readFile: localModelFiles(outDir) });
    for (const spec of DEMO_MODELS) {
      const model = await provider.load({
        skill: spec.skill,
        modelPath: `saved_models/demo_${spec.output}_ann.onnx`,
        scalerPath: `saved_scalers/demo_${spec.output}_scalers.json`,
        metadataPath: `saved_metadata/demo_${spec.output}_metadata.json`,
        inputs: spec.inputs.map((i) => i.name),
        output: spec.output,
      });
      expect(model.warnings).toEqual([]);
      expect(model.activation).toBe('gelu');
      const n = spec.inputs.length;
      // Row 0: all zero; then per input +half and -half of its box.
      const count = 1 + 2 * n;
      const inputs = new Float64Array(count * n);
      spec.inputs.forEach((input, j) => {
        inputs[(1 + 2 * j) * n + j] = input.halfwidth / 2;
        inputs[(2 + 2 * j) * n + j] = -input.halfwidth / 2;
      });
      const out = new Float64Array(count);
      await model.predict(inputs, count, out);
      const scale = Math.max(...Array.from(out, Math.abs));
      expect(Math.abs(out[0]!), `${spec.output} at zero`).toBeLessThan(0.1 * scale);
      spec.inputs.forEach((input, j) => {
        const x = Array.from(inputs.subarray((1 + 2 * j) * n, (2 + 2 * j) * n));
        const want = spec.response(x) - spec.response(x.map((v) => -v));
        const got = out[1 + 2 * j]! - out[2 + 2 * j]!;
        expect(Math.sign(got), `${spec.output} vs ${input.name}`).toBe(Math.sign(want));
        expect(Math.abs(got - want), `${spec.output} vs ${input.name}`).toBeLessThan(
          0.25 * Math.abs(want) + 0.05 * scale,
        );
      });
    }
    await provider.dispose();
  });
});
