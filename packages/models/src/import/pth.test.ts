import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { pthArchive, stateDictPickle, type TestTensor } from '../../test/pickle-writer.ts';
import { gelu } from '../math.ts';
import { createSession } from '../onnx-session.ts';
import { ModelImportError } from './errors.ts';
import { importPthModel, parseActivation } from './network.ts';
import { readStateDict } from './pth.ts';

const MODELS = fileURLToPath(new URL('../../test/fixtures/compat/models/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'po-pth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function importError(run: () => unknown, file: string): ModelImportError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    expect((e as Error).message).toContain(`File '${file}`);
    return e as ModelImportError;
  }
  throw new Error('expected a refusal');
}

/** Deterministic pseudo-random weights. */
function values(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return Math.fround((s / 2 ** 31 - 0.5) * 1.5);
  });
}

/** A Linear(in, hidden) -> act -> Linear(hidden, 1) state_dict, keys network.0 / network.2. */
function smallNet(inWidth = 3, hidden = 4): TestTensor[] {
  return [
    { key: 'network.0.weight', shape: [hidden, inWidth], values: values(hidden * inWidth, 1) },
    { key: 'network.0.bias', shape: [hidden], values: values(hidden, 2) },
    { key: 'network.2.weight', shape: [1, hidden], values: values(hidden, 3) },
    { key: 'network.2.bias', shape: [1], values: values(1, 4) },
  ];
}

const ACT: Record<string, (x: number) => number> = {
  gelu,
  relu: (x) => Math.max(0, x),
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  leaky_relu: (x) => (x >= 0 ? x : 0.2 * x),
};

function forward(net: TestTensor[], x: number[], act: (v: number) => number): number {
  const [w0, b0, w1, b1] = net.map((t) => t.values);
  const hidden = b0!.length;
  let out = b1![0]!;
  for (let h = 0; h < hidden; h++) {
    let z = b0![h]!;
    for (let j = 0; j < x.length; j++) z += w0![h * x.length + j]! * x[j]!;
    out += w1![h]! * act(z);
  }
  return out;
}

async function run(onnx: Uint8Array, rows: number[][]): Promise<Float32Array> {
  const session = await createSession(onnx);
  const width = rows[0]!.length;
  const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, width]);
  const result = await session.run({ input });
  await session.release();
  return result.output!.data as Float32Array;
}

describe('readStateDict: the compat .pth files', () => {
  it("reads the predecessor's ANNModel state_dict (float32 tensors, int64 num_batches_tracked)", () => {
    const sd = readStateDict(
      readFileSync(`${MODELS}saved_models/4_Calciner_outlet_CO_ann_model_fold_2.pth`),
      'co.pth',
    );
    expect(sd.archiveName).toBe('4_Calciner_outlet_CO_ann_model_fold_2');
    expect([...sd.tensors.keys()].filter((k) => k.endsWith('.weight'))).toEqual([
      'network.0.weight',
      'network.1.weight',
      'network.4.weight',
      'network.5.weight',
      'network.8.weight',
      'network.9.weight',
      'network.12.weight',
    ]);
    expect(sd.tensors.get('network.0.weight')).toMatchObject({ dtype: 'float32', shape: [5, 4] });
    expect(sd.tensors.get('network.1.num_batches_tracked')).toMatchObject({ dtype: 'int64', shape: [] });
  });

  it('derives Linear/BatchNorm/GELU layers and the ONNX matches the PyTorch export on the same inputs', async () => {
    const name = '4_Calciner_outlet_CO_ann_model_fold_2';
    const net = importPthModel(readFileSync(`${MODELS}saved_models/${name}.pth`), { file: 'co.pth' });
    expect(net.layers.map((l) => l.kind)).toEqual([
      'linear',
      'batchnorm',
      'activation',
      'linear',
      'batchnorm',
      'activation',
      'linear',
      'batchnorm',
      'activation',
      'linear',
    ]);
    expect(net.activationSource).toBe('default');
    const rows = Array.from({ length: 16 }, (_, r) => values(4, 100 + r));
    const ours = await run(net.onnx, rows);
    const torch = await run(readFileSync(`${MODELS}saved_models/${name}.onnx`), rows);
    for (let r = 0; r < rows.length; r++) expect(Math.abs(ours[r]! - torch[r]!)).toBeLessThanOrEqual(1e-6);
  });
});

describe('importPthModel: activations and layouts', () => {
  for (const [activation, fn] of [
    ['relu', 'relu'],
    ['Tanh', 'tanh'],
    ['sigmoid', 'sigmoid'],
    ['SiLU', 'silu'],
    ['LeakyReLU(negative_slope=0.2)', 'leaky_relu'],
    ['GELU(exact,erf)', 'gelu'],
  ] as const) {
    it(`${activation}: the ONNX computes the same network as a float64 reference`, async () => {
      const tensors = smallNet();
      const net = importPthModel(pthArchive(tensors), { file: 'small.pth', activation });
      expect(net.activation.fn).toBe(fn);
      expect(net.activationSource).toBe('skill');
      const rows = Array.from({ length: 8 }, (_, r) => values(3, 7 + r));
      const out = await run(net.onnx, rows);
      rows.forEach((x, r) => {
        expect(Math.abs(out[r]! - forward(tensors, x, ACT[fn]!))).toBeLessThan(1e-5);
      });
    });
  }

  it('takes the activation from the metadata, the skill winning over it', () => {
    const archive = pthArchive(smallNet());
    expect(importPthModel(archive, { file: 'm.pth', metadata: { activation: 'tanh' } }).activation.fn).toBe(
      'tanh',
    );
    const both = importPthModel(archive, {
      file: 'm.pth',
      activation: 'relu',
      metadata: { activation: 'tanh' },
    });
    expect([both.activation.fn, both.activationSource]).toEqual(['relu', 'skill']);
    const layers = importPthModel(archive, {
      file: 'm.pth',
      metadata: {
        architecture: { layers: ['Linear(3,4)', 'Sigmoid()', 'Dropout(0.1)', 'Linear(4,1)', 'Tanh'] },
      },
    });
    expect(layers.activationSource).toBe('metadata layers');
    expect(layers.layers.map((l) => l.detail ?? l.kind)).toEqual(['linear', 'sigmoid', 'linear', 'tanh']);
  });

  it('refuses unsupported activations, naming them', () => {
    expect(parseActivation("GELU(approximate='tanh')")).toContain('tanh approximation');
    const error = importError(
      () => importPthModel(pthArchive(smallNet()), { file: 'a.pth', activation: 'mish' }),
      'a.pth',
    );
    expect(error.problemKind).toBe('UNSUPPORTED_ACTIVATION');
    expect(error.message).toContain("'mish'");
  });

  it("checks the first Linear's input width against the skill's inputs", () => {
    const error = importError(
      () => importPthModel(pthArchive(smallNet(3)), { file: 'w.pth', inputs: ['a', 'b', 'c', 'd'] }),
      'w.pth',
    );
    expect(error.problemKind).toBe('INPUT_MISMATCH');
    expect(error.code).toBe('MODEL_SHAPE_MISMATCH');
    expect(error.message).toContain("first Linear 'network.0.weight' has shape [4, 3]");
    expect(error.message).toContain('the skill lists 4 (a, b, c, d)');
  });

  it('refuses a state_dict with an unexpected layout, naming the key', () => {
    const conv: TestTensor[] = [{ key: 'conv1.weight', shape: [2, 2], values: [1, 2, 3, 4] }];
    expect(importError(() => importPthModel(pthArchive(conv), { file: 'c.pth' }), 'c.pth').message).toContain(
      "'conv1.weight'",
    );
    const lstm: TestTensor[] = [{ key: 'network.0.weight_ih', shape: [2, 2], values: [1, 2, 3, 4] }];
    expect(importError(() => importPthModel(pthArchive(lstm), { file: 'l.pth' }), 'l.pth').problemKind).toBe(
      'UNEXPECTED_LAYOUT',
    );
    const widths = smallNet();
    widths[2] = { key: 'network.2.weight', shape: [1, 5], values: values(5, 3) };
    expect(
      importError(() => importPthModel(pthArchive(widths), { file: 'x.pth' }), 'x.pth').message,
    ).toContain('takes 5 inputs but the layer before gives 4');
    const gap: TestTensor[] = smallNet().map((t) => ({ ...t, key: t.key.replace('network.2', 'network.6') }));
    expect(importError(() => importPthModel(pthArchive(gap), { file: 'g.pth' }), 'g.pth').message).toContain(
      '5 parameterless modules',
    );
    const meta = importError(
      () =>
        importPthModel(pthArchive(smallNet()), {
          file: 'm.pth',
          metadata: { architecture: { layers: ['Linear(3,4)'] } },
        }),
      'm.pth',
    );
    expect(meta.message).toContain('architecture.layers lists [linear]');
  });
});

describe('readStateDict: refusals', () => {
  it('refuses a malicious data.pkl inside a .pth, naming the global, and runs nothing', () => {
    const marker = join(dir, 'pwned');
    const enc = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
    const cmd = `touch ${marker}`;
    const evil = Uint8Array.from([
      0x80,
      2,
      ...enc('cposix\nsystem\n'),
      0x58,
      cmd.length,
      0,
      0,
      0,
      ...enc(cmd),
      0x85,
      0x52,
      0x2e,
    ]);
    const error = importError(() => readStateDict(pthArchive([], { dataPkl: evil }), 'evil.pth'), 'evil.pth');
    expect(error.problemKind).toBe('REFUSED_GLOBAL');
    expect(error.global).toBe('posix.system');
    expect(existsSync(marker)).toBe(false);
    // torch.storage._load_from_bytes is a nested torch.load: refused.
    const nested = Uint8Array.from([
      0x80,
      2,
      ...enc('ctorch.storage\n_load_from_bytes\n'),
      0x43,
      1,
      0x80,
      0x85,
      0x52,
      0x2e,
    ]);
    expect(
      importError(() => readStateDict(pthArchive([], { dataPkl: nested }), 'n.pth'), 'n.pth').global,
    ).toBe('torch.storage._load_from_bytes');
  });

  it('names a pickled model object and says to save the state_dict', () => {
    const enc = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
    const model = Uint8Array.from([0x80, 2, ...enc('c__main__\nANNModel\n'), 0x29, 0x81, 0x2e]);
    const error = importError(() => readStateDict(pthArchive([], { dataPkl: model }), 'm.pth'), 'm.pth');
    expect(error.global).toBe('__main__.ANNModel');
    expect(error.message).toContain('model.state_dict()');
  });

  it('refuses persistent ids other than torch storages', () => {
    const enc = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
    const pid = Uint8Array.from([0x80, 2, 0x58, 6, 0, 0, 0, ...enc('module'), 0x85, 0x51, 0x2e]);
    expect(
      importError(() => readStateDict(pthArchive([], { dataPkl: pid }), 'p.pth'), 'p.pth').problemKind,
    ).toBe('REFUSED_PERSISTENT_ID');
  });

  it('refuses non-contiguous and unsupported-dtype tensors, naming the tensor', () => {
    const transposed = smallNet();
    transposed[0] = { ...transposed[0]!, stride: [1, 4] };
    const nc = importError(() => readStateDict(pthArchive(transposed), 't.pth'), 't.pth');
    expect(nc.problemKind).toBe('UNSUPPORTED_TENSOR');
    expect(nc.message).toContain("tensor 'network.0.weight' is not contiguous");
    const half: TestTensor[] = [
      { key: 'network.0.weight', shape: [1, 2], values: [0, 0], storage: 'HalfStorage' },
    ];
    const h = importError(() => readStateDict(pthArchive(half), 'h.pth'), 'h.pth');
    expect(h.message).toContain('is float16 (torch.HalfStorage)');
    const long: TestTensor[] = [
      { key: 'network.0.weight', shape: [2], values: [1, 2], storage: 'LongStorage' },
    ];
    expect(importError(() => readStateDict(pthArchive(long), 'i.pth'), 'i.pth').message).toContain(
      'is int64',
    );
  });

  it('reads float64 tensors and honours storage offsets', () => {
    const sd = readStateDict(
      pthArchive([
        { key: 'a.0.weight', shape: [2], values: [0.1, 0.2, 0.3], storage: 'DoubleStorage', offset: 1 },
      ]),
      'd.pth',
    );
    expect(Array.from(sd.tensors.get('a.0.weight')!.values)).toEqual([0.2, 0.3]);
  });

  it('names the file of a truncated zip, a damaged storage, a legacy or TorchScript file', () => {
    const good = pthArchive(smallNet());
    for (const cut of [good.length - 10, Math.floor(good.length / 2), 30]) {
      const error = importError(() => readStateDict(good.subarray(0, cut), 'cut.pth'), 'cut.pth');
      expect(['TRUNCATED', 'MALFORMED']).toContain(error.problemKind);
    }
    const legacy = Uint8Array.from([
      0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
    ]);
    expect(importError(() => readStateDict(legacy, 'old.pth'), 'old.pth').message).toContain(
      'legacy torch.save format',
    );
    const script = pthArchive(smallNet(), {
      extraMembers: { 'archive/constants.pkl': new Uint8Array([0x80, 2, 0x29, 0x2e]) },
    });
    expect(importError(() => readStateDict(script, 'ts.pth'), 'ts.pth').message).toContain('TorchScript');
    const short = pthArchive(smallNet(), {
      dataPkl: stateDictPickle([{ ...smallNet()[0]!, values: values(20, 1) }]),
    });
    expect(importError(() => readStateDict(short, 's.pth'), 's.pth').message).toContain('bytes');
  });
});
