/**
 * `po models convert` / `po models inspect` through the built binary (run
 * `pnpm --filter @po/cli build` first), on the predecessor's compat files.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModelProvider } from '@po/models';
import { afterAll, describe, expect, it } from 'vitest';
import { po as runPo } from '../test/po.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const compat = join(root, 'packages/models/test/fixtures/compat');
const tmp = mkdtempSync(join(tmpdir(), 'po-models-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const po = (...args: string[]) => runPo(args);

interface ExpectedModel {
  skill: string;
  model_file: string;
  scaler_file: string;
  inputs: string[];
  output: string;
  rows: { x: number[]; output: number }[];
}
const expected = JSON.parse(readFileSync(join(compat, 'expected/model-outputs.json'), 'utf8')) as {
  models: ExpectedModel[];
};

/** Runs converted files through the provider and checks the predecessor's outputs. */
async function checkOutputs(dir: string, model: ExpectedModel, modelPath: string, scalerPath: string) {
  const provider = createModelProvider({ readFile: async (p) => readFileSync(join(dir, p)) });
  const surrogate = await provider.load({
    skill: model.skill,
    modelPath,
    scalerPath,
    inputs: model.inputs,
    output: model.output,
  });
  const n = model.inputs.length;
  const inputs = new Float64Array(model.rows.length * n);
  model.rows.forEach((row, r) => {
    inputs.set(row.x, r * n);
  });
  const out = new Float64Array(model.rows.length);
  await surrogate.predict(inputs, model.rows.length, out);
  model.rows.forEach((row, r) => {
    expect(Math.abs(out[r]! - row.output)).toBeLessThanOrEqual(1e-5 * Math.abs(row.output));
  });
  await provider.dispose();
}

describe('po models convert', () => {
  const model = expected.models[1]!;

  it('converts a compat .pth to ONNX and a .pkl to JSON that give the expected outputs', async () => {
    const onnx = join(tmp, 'single', 'co.onnx');
    const json = join(tmp, 'single', 'co.json');
    const a = await po('models', 'convert', join(compat, 'models', model.model_file), '--out', onnx);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toContain('Linear(4→5) → BatchNorm(5) → gelu');
    const b = await po(
      'models',
      'convert',
      join(compat, 'models', model.scaler_file),
      '--out',
      json,
      '--json',
    );
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ kind: 'scalers', out: json });
    expect(JSON.parse(readFileSync(json, 'utf8')).format).toBe('po-scalers/1');
    await checkOutputs(join(tmp, 'single'), model, 'co.onnx', 'co.json');
    expect(readdirSync(join(tmp, 'single')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('--activation and --metadata choose the activation', async () => {
    const meta = join(tmp, 'meta.json');
    writeFileSync(meta, JSON.stringify({ activation: 'tanh' }));
    const out = join(tmp, 'act.onnx');
    const r = await po(
      'models',
      'convert',
      join(compat, 'models', model.model_file),
      '--metadata',
      meta,
      '--out',
      out,
      '--json',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ activation: 'tanh', activationSource: 'metadata' });
    const s = await po(
      'models',
      'convert',
      join(compat, 'models', model.model_file),
      '--activation',
      'relu',
      '--out',
      out,
    );
    expect(s.stdout).toContain('activation relu from skill');
  });

  it('batch: converts a copy of the compat layout with a --json summary', async () => {
    const data = join(tmp, 'data');
    cpSync(join(compat, 'models'), data, { recursive: true });
    const outDir = join(tmp, 'out');
    const r = await po('models', 'convert', '--data-dir', data, '--out-dir', outDir, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.failed).toEqual([]);
    expect(summary.converted).toHaveLength(6);
    expect(summary.copiedMetadata).toHaveLength(2);
    const co = summary.converted.find((c: { file: string }) =>
      c.file.endsWith('4_Calciner_outlet_CO_ann_model_fold_2.pth'),
    );
    expect(co.metadata).toContain('Calciner_outlet_CO_metadata.json');
    expect(co.activationSource).toBe('metadata layers');
    for (const m of expected.models) {
      await checkOutputs(
        outDir,
        m,
        m.model_file.replace(/\.pth$/, '.onnx'),
        m.scaler_file.replace(/\.pkl$/, '.json'),
      );
    }
    // Plain progress lines without a terminal.
    const plain = await po('models', 'convert', '--data-dir', data, '--out-dir', join(tmp, 'out2'));
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('6 converted, 0 failed, 2 metadata file(s) copied');
    expect(plain.stdout.match(/✓/g)).toHaveLength(6);
  });

  it('batch: a malicious file fails (exit 1, named) while the others convert', async () => {
    const data = join(tmp, 'data-evil');
    cpSync(join(compat, 'models'), data, { recursive: true });
    const marker = join(tmp, 'pwned-batch');
    writeFileSync(join(data, 'saved_scalers', 'evil.pkl'), evilPickle(marker));
    const r = await po('models', 'convert', '--data-dir', data, '--out-dir', join(tmp, 'out-evil'), '--json');
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout);
    expect(summary.converted).toHaveLength(6);
    expect(summary.failed[0].error).toContain("'os.system'");
    expect(existsSync(marker)).toBe(false);
  });
});

function evilPickle(marker: string): Uint8Array {
  const cmd = `touch ${marker}`;
  return Uint8Array.from([
    0x80,
    2,
    ...Array.from('cos\nsystem\n', (c) => c.charCodeAt(0)),
    0x58,
    cmd.length,
    0,
    0,
    0,
    ...Array.from(cmd, (c) => c.charCodeAt(0)),
    0x85,
    0x52,
    0x2e,
  ]);
}

describe('po models inspect', () => {
  it('a .pth: layers and shapes', async () => {
    const r = await po('models', 'inspect', join(compat, 'models', expected.models[0]!.model_file), '--json');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({ type: 'network', format: 'pth', inputSize: 5, outputSize: 1 });
    expect(d.layers[0]).toMatchObject({ module: 'network.0', kind: 'linear', shape: [5, 5] });
    const text = await po('models', 'inspect', join(compat, 'models', expected.models[0]!.model_file));
    expect(text.stdout).toContain('PyTorch state_dict, 5 input(s) -> 1 output(s)');
  });

  it('an .onnx: nodes and initializers', async () => {
    const r = await po(
      'models',
      'inspect',
      join(compat, 'models', expected.models[0]!.model_file.replace('.pth', '.onnx')),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Gemm');
    expect(r.stdout).toContain('5 input(s) -> 1 output(s)');
  });

  it('a .pkl and a .json: kind and parameters per key', async () => {
    const r = await po(
      'models',
      'inspect',
      join(compat, 'models', expected.models[1]!.scaler_file),
      '--json',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).scalers.Calciner_outlet_CO).toMatchObject({
      kind: 'robust',
      sklearn_class: 'RobustScaler',
    });
    const j = await po(
      'models',
      'inspect',
      join(compat, 'models', expected.models[1]!.scaler_file.replace('.pkl', '.params.json')),
    );
    expect(j.code).toBe(0);
    expect(j.stdout).toContain('Calciner_outlet_CO');
    expect(j.stdout).toContain('RobustScaler');
    // A RobustScaler does not bound the data: its training range is unknown, and says why.
    expect(JSON.parse(r.stdout).trainingRanges.Calciner_outlet_CO).toMatch(/RobustScaler/);
    expect(j.stdout).toMatch(/training ranges[\s\S]*Calciner_outlet_CO\s+unknown: a RobustScaler/);
  });

  it('training ranges: a MinMax scaler file, and a network with its metadata (training domain and error)', async () => {
    const scalers = await po(
      'models',
      'inspect',
      join(compat, 'models', expected.models[0]!.scaler_file),
      '--json',
    );
    expect(scalers.code).toBe(0);
    expect(JSON.parse(scalers.stdout).trainingRanges.combined_Feed_rate.min).toBeCloseTo(-5.99437, 4);
    const demo = join(import.meta.dirname, '../../../config/demo/models');
    const net = await po(
      'models',
      'inspect',
      join(demo, 'saved_models/demo_delta_Kiln_Drive_Current_ann.onnx'),
      '--metadata',
      join(demo, 'saved_metadata/demo_delta_Kiln_Drive_Current_metadata.json'),
    );
    expect(net.code).toBe(0);
    expect(net.stdout).toMatch(
      /training domain \(from the metadata\):[\s\S]*combined_Feed_rate\s+\[160\.47, 181\.922\]/,
    );
    expect(net.stdout).toContain('training error (held out): rmse 2.277, mean absolute 1.793');
    const bad = join(tmp, 'bad-domain.json');
    writeFileSync(bad, JSON.stringify({ training_domain: { variables: { x: { min: 3, max: 1 } } } }));
    const refused = await po(
      'models',
      'inspect',
      join(demo, 'saved_models/demo_delta_Kiln_Drive_Current_ann.onnx'),
      '--metadata',
      bad,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/training_domain\.variables\.x.*min is above max/);
  });
});

describe('po models: bad inputs', () => {
  it('a malicious pickle: exit 1 naming the global, nothing ran', async () => {
    const marker = join(tmp, 'pwned');
    const evil = join(tmp, 'evil.pkl');
    writeFileSync(evil, evilPickle(marker));
    const r = await po('models', 'convert', evil, '--out', join(tmp, 'evil.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refused the global 'os.system'");
    expect(r.stderr).toMatch(/^\[po\] /);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(join(tmp, 'evil.json'))).toBe(false);
    const inspect = await po('models', 'inspect', evil);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain("'os.system'");
  });

  it('a missing file, an unknown extension, a wrong --out, missing arguments', async () => {
    const missing = await po('models', 'convert', join(tmp, 'nope.pth'), '--out', join(tmp, 'x.onnx'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
    const ext = await po('models', 'convert', join(tmp, 'model.h5'), '--out', join(tmp, 'x.onnx'));
    expect(ext.code).toBe(2);
    expect(ext.stderr).toContain('unknown extension');
    const inspectExt = await po('models', 'inspect', 'model.h5');
    expect(inspectExt.code).toBe(2);
    const out = await po(
      'models',
      'convert',
      join(compat, 'models', expected.models[0]!.model_file),
      '--out',
      join(tmp, 'x.json'),
    );
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('must end in .onnx');
    expect((await po('models', 'convert', join(compat, 'models', expected.models[0]!.model_file))).code).toBe(
      2,
    );
    expect((await po('models', 'convert', '--data-dir', tmp)).code).toBe(2);
    const empty = await po(
      'models',
      'convert',
      '--data-dir',
      join(tmp, 'empty'),
      '--out-dir',
      join(tmp, 'o'),
    );
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('has no saved_models/*.pth');
  });
});
