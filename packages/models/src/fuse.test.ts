import { describe, expect, it } from 'vitest';
import { compatRequest, expected, FIXTURES } from '../test/compat.ts';
import { fuseOnnxModels } from './fuse.ts';
import { buildMlpOnnx } from './mlp-onnx.ts';
import { localModelFiles } from './paths.ts';
import { createModelProvider } from './provider.ts';

describe('fusing independent models into one graph', () => {
  it("gives exactly each member's predictions, and the predecessor's numbers, with one run per batch", async () => {
    const provider = createModelProvider({ readFile: localModelFiles(FIXTURES) });
    const members = await Promise.all(expected.models.map((m) => provider.load(compatRequest(m))));
    const group = await provider.fuse(members);
    expect(group).toBeDefined();
    const rows = 30;
    const inputs = expected.models.map((m: { rows: { x: number[] }[] }) =>
      Float64Array.from(m.rows.flatMap((r) => r.x)),
    );
    const outs = members.map(() => new Float64Array(rows));
    await group!.predict(inputs, rows, outs);
    expected.models.forEach((m, i) => {
      m.rows.forEach((row, r) => {
        expect(Math.abs(outs[i]![r]! - row.output)).toBeLessThanOrEqual(1e-5 * Math.abs(row.output));
      });
    });
    const alone = new Float64Array(rows);
    await members[1]!.predict(inputs[1]!, rows, alone);
    expect([...outs[1]!]).toEqual([...alone]);
    await group!.dispose();
    await provider.dispose();
  });

  it('does not fuse one model, or models another provider loaded', async () => {
    const a = createModelProvider({ readFile: localModelFiles(FIXTURES) });
    const b = createModelProvider({ readFile: localModelFiles(FIXTURES) });
    const m0 = await a.load(compatRequest(expected.models[0]!));
    const m1 = await b.load(compatRequest(expected.models[1]!));
    expect(await a.fuse([m0])).toBeUndefined();
    expect(await a.fuse([m0, m1])).toBeUndefined();
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it('says why models cannot be fused', () => {
    const linear = buildMlpOnnx({ inputSize: 1, layers: [{ kind: 'linear', weight: [[2]], bias: [0] }] });
    expect(fuseOnnxModels([linear])).toBe('fewer than two models');
    expect(fuseOnnxModels([linear, new Uint8Array([1, 2, 3])])).toMatch(/does not decode|has no graph/);
    const fused = fuseOnnxModels([linear, linear]);
    expect(typeof fused).toBe('object');
    expect(fused).toMatchObject({ inputs: ['m0/input', 'm1/input'], outputs: ['m0/output', 'm1/output'] });
  });
});
