import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ModelFileRole,
  ModelLoadError,
  type ModelProvider,
  type ModelRequest,
  type SurrogateModel,
  type TrainingDomain,
} from '../index.ts';

export interface ModelProviderConformanceOptions {
  /** Shown in the test titles, e.g. `in-memory` or `onnx`. */
  name: string;
  /** Creates the provider under test (once for the suite). */
  create: () => ModelProvider | Promise<ModelProvider>;
  /** A request that loads. */
  request: ModelRequest;
  /** A request one of whose files does not exist. */
  missing: ModelRequest;
  /** Which file of `missing` does not exist (default `model`). */
  missingRole?: ModelFileRole;
  /**
   * A second loadable request, independent of `request`, for `fuse` (default: `request` again,
   * as a second model).
   */
  other?: ModelRequest;
  /**
   * Whether the provider fuses `request` and `other`: true, and the group must give exactly what
   * the members give; false, and `fuse`, when the provider has one, must resolve undefined.
   */
  fuses: boolean;
  /** The expected prediction for one input row of `request`, when known. */
  reference?: (row: Float64Array) => number;
  /**
   * Relative tolerance of the comparisons with `reference` and of a batch against row-by-row
   * calls (default 0: identical). Fused groups must always be identical to their members.
   */
  tolerance?: number;
  /**
   * The training domain `request`'s model must report (compared exactly), or `null` when it must
   * report none. Without it, a reported domain is only checked for consistency.
   */
  domain?: TrainingDomain | null;
  /** Called once after the suite (remove a folder, stop a server). Models are already disposed. */
  dispose?: () => void | Promise<void>;
  /** When set, the suite is skipped and this reason is shown in its title. */
  skip?: string | undefined;
}

/** Rows of the test batches. */
const ROWS = 7;
/** Written into output slots before a call, to see which ones it touched. */
const SENTINEL = -4.2e42;

/** A deterministic batch of `rows` rows of `width` values in [-1, 1]. */
function batch(rows: number, width: number, seed = 0.3): Float64Array {
  return Float64Array.from({ length: rows * width }, (_, k) => Math.sin(k * 1.7 + seed));
}

function filled(length: number): Float64Array {
  return new Float64Array(length).fill(SENTINEL);
}

function close(actual: number, expected: number, tolerance: number): boolean {
  if (tolerance === 0) return Object.is(actual, expected);
  return Math.abs(actual - expected) <= tolerance * Math.max(Math.abs(expected), 1);
}

/** What every check gets: the provider, the options, and `load` (models it loads are disposed after the suite). */
interface Suite {
  provider: ModelProvider;
  options: ModelProviderConformanceOptions;
  load: (request: ModelRequest) => Promise<SurrogateModel>;
  tolerance: number;
  width: number;
}

async function rejectsMissingFile({ provider, options, load }: Suite): Promise<void> {
  const role = options.missingRole ?? 'model';
  const { missing } = options;
  const path = { model: missing.modelPath, scaler: missing.scalerPath, metadata: missing.metadataPath }[role];
  const error = await provider.load(missing).then(
    async (model) => {
      await model.dispose();
      throw new Error(`load of '${path}' resolved; it must reject`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelLoadError);
  const e = error as ModelLoadError;
  expect({ skill: e.skill, role: e.role, path: e.path }).toEqual({ skill: missing.skill, role, path });
  expect(e.message).toContain(missing.skill);
  expect(e.message).toContain(`${path}`);
  // A loadable request still loads after a failure.
  expect((await load(options.request)).files.length).toBeGreaterThan(0);
}

async function listsFiles({ options, load }: Suite): Promise<void> {
  const { request } = options;
  const model = await load(request);
  const expected = [{ role: 'model', path: request.modelPath }];
  if (request.scalerPath !== undefined) expected.push({ role: 'scaler', path: request.scalerPath });
  if (request.metadataPath !== undefined) expected.push({ role: 'metadata', path: request.metadataPath });
  expect(model.files.map((f) => ({ role: f.role, path: f.path }))).toEqual(expected);
  for (const file of model.files) expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(Array.isArray(model.warnings)).toBe(true);
  for (const w of model.warnings) expect(typeof w).toBe('string');
}

async function writesExactlyCount({ options, load, tolerance, width }: Suite): Promise<void> {
  const model = await load(options.request);
  const inputs = batch(ROWS, width);
  const copy = Float64Array.from(inputs);
  const out = filled(ROWS + 3);
  await model.predict(inputs, ROWS, out);
  for (let r = 0; r < ROWS; r++) expect(Number.isFinite(out[r]), `row ${r}`).toBe(true);
  expect(Array.from(out.subarray(ROWS))).toEqual([SENTINEL, SENTINEL, SENTINEL]);
  expect(inputs).toEqual(copy);
  if (!options.reference) return;
  for (let r = 0; r < ROWS; r++) {
    const expected = options.reference(inputs.slice(r * width, (r + 1) * width));
    expect(close(out[r]!, expected, tolerance), `row ${r}: ${out[r]} vs reference ${expected}`).toBe(true);
  }
}

async function batchIsRowByRow({ options, load, tolerance, width }: Suite): Promise<void> {
  const model = await load(options.request);
  const inputs = batch(ROWS, width, 1.1);
  const together = filled(ROWS);
  await model.predict(inputs, ROWS, together);
  const one = filled(1);
  for (let r = 0; r < ROWS; r++) {
    await model.predict(inputs.subarray(r * width, (r + 1) * width), 1, one);
    expect(close(together[r]!, one[0]!, tolerance), `row ${r}: ${together[r]} vs ${one[0]}`).toBe(true);
  }
}

async function emptyBatch({ options, load }: Suite): Promise<void> {
  const model = await load(options.request);
  const out = filled(2);
  await model.predict(new Float64Array(0), 0, out);
  expect(Array.from(out)).toEqual([SENTINEL, SENTINEL]);
}

async function deterministic({ options, load, width }: Suite): Promise<void> {
  const model = await load(options.request);
  const again = await load(options.request);
  const inputs = batch(ROWS, width, 2.5);
  const runs = [filled(ROWS), filled(ROWS), filled(ROWS)];
  await model.predict(inputs, ROWS, runs[0]!);
  await model.predict(inputs, ROWS, runs[1]!);
  await again.predict(inputs, ROWS, runs[2]!);
  expect(runs[1]).toEqual(runs[0]);
  expect(runs[2]).toEqual(runs[0]);
  expect(again.files).toEqual(model.files);
}

async function disposeThenPredictRejects({ provider, options, width }: Suite): Promise<void> {
  const model = await provider.load(options.request);
  await model.dispose();
  await expect(model.predict(batch(1, width), 1, filled(1))).rejects.toThrow();
}

async function fusesLikeMembers({ provider, options, load, width }: Suite): Promise<void> {
  const a = await load(options.request);
  const b = await load(options.other ?? options.request);
  const group = provider.fuse ? await provider.fuse([a, b]) : undefined;
  if (!options.fuses) {
    expect(group).toBeUndefined();
    return;
  }
  expect(group, 'fuse resolved undefined').toBeDefined();
  const widthB = (options.other ?? options.request).inputs.length;
  const inputs = [batch(ROWS, width, 0.7), batch(ROWS, widthB, 1.9)];
  const fused = [filled(ROWS + 1), filled(ROWS + 1)];
  const alone = [filled(ROWS), filled(ROWS)];
  await group!.predict(inputs, ROWS, fused);
  await a.predict(inputs[0]!, ROWS, alone[0]!);
  await b.predict(inputs[1]!, ROWS, alone[1]!);
  for (const [i, out] of fused.entries()) {
    expect(Array.from(out.subarray(0, ROWS))).toEqual(Array.from(alone[i]!));
    expect(out[ROWS]).toBe(SENTINEL);
  }
  await group!.dispose();
  // The members stay loaded.
  await a.predict(inputs[0]!, ROWS, alone[0]!);
  expect(Array.from(alone[0]!)).toEqual(Array.from(fused[0]!.subarray(0, ROWS)));
}

/**
 * `valueAndJacobian`, when the model has one: its values agree with `predict` (within the
 * float32 resolution `predict` may run at), and its Jacobian with central differences of its
 * own values. Models without it pass (the engine differentiates them by finite differences).
 */
async function jacobianMatchesDifferences({ options, load, width }: Suite): Promise<void> {
  const model = await load(options.request);
  if (model.valueAndJacobian === undefined) return;
  const inputs = batch(ROWS, width, 0.9);
  const values = filled(ROWS + 1);
  const jacobian = filled(ROWS * width + 1);
  await model.valueAndJacobian(inputs, ROWS, values, jacobian);
  expect(values[ROWS]).toBe(SENTINEL);
  expect(jacobian[ROWS * width]).toBe(SENTINEL);
  if (model.valueAndJacobianSync !== undefined) {
    // The synchronous path gives exactly what the promise gives.
    const syncValues = filled(ROWS + 1);
    const syncJacobian = filled(ROWS * width + 1);
    model.valueAndJacobianSync(inputs, ROWS, syncValues, syncJacobian);
    expect(Array.from(syncValues)).toEqual(Array.from(values));
    expect(Array.from(syncJacobian)).toEqual(Array.from(jacobian));
  }
  const predicted = filled(ROWS);
  await model.predict(inputs, ROWS, predicted);
  const scale = Math.max(...Array.from(predicted, Math.abs), 1);
  for (let r = 0; r < ROWS; r++) {
    expect(Math.abs(values[r]! - predicted[r]!), `row ${r} value`).toBeLessThanOrEqual(1e-5 * scale);
  }
  const h = 1e-5;
  const probe = new Float64Array(2 * width * width);
  const probeOut = new Float64Array(2 * width);
  const probeJ = new Float64Array(2 * width * width);
  for (let r = 0; r < ROWS; r++) {
    for (let i = 0; i < width; i++) {
      for (const [k, sign] of [
        [2 * i, 1],
        [2 * i + 1, -1],
      ] as const) {
        probe.set(inputs.subarray(r * width, (r + 1) * width), k * width);
        probe[k * width + i]! += sign * h;
      }
    }
    await model.valueAndJacobian(probe, 2 * width, probeOut, probeJ);
    for (let i = 0; i < width; i++) {
      const difference = (probeOut[2 * i]! - probeOut[2 * i + 1]!) / (2 * h);
      const exact = jacobian[r * width + i]!;
      expect(
        Math.abs(exact - difference),
        `row ${r}, d/d input ${i}: ${exact} vs central difference ${difference}`,
      ).toBeLessThanOrEqual(1e-5 * Math.max(Math.abs(difference), 1e-3 * scale));
    }
  }
}

async function describesDomain({ options, load }: Suite): Promise<void> {
  const model = await load(options.request);
  if (options.domain !== undefined) expect(model.domain ?? null).toEqual(options.domain);
  const domain = model.domain;
  if (domain === undefined) return;
  expect(['metadata', 'scalers']).toContain(domain.source);
  for (const [name, range] of Object.entries(domain.variables)) {
    expect(Number.isFinite(range.min) && Number.isFinite(range.max), name).toBe(true);
    expect(range.min <= range.max, `${name}: min ${range.min} > max ${range.max}`).toBe(true);
    if (range.mean !== undefined) expect(Number.isFinite(range.mean), name).toBe(true);
  }
  // Every input is either bounded or said to be unknown, never both, never neither.
  for (const input of options.request.inputs) {
    const known = Object.hasOwn(domain.variables, input);
    expect(known !== Object.hasOwn(domain.unknown, input), `input '${input}'`).toBe(true);
  }
  for (const reason of Object.values(domain.unknown)) expect(reason.length).toBeGreaterThan(0);
}

/** The checks, by title. */
const CHECKS: readonly [
  string | ((o: ModelProviderConformanceOptions) => string),
  (suite: Suite) => Promise<void>,
][] = [
  [
    'rejects a missing file with a ModelLoadError naming the skill, the role and the path',
    rejectsMissingFile,
  ],
  ['lists the files it loaded: role, path as the strategy names it, 64-hex SHA-256', listsFiles],
  [
    'predict writes exactly count outputs, touches nothing beyond, and leaves the inputs alone',
    writesExactlyCount,
  ],
  ['a batch gives what row-by-row calls give', batchIsRowByRow],
  ['a batch of 0 rows resolves and writes nothing', emptyBatch],
  [
    'is deterministic: the same batch twice, and a second model of the same files, give the same outputs',
    deterministic,
  ],
  ['predict rejects after dispose', disposeThenPredictRejects],
  [
    'valueAndJacobian (when given) agrees with predict and with central differences of its values; valueAndJacobianSync (when given) with valueAndJacobian',
    jacobianMatchesDifferences,
  ],
  [
    'describes its training domain: finite ranges, every input either bounded or said to be unknown',
    describesDomain,
  ],
  [
    (o) =>
      o.fuses
        ? 'fuses independent models into a group that gives exactly what its members give'
        : 'does not fuse these models',
    fusesLikeMembers,
  ],
];

/**
 * The contract every `ModelProvider` must keep, as a vitest suite (one `describe`): load errors
 * that name the skill, the file's role and its path; files with their SHA-256; `predict` that
 * writes exactly `count` outputs, batch-independent and deterministic; `dispose`; `fuse` results
 * identical to the members'. Call it at the top level of a test file, once per provider setup.
 */
export function testModelProvider(options: ModelProviderConformanceOptions): void {
  const title = `ModelProvider conformance: ${options.name}`;
  if (options.skip !== undefined) {
    describe.skip(`${title} (skipped: ${options.skip})`, () => {
      it('is skipped', () => {});
    });
    return;
  }
  describe(title, () => {
    const loaded: SurrogateModel[] = [];
    const suite = {
      options,
      tolerance: options.tolerance ?? 0,
      width: options.request.inputs.length,
      load: async (request: ModelRequest) => {
        const model = await suite.provider.load(request);
        loaded.push(model);
        return model;
      },
    } as Suite;
    beforeAll(async () => {
      suite.provider = await options.create();
    });
    afterAll(async () => {
      await Promise.all(loaded.map((m) => m.dispose()));
      await options.dispose?.();
    });
    for (const [name, check] of CHECKS) {
      it(typeof name === 'string' ? name : name(options), () => check(suite));
    }
  });
}
