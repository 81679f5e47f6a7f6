/**
 * End to end through the built `po` binary, run as a child process, on the predecessor's
 * strategy with the compat models (ONNX exports) and on the demo strategy.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aliasBomb, aliasedStrategy } from '@po/test-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { po as runPo } from '../test/po.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const compat = join(root, 'packages/rto-engine/test/fixtures/compat');
const demo = join(root, 'config/demo');
const tmp = mkdtempSync(join(tmpdir(), 'po-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const po = (...args: string[]) => runPo(args);

function file(name: string, content: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const probes = JSON.parse(readFileSync(join(compat, 'expected/forward-probes.json'), 'utf8'));
const cases = JSON.parse(readFileSync(join(compat, 'expected/optimize-cases.json'), 'utf8'));
const onnxStrategy = readFileSync(join(compat, 'predecessor-strategy.onnx.yaml'), 'utf8');
/** The predecessor's strategy with its exact model-input behaviour. */
const predecessorStrategy = file('predecessor.yaml', `engine: { compat: predecessor }\n${onnxStrategy}`);

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.max(Math.abs(b), 1);

describe('po validate', () => {
  it("accepts the predecessor's strategy unchanged (.pth/.pkl paths; models are not loaded)", async () => {
    const r = await po('validate', join(compat, 'predecessor-strategy.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/is valid: 46 variables, 31 skills/);
    expect(r.stdout).toMatch(/Cooler_Fan_4_5_6_Flow' is not a declared variable \(ignored\)/);
  });

  it('lists every problem and exits 1', async () => {
    const broken = onnxStrategy
      .replace(
        'formula: "Kiln_Coal_PV_dof - Kiln_Coal_PV_current"',
        'formula: "Kiln_Coal_PV_dof - Kiln_Coal_PV_curent"',
      )
      .replace('- mf_calc_delta_Cooler_Fan_A_Flow\n', '- mf_calc_delta_Cooler_Fan_A_Flw\n');
    const r = await po('validate', file('broken.yaml', broken));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is invalid (2 problems)');
    expect(r.stderr).toContain(
      "skills.mf_calc_delta_coal.config.formula: unknown symbol 'Kiln_Coal_PV_curent'",
    );
    expect(r.stderr).toContain(
      "skills.cs_kpi_calculation_flow.config.skill_sequence.10: unknown skill 'mf_calc_delta_Cooler_Fan_A_Flw'",
    );
  });

  it('--json', async () => {
    const r = await po('validate', '--json', join(demo, 'strategy.yaml'));
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.valid).toBe(true);
    expect(out.summary.skillsByClass.InferenceModel).toBe(3);
  });

  it('150 YAML aliases are valid; an alias bomb exits 1 with one named line, no stack', async () => {
    const ok = await po('validate', file('aliases.yaml', aliasedStrategy(150)));
    expect(ok.code).toBe(0);
    const r = await po('validate', file('bomb.yaml', aliasBomb(9)));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /\(yaml\): more YAML aliases resolved than the limit of 1000 .*PO_LIMIT_YAML_ALIASES/,
    );
    expect(r.stderr).not.toMatch(/\bat \S+:\d+/);
  });

  it("checks against the service's bounds: limits.* from the settings file or PO_LIMIT_*", async () => {
    const demoStrategy = join(demo, 'strategy.yaml');
    expect((await po('validate', demoStrategy)).code).toBe(0);
    const settings = file('few-variables.yaml', 'limits:\n  variables: 5\n');
    const bySettings = await po('validate', '--settings', settings, demoStrategy);
    expect(bySettings.code).toBe(1);
    expect(bySettings.stderr).toMatch(
      /variables: number of variables \d+ is over the limit of 5 .*PO_LIMIT_VARIABLES/,
    );
    const byEnvironment = await runPo(['validate', '--json', demoStrategy], {
      env: { PO_LIMIT_SKILLS: '3' },
    });
    expect(byEnvironment.code).toBe(1);
    expect(JSON.parse(byEnvironment.stdout).errors).toEqual([
      { path: 'skills', message: expect.stringMatching(/over the limit of 3/), code: 'LIMIT_EXCEEDED' },
    ]);
  });

  it('a missing file is named', async () => {
    const r = await po('validate', 'nope.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot read strategy 'nope.yaml': no such file");
  });
});

describe('po simulate: forward values of the predecessor', () => {
  for (const probe of probes.states.slice(0, 3)) {
    it(`${probe.state_id}, a random point: every dof within 1e-4`, async () => {
      const point = probe.points[1];
      const sets = probes.decision_variables.flatMap((n: string, j: number) => [
        '--set',
        `${n}=${point.x[j]}`,
      ]);
      const input = file(`${probe.state_id}.json`, { input_data: probe.input_data });
      const r = await po(
        'simulate',
        '--config',
        predecessorStrategy,
        '--models-dir',
        compat,
        '--input',
        input,
        '--json',
        ...sets,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout);
      expect(result.mode).toBe('simulate');
      expect(close(result.cost_function_value, point.cost)).toBe(true);
      for (const [name, expected] of Object.entries(point.dof as Record<string, number>)) {
        const v = result.variables[name] ?? result.derived_variables[name];
        const actual = v.role === 'setpoint' ? v.user_input_value : v.optimizer_suggested_value;
        expect(close(actual, expected), `${name}: ${actual} vs ${expected}`).toBe(true);
      }
    });
  }
});

describe("the predecessor's files unchanged: strategy YAML, .pth models, .pkl scalers", () => {
  const original = join(compat, 'predecessor-strategy.yaml');
  const models = join(root, 'packages/models/test/fixtures/compat');

  it('forward values match with the chained model input fed (po semantics)', async () => {
    const probe = probes.states[2];
    const point = probe.points[2];
    const sets = probes.decision_variables.flatMap((n: string, j: number) => ['--set', `${n}=${point.x[j]}`]);
    const input = file('pth-probe.json', probe.input_data);
    const r = await po(
      'simulate',
      '--config',
      original,
      '--models-dir',
      models,
      '--input',
      input,
      '--json',
      ...sets,
    );
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout);
    for (const [name, expected] of Object.entries({ ...point.dof, ...point.dof_chained } as Record<
      string,
      number
    >)) {
      const v = result.variables[name] ?? result.derived_variables[name];
      const actual = v.role === 'setpoint' ? v.user_input_value : v.optimizer_suggested_value;
      expect(close(actual, expected), `${name}: ${actual} vs ${expected}`).toBe(true);
    }
  });

  it('optimizes opt-19, where the predecessor failed', async () => {
    const c = cases.cases.find((k: { case_id: string }) => k.case_id === 'opt-19');
    const input = file('pth-opt-19.json', c.input_data);
    const r = await po('optimize', '--config', original, '--models-dir', models, '--input', input, '--json');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.cost_function_value).toBeLessThan(c.scipy.fun);
    expect(result.cost_function_value).toBeLessThanOrEqual(result.cost_at_current);
  });
});

describe('po optimize', () => {
  for (const c of cases.cases) {
    it(`${c.case_id}: succeeds at a cost no higher than the predecessor's${c.success ? '' : ' (which failed here)'}`, async () => {
      const input = file(`${c.case_id}.json`, c.input_data);
      const r = await po(
        'optimize',
        '--config',
        predecessorStrategy,
        '--models-dir',
        compat,
        '--input',
        input,
        '--json',
      );
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout);
      const predecessorCost = c.success ? c.cost : c.scipy.fun;
      expect(result.status).toBe('success');
      expect(result.cost_function_value).toBeLessThanOrEqual(
        predecessorCost + 1e-4 * Math.max(1, Math.abs(predecessorCost)),
      );
      expect(result.cost_function_value).toBeLessThanOrEqual(result.cost_at_current);
      // Every recommendation is a real setpoint: no Calculated sum among the setpoints.
      expect(Object.keys(result.setpoints)).not.toContain('combined_Feed_rate');
      expect(Object.keys(result.setpoints)).toContain('Kiln_Feed_SFF_1_Feed_rate');
      const feed =
        result.setpoints.Kiln_Feed_SFF_1_Feed_rate.recommended +
        result.setpoints.Kiln_Feed_SFF_2_Feed_rate.recommended;
      expect(feed).toBeCloseTo(result.variables.combined_Feed_rate.optimizer_suggested_value, 9);
    });
  }

  it('prints a readable table on the demo strategy, with a sensible recommendation', async () => {
    const r = await po(
      'optimize',
      '--config',
      join(demo, 'strategy.yaml'),
      '--input',
      join(demo, 'example-state.json'),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Recommendation {2}cost -?[\d.]+ -> -?[\d.]+/);
    expect(r.stdout).toContain('decision variable');
    expect(r.stdout).toContain('Kiln_Feed_SFF_1_Feed_rate');
    const json = await po(
      'optimize',
      '--config',
      join(demo, 'strategy.yaml'),
      '--input',
      join(demo, 'example-state.json'),
      '--json',
    );
    const result = JSON.parse(json.stdout);
    expect(result.cost_function_value).toBeLessThan(result.cost_at_current);
    for (const v of Object.values(result.constraint_variables) as { optimizer_suggested_value: number }[]) {
      expect(v.optimizer_suggested_value).toBeGreaterThan(0);
    }
    const decisions = Object.values(
      result.variables as Record<string, Record<string, number> & { role: string }>,
    ).filter((v) => v.role === 'optimized');
    expect(decisions.length).toBeGreaterThan(0);
    for (const v of decisions) {
      expect(v.optimizer_suggested_value!).toBeGreaterThanOrEqual(v.lower_bound!);
      expect(v.optimizer_suggested_value!).toBeLessThanOrEqual(v.upper_bound!);
    }
  });

  it('names missing input variables', async () => {
    const state = { ...cases.cases[0].input_data };
    delete state.Kiln_Coal_PV;
    delete state.Clinker_temperature;
    const r = await po(
      'optimize',
      '--config',
      predecessorStrategy,
      '--models-dir',
      compat,
      '--input',
      file('missing.json', state),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing input variables: Kiln_Coal_PV, Clinker_temperature');
  });

  it('names a model file that does not load, with its skill', async () => {
    const r = await po(
      'optimize',
      '--config',
      predecessorStrategy,
      '--models-dir',
      tmp,
      '--input',
      join(demo, 'example-state.json'),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('im_predict_delta_Kiln_Drive_Current');
    expect(r.stderr).toContain('MA_MinMax_lag0_Kiln_Drive_Current_ann_model_fold_5.onnx');
    expect(r.stdout).toBe('');
  });

  it('refuses input that is not JSON, naming the file', async () => {
    const bad = file('bad.json', '{ "Kiln_Coal_PV": ');
    const r = await po('optimize', '--config', predecessorStrategy, '--models-dir', compat, '--input', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`input '${bad}' is not valid JSON`);
  });

  it('usage errors exit 2', async () => {
    expect((await po('optimize', '--config', predecessorStrategy)).code).toBe(2);
    const r = await po(
      'simulate',
      '--config',
      predecessorStrategy,
      '--input',
      join(demo, 'example-state.json'),
      '--set',
      'Kiln_Coal_PV=abc',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--set expects VAR=NUMBER, got 'Kiln_Coal_PV=abc'");
  });
});
