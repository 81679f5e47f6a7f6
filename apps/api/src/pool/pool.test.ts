import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { localModelFiles } from '@po/models';
import type { CycleResult } from '@po/rto-engine';
import { afterAll, describe, expect, it } from 'vitest';
import { wideModelFiles } from '../testing/wide-models.ts';
import { bundleFromFiles, bundleKey, strategyFilePaths } from './bundle.ts';
import { createCyclePool } from './pool.ts';
import { pooledStrategy } from './pooled-strategy.ts';
import { CycleTaskError } from './protocol.ts';

const DEMO = fileURLToPath(new URL('../../../../config/demo/', import.meta.url));
const text = await readFile(`${DEMO}strategy.yaml`, 'utf8');
const state = JSON.parse(await readFile(`${DEMO}example-state.json`, 'utf8')) as Record<string, number>;
const pool = createCyclePool({ threads: 2 });
const wide = wideModelFiles(`${DEMO}models`);
afterAll(() => pool.close());

describe('bundles', () => {
  it('collect every file the strategy names, keyed by content', async () => {
    expect(strategyFilePaths(text)).toHaveLength(9);
    const bundle = await bundleFromFiles(text, localModelFiles(`${DEMO}models`));
    expect(Object.keys(bundle.files).sort()).toEqual(strategyFilePaths(text));
    expect(bundle.key).toBe(bundleKey(text, bundle.files));
    expect(bundle.key).not.toBe(bundleKey(`${text}\n`, bundle.files));
  });
});

describe('createCyclePool', () => {
  it('runs cycles in workers and rebuilds engine errors with code and issues', async () => {
    const bundle = await bundleFromFiles(text, localModelFiles(`${DEMO}models`), { version: '2.0.0' });
    const result = await pool.run({ kind: 'optimize', bundle, state });
    expect(result.config_version).toBe('2.0.0');
    const missing = await pool.run({ kind: 'optimize', bundle, state: {} }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CycleTaskError);
    expect(missing).toMatchObject({ code: 'INPUT_INVALID', errorClass: 'InputDataError' });
    const invalid = await bundleFromFiles('variables: {}\nskills: {}\n', undefined);
    const error = await pool.run({ kind: 'describe', bundle: invalid }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STRATEGY_INVALID', issues: expect.arrayContaining([]) });
    expect((error as CycleTaskError).issues!.length).toBeGreaterThan(0);
  });

  it('evaluate: several evaluations in one task, each as its own task answers (reduced to the named values), a failing one alone', async () => {
    const bundle = await bundleFromFiles(text, localModelFiles(`${DEMO}models`), { version: '2.0.0' });
    const monitored = await pool.run({ kind: 'monitor', bundle, state });
    const decisions = { Kiln_Coal_PV: state.Kiln_Coal_PV! + 0.5 };
    const simulated = await pool.run({ kind: 'simulate', bundle, state, decisions });
    const names = ['Kiln_Coal_PV', ...Object.keys(monitored.predicted_variables)];
    const outcomes = await pool.run({
      kind: 'evaluate',
      bundle,
      evaluations: [
        { mode: 'monitor', state },
        { mode: 'simulate', state: {}, decisions },
        { mode: 'simulate', state, decisions },
      ],
      names,
    });
    // The very numbers of the full results.
    const values = (r: CycleResult) => ({
      variables: Object.fromEntries(
        names.map((n) => [
          n,
          { current: r.variables[n]!.user_input_value, value: r.variables[n]!.optimizer_suggested_value },
        ]),
      ),
      models: Object.fromEntries(
        Object.entries(r.model_trust.models).map(([s, t]) => [s, { training_error: t.training_error }]),
      ),
    });
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    expect(outcomes[0]!.ok && outcomes[0]!.result).toEqual(values(monitored));
    expect(outcomes[2]!.ok && outcomes[2]!.result).toEqual(values(simulated));
    expect(!outcomes[1]!.ok && outcomes[1]!.error).toMatchObject({ code: 'INPUT_INVALID' });
  });

  it('optimizeEach: cycles gathered into tasks answer as their own optimize tasks do, with their bias correction; a failing one alone', async () => {
    const corrected = text.replace('models:\n', 'models:\n  bias_correction: true\n');
    const bundle = await bundleFromFiles(corrected, localModelFiles(`${DEMO}models`), { version: '3.0.0' });
    const gathered = await pooledStrategy(pool, bundle, { cyclesPerTask: 4, omit: ['variables'] });
    const skill = 'im_predict_Calciner_outlet_CO';
    const biases = [undefined, 0.5, -2, 3, 1, undefined];
    const answers = await Promise.allSettled([
      ...biases.map((b) => gathered.optimize(state, b === undefined ? {} : { modelBias: { [skill]: b } })),
      gathered.optimize({}),
    ]);
    for (const [i, b] of biases.entries()) {
      const alone = await pool.run({
        kind: 'optimize',
        bundle,
        state,
        ...(b === undefined ? {} : { modelBias: { [skill]: b } }),
      });
      const answer = answers[i]!;
      expect(answer.status).toBe('fulfilled');
      const result = (answer as PromiseFulfilledResult<CycleResult>).value;
      expect(result.variables).toEqual({});
      const { variables: _v, duration_ms: _d, timestamp: _t, ...rest } = result;
      const { variables: _va, duration_ms: _da, timestamp: _ta, ...restAlone } = alone;
      expect(rest).toEqual(restAlone);
      expect(result.model_trust.models[skill]!.bias_correction).toBe(b ?? null);
    }
    expect(answers.at(-1)).toMatchObject({ status: 'rejected', reason: { code: 'INPUT_INVALID' } });
  });

  it('runs a cycle on a worker that has not compiled its bundle, or no longer keeps it (the bundle goes in full then)', async () => {
    // One worker keeping one compiled strategy: every other task finds the other bundle evicted.
    const single = createCyclePool({ threads: 1, compiledCacheSize: 1 });
    try {
      const bundles = await Promise.all(
        ['1.0.0', '2.0.0'].map((version) =>
          bundleFromFiles(text, localModelFiles(`${DEMO}models`), { version }),
        ),
      );
      const reference = await pool.run({ kind: 'optimize', bundle: bundles[0]!, state });
      for (const bundle of [...bundles, ...bundles]) {
        const result = await single.run({ kind: 'optimize', bundle, state });
        expect(result.config_version).toBe(bundle.version);
        expect(result.setpoints).toEqual(reference.setpoints);
      }
      const invalid = await bundleFromFiles('variables: {}\nskills: {}\n', undefined);
      const error = await single.run({ kind: 'monitor', bundle: invalid, state }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'STRATEGY_INVALID' });
    } finally {
      await single.close();
    }
  });

  it('aborts a task with a signal (TIMEOUT), and the pool keeps working', async () => {
    // A bundle no worker has compiled yet, with wide networks: compiling takes far longer than
    // the signal allows on any machine.
    const bundle = await bundleFromFiles(`${text}\n# fresh\n`, wide);
    const error = await pool
      .run({ kind: 'optimize', bundle, state }, { signal: AbortSignal.timeout(5) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    const again = await pool.run({ kind: 'optimize', bundle, state });
    expect(again.status).toBe('success');
  });

  it('ends a worker only between ONNX Runtime calls: aborts at any moment of model loading leave the process alive', async () => {
    // Terminating a thread inside a native ONNX Runtime call aborts the whole process
    // ("terminate called after throwing an instance of 'Napi::Error'"): this test process
    // would die. Wide networks (in place of the demo's) make compiling spend most of its time
    // in ONNX Runtime; abort compilations at moments spread over how long one takes, two at a
    // time, and check that every worker was replaced.
    const fresh = (n: number) => bundleFromFiles(`${text}\n# abort ${n}\n`, wide);
    const started = performance.now();
    await pool.run({ kind: 'describe', bundle: await fresh(-1) });
    const compileMs = Math.max(20, performance.now() - started);
    const outcomes: unknown[] = [];
    for (let round = 0; round < 10; round++) {
      const bundles = await Promise.all([fresh(2 * round), fresh(2 * round + 1)]);
      outcomes.push(
        ...(await Promise.all(
          bundles.map((bundle, i) =>
            pool
              .run(
                { kind: 'describe', bundle },
                { signal: AbortSignal.timeout(Math.ceil(((round * 2 + i + 1) / 21) * compileMs)) },
              )
              .catch((e: unknown) => e),
          ),
        )),
      );
    }
    expect(outcomes.some((o) => o instanceof CycleTaskError && o.code === 'TIMEOUT')).toBe(true);
    const again = await pool.run({ kind: 'optimize', bundle: await fresh(99), state });
    expect(again.status).toBe('success');
    expect(pool.stats().threads).toBe(2);
  });
});
