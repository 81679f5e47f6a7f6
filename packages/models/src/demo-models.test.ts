import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemoModels, DEMO_MODELS, kilnSlope } from '../scripts/build-demo-models.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';

/** The committed demo models and example state (created by `pnpm demo:models`). */
const COMMITTED = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const REGENERATE = 'run `pnpm demo:models` at the repository root';

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
    // A hang guard, not a timing check: training takes tens of seconds, minutes on a loaded machine.
  }, 300_000);
  afterAll(() => rm(outDir, { recursive: true, force: true }));

  it('regenerate byte-identical to config/demo/models and config/demo/example-state.json', async () => {
    expect(existsSync(join(COMMITTED, 'models')), `config/demo/models is missing: ${REGENERATE}`).toBe(true);
    const fresh = await listFiles(join(outDir, 'models'));
    expect(fresh).toHaveLength(9);
    expect(await listFiles(join(COMMITTED, 'models'))).toEqual(fresh);
    for (const file of [...fresh.map((f) => join('models', f)), 'example-state.json']) {
      const a = await readFile(join(outDir, file));
      const b = await readFile(join(COMMITTED, file));
      expect(a.equals(b), `config/demo/${file} differs from a fresh build: ${REGENERATE}`).toBe(true);
    }
  });

  it('fit the simulator: held-out R² and documented metadata', async () => {
    for (const spec of DEMO_MODELS) {
      const metadata = JSON.parse(
        await readFile(join(outDir, 'models', `saved_metadata/demo_${spec.output}_metadata.json`), 'utf8'),
      );
      expect(metadata.source).toMatch(/^demo kiln simulator, seed \d+$/);
      expect(metadata.activation).toBe('gelu');
      expect(metadata.training.pairs.held_out).toBeGreaterThan(100);
      expect(metadata.training.held_out_r2, spec.output).toBeGreaterThan(0.6);
    }
  });

  it("load through the provider and respond like the kiln's steady state (sign and size)", async () => {
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
      // Row 0: all zero; then per input +probe and -probe (a typical move in one cycle).
      const count = 1 + 2 * n;
      const inputs = new Float64Array(count * n);
      spec.inputs.forEach((input, j) => {
        inputs[(1 + 2 * j) * n + j] = input.probe;
        inputs[(2 + 2 * j) * n + j] = -input.probe;
      });
      const out = new Float64Array(count);
      await model.predict(inputs, count, out);
      const moves = spec.inputs.map((_, j) => Math.abs(out[1 + 2 * j]! - out[2 + 2 * j]!));
      expect(Math.abs(out[0]!), `${spec.output} at zero`).toBeLessThan(0.25 * Math.max(...moves));
      spec.inputs.forEach((input, j) => {
        const slope = (out[1 + 2 * j]! - out[2 + 2 * j]!) / (2 * input.probe);
        const want = kilnSlope(spec.output, input.name, input.probe / 10);
        expect(Math.sign(slope), `${spec.output} vs ${input.name}`).toBe(Math.sign(want));
        expect(Math.abs(slope - want), `${spec.output} vs ${input.name}`).toBeLessThan(0.5 * Math.abs(want));
      });
    }
    await provider.dispose();
  });
});
