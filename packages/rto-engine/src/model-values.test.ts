// modelValues against the full monitor/simulate results, bit for bit: the demo strategy on a demo
// kiln history and the predecessor fixture, real ONNX Runtime through @po/models.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createDemoKiln, createModelProvider, localModelFiles } from '@po/models';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { miniKiln, miniKilnModels, miniKilnState } from '../test/mini-kiln.ts';
import { compileStrategy } from './engine.ts';
import type { CycleResult } from './result-schema.ts';
import { createInMemoryModelProvider } from './testing/index.ts';
import type { CompiledStrategy, ModelValues, PlantState } from './types.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const COMPAT = fileURLToPath(new URL('../test/fixtures/compat/', import.meta.url));
const providers = [
  createModelProvider({ readFile: localModelFiles(`${DEMO}models`) }),
  createModelProvider({ readFile: localModelFiles(COMPAT) }),
];
const compiled: CompiledStrategy[] = [];
afterAll(async () => {
  await Promise.all(compiled.map((c) => c.dispose()));
  await Promise.all(providers.map((p) => p.dispose()));
});

async function compile(spec: unknown, provider: 0 | 1): Promise<CompiledStrategy> {
  const strategy = await compileStrategy(spec, { modelProvider: providers[provider] });
  compiled.push(strategy);
  return strategy;
}

/** Every variable as the result reports it, bit for bit comparable (NaN and -0 kept apart by Object.is). */
function reported(result: CycleResult, mode: 'monitor' | 'simulate'): ModelValues {
  const variables: ModelValues['variables'] = {};
  for (const [name, r] of Object.entries({ ...result.variables, ...result.derived_variables })) {
    // The parts of a recommended sum are split in a result; modelValues leaves them alone.
    if (mode === 'simulate' && r.role === 'setpoint') continue;
    // A simulation's decision variables report the value they were evaluated at as their input.
    variables[name] = { current: r.user_input_value, value: r.optimizer_suggested_value };
  }
  const models = Object.fromEntries(
    Object.entries(result.model_trust.models).map(([skill, t]) => [
      skill,
      { training_error: t.training_error },
    ]),
  );
  return { variables, models };
}

function bits(values: ModelValues): unknown {
  const code = (x: number | null) => (x === null ? 'null' : Object.is(x, -0) ? '-0' : String(x));
  return {
    variables: Object.fromEntries(
      Object.entries(values.variables).map(([n, v]) => [n, `${code(v.current)} ${code(v.value)}`]),
    ),
    models: values.models,
  };
}

/** modelValues equals monitor and simulate (at `decisions`) on every variable they both give. */
async function expectSame(
  strategy: CompiledStrategy,
  state: PlantState,
  decisions: Record<string, number>,
): Promise<void> {
  const monitored = reported(await strategy.monitor(state), 'monitor');
  const names = Object.keys(monitored.variables);
  expect(bits(await strategy.modelValues(state, names))).toEqual(bits(monitored));
  const simulated = reported(await strategy.simulate(state, decisions), 'simulate');
  const simNames = Object.keys(simulated.variables);
  expect(bits(await strategy.modelValues(state, simNames, decisions))).toEqual(bits(simulated));
}

describe('modelValues', () => {
  const demoSpec = parse(readFileSync(`${DEMO}strategy.yaml`, 'utf8'));
  const kiln = createDemoKiln({ seed: 11 });
  const rows = kiln
    .history({ rows: 24, start: '2026-01-05T00:00:00.000Z' })
    .map(({ timestamp: _, ...values }) => values);

  for (const extrapolation of ['warn', 'restrict'] as const) {
    it(`demo strategy (extrapolation: ${extrapolation}): monitor and simulate values bit for bit, row after row`, async () => {
      const strategy = await compile({ ...demoSpec, models: { extrapolation } }, 0);
      expect(strategy.decisionVariables.length).toBeGreaterThan(0);
      for (let i = 1; i < rows.length; i++) {
        // What a mismatch monitor does: the previous row's state with this row's decision values.
        const seen = await strategy.monitor(rows[i]!);
        const decisions = Object.fromEntries(
          strategy.decisionVariables.map((d) => [d, seen.variables[d]!.user_input_value as number]),
        );
        await expectSame(strategy, rows[i - 1]!, decisions);
      }
    });
  }

  const probes = JSON.parse(readFileSync(`${COMPAT}expected/forward-probes.json`, 'utf8'));
  for (const compat of ['predecessor', 'po'] as const) {
    it(`predecessor fixture (compat: ${compat}): monitor and simulate values bit for bit at every probe point`, async () => {
      const spec = parse(readFileSync(`${COMPAT}predecessor-strategy.onnx.yaml`, 'utf8'));
      spec.engine = { compat };
      const strategy = await compile(spec, 1);
      for (const probe of probes.states) {
        for (const point of probe.points as { x: number[] }[]) {
          const decisions = Object.fromEntries(
            (probes.decision_variables as string[]).map((name, j) => [name, point.x[j]!]),
          );
          await expectSame(strategy, probe.input_data, decisions);
        }
      }
    });
  }

  it('models without derivatives (finite-difference sensitivities, the other evaluation path): bit for bit too', async () => {
    const strategy = await compileStrategy(miniKiln(), {
      modelProvider: createInMemoryModelProvider(miniKilnModels),
    });
    compiled.push(strategy);
    expect((await strategy.simulate(miniKilnState, { coal: 0.95 })).explanation.sensitivities).toBe(
      'finite differences',
    );
    for (const coal of [0.9, 0.95, 1.02]) await expectSame(strategy, miniKilnState, { coal });
  });

  it('fails as monitor and simulate fail: a missing plant value, an unknown decision variable, an unknown name', async () => {
    const strategy = await compile(parse(readFileSync(`${DEMO}strategy.yaml`, 'utf8')), 0);
    const { Kiln_Coal_PV: _, ...missing } = rows[0]!;
    const monitorError = await strategy.monitor(missing).catch((e: Error) => e);
    await expect(strategy.modelValues(missing, [])).rejects.toThrow((monitorError as Error).message);
    const simulateError = await strategy.simulate(rows[0]!, { Nope: 1 }).catch((e: Error) => e);
    await expect(strategy.modelValues(rows[0]!, [], { Nope: 1 })).rejects.toThrow(
      (simulateError as Error).message,
    );
    await expect(strategy.modelValues(rows[0]!, ['Nope'])).rejects.toThrow(
      "'Nope' is not a variable of the strategy",
    );
  });
});
