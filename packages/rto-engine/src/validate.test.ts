import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkStrategy } from './validate.ts';

const predecessorYaml = readFileSync(
  fileURLToPath(new URL('../test/fixtures/compat/predecessor-strategy.yaml', import.meta.url)),
  'utf8',
);

/** A small valid strategy to break in one place per test. */
// biome-ignore lint/suspicious/noExplicitAny: each test breaks a different nested field
function base(): Record<string, any> {
  return {
    variables: {
      feed: { type: 'Operative', units: 't/h', threshold: 2 },
      coal: { type: 'Operative', threshold: 0.1 },
      temp: { type: 'Informative' },
      delta_feed: { type: 'Delta' },
      predicted_temp: { type: 'Predicted' },
      score: { type: 'Constraint' },
      cost: { type: 'CalculatedKPI' },
    },
    skills: {
      mf_delta: {
        class: 'MathFunction',
        inputs: ['feed'],
        outputs: ['delta_feed'],
        config: { formula: 'feed_dof - feed_current' },
      },
      mf_pred: {
        class: 'MathFunction',
        inputs: ['temp', 'delta_feed', 'coal'],
        outputs: ['predicted_temp'],
        config: { formula: 'temp_current + 3 * delta_feed - 10 * (coal - coal_current)' },
      },
      cs: {
        class: 'Constraint',
        inputs: ['predicted_temp'],
        outputs: ['score'],
        config: { var_min: 0, var_max: 100, op_min: 10, op_max: 90 },
      },
      mf_cost: {
        class: 'MathFunction',
        inputs: ['delta_feed', 'score', 'coal'],
        outputs: ['cost'],
        config: { formula: '-delta_feed - 100 * score + coal / coal_threshold' },
      },
      flow: {
        class: 'CompositionSkill',
        config: { skill_sequence: ['mf_delta', 'mf_pred', 'cs', 'mf_cost'] },
      },
      opt: {
        class: 'OptimizationSkill',
        inputs: ['feed', 'coal'],
        config: { cost_skill_name: 'flow', cost_feature_name: 'cost', algorithm: 'SLSQP' },
      },
    },
    tasks: [{ name: 'CalculateRecommendations', skill_sequence: ['opt'] }],
  };
}

function errorsOf(s: unknown) {
  return checkStrategy(s).errors;
}

describe('checkStrategy', () => {
  it("accepts the predecessor's strategy unchanged, with its one known warning", () => {
    const check = checkStrategy(predecessorYaml);
    expect(check.errors).toEqual([]);
    expect(check.strategy).toBeDefined();
    expect(check.warnings).toContainEqual({
      path: 'skills.cs_kpi_calculation_flow.inputs.8',
      message: "'Cooler_Fan_4_5_6_Flow' is not a declared variable (ignored)",
    });
    // po feeds the drive-current prediction to the clinker model; the predecessor fed 0.
    expect(check.warnings.map((w) => w.path)).toContain('skills.im_predict_Clinker_temperature.inputs.0');
  });

  it('accepts the small strategy and a YAML round trip of it', () => {
    expect(errorsOf(base())).toEqual([]);
    expect(errorsOf(stringify(base()))).toEqual([]);
  });

  it('reports YAML syntax errors with line and column', () => {
    const errors = errorsOf('variables:\n  a: { type: Operative\n');
    expect(errors[0]!.path).toMatch(/^line \d+, column \d+$/);
  });

  it('reports duplicate keys', () => {
    const errors = errorsOf(
      'variables:\n  a: { type: Operative }\n  a: { type: Informative }\nskills: {}\ntasks: []\n',
    );
    expect(errors[0]!.message).toMatch(/unique|duplicate/i);
  });

  it('reports every problem at once, each with its path', () => {
    const s = base();
    s.skills.mf_delta.inputs = ['fed'];
    s.skills.cs.outputs = ['scor'];
    s.skills.flow.config.skill_sequence.push('nope');
    s.tasks[0].skill_sequence.push('missing_skill');
    const paths = errorsOf(s).map((e) => `${e.path}: ${e.message}`);
    expect(paths).toContain("skills.mf_delta.inputs.0: 'fed' is not a declared variable");
    expect(paths).toContain("skills.cs.outputs.0: 'scor' is not a declared variable");
    expect(paths).toContain("skills.flow.config.skill_sequence.4: unknown skill 'nope'");
    expect(paths).toContain("tasks.0.skill_sequence.1: unknown skill 'missing_skill'");
  });

  it('schema errors name the field', () => {
    const s = base();
    s.variables.feed.type = 'Operational';
    delete s.skills.cs.config.op_max;
    s.skills.mf_delta.class = 'Formula';
    const paths = errorsOf(s).map((e) => e.path);
    expect(paths).toContain('variables.feed.type');
    expect(paths).toContain('skills.cs.config.op_max');
    expect(paths).toContain('skills.mf_delta.class');
  });

  it('formulas: parse errors and unknown symbols, with positions and reasons', () => {
    const s = base();
    s.skills.mf_delta.config.formula = 'feed_dof - (feed_current';
    s.skills.mf_pred.config.formula = 'temp_current + feed';
    s.skills.mf_cost.config.formula = '-delta_feed - 100 * score + coal / delta_feed_threshold + bogus';
    const errors = errorsOf(s);
    const byPath = (p: string) => errors.filter((e) => e.path === p).map((e) => e.message);
    expect(byPath('skills.mf_delta.config.formula')[0]).toMatch(/position/);
    expect(byPath('skills.mf_pred.config.formula')).toContain(
      "'feed': variable 'feed' is declared but not among the skill's inputs; add it to inputs",
    );
    expect(byPath('skills.mf_cost.config.formula')).toEqual(
      expect.arrayContaining([
        "'delta_feed_threshold': variable 'delta_feed' has no threshold (or 0), so delta_feed_threshold is not defined",
        "unknown symbol 'bogus'",
      ]),
    );
  });

  it('a composition containing itself', () => {
    const s = base();
    s.skills.inner = { class: 'CompositionSkill', config: { skill_sequence: ['flow'] } };
    s.skills.flow.config.skill_sequence.push('inner');
    const messages = errorsOf(s).map((e) => `${e.path}: ${e.message}`);
    expect(messages).toContain(
      'skills.flow.config.skill_sequence: composition contains itself: flow -> inner -> flow',
    );
  });

  it('optimization skill: unknown cost skill, cost feature and algorithm', () => {
    const s = base();
    s.skills.opt.config.cost_skill_name = 'flw';
    s.skills.opt.config.cost_feature_name = 'costs';
    s.skills.opt.config.algorithm = 'BFGS';
    const messages = errorsOf(s).map((e) => `${e.path}: ${e.message}`);
    expect(messages).toContain("skills.opt.config.cost_skill_name: unknown skill 'flw'");
    expect(messages).toContain("skills.opt.config.cost_feature_name: 'costs' is not a declared variable");
    expect(messages.find((m) => m.startsWith('skills.opt.config.algorithm'))).toMatch(
      /unknown algorithm 'BFGS'; known: 'projected-bfgs', 'projected-quasi-newton', 'DE', 'auto' \(aliases 'SLSQP', 'L-BFGS-B'\)/,
    );
  });

  it('constraint limits out of order', () => {
    const s = base();
    s.skills.cs.config.op_min = 95;
    expect(errorsOf(s).map((e) => e.message)).toContain(
      'limits must satisfy var_min <= op_min <= op_max <= var_max (got 0, 95, 90, 100)',
    );
  });

  it('warnings: decision variable without threshold, unknown keys, null threshold', () => {
    const s = base();
    delete s.variables.coal.threshold;
    s.skills.mf_cost.config.formula = '-delta_feed - 100 * score + coal';
    s.variables.feed.threshhold = 3;
    const check = checkStrategy(s);
    expect(check.errors).toEqual([]);
    expect(check.warnings).toContainEqual({
      path: 'variables.coal.threshold',
      message: "decision variable of 'opt' has no threshold, so it cannot move",
    });
    expect(check.warnings).toContainEqual({
      path: 'variables.feed.threshhold',
      message: 'unknown key, ignored',
    });
    s.variables.coal.threshold = null;
    expect(checkStrategy(s).warnings).toContainEqual({
      path: 'variables.coal.threshold',
      message: 'null: taken as 1.0 (as the predecessor did)',
    });
  });

  it('more than one optimization per cycle', () => {
    const s = base();
    s.tasks.push({ name: 'Again', skill_sequence: ['opt'] });
    expect(errorsOf(s).map((e) => e.message)).toContain(
      '2 OptimizationSkill runs in one cycle; po runs at most one',
    );
  });

  it('an optimization skill inside a composition', () => {
    const s = base();
    s.skills.flow.config.skill_sequence.push('opt');
    expect(errorsOf(s).map((e) => e.message)).toContain(
      "'opt' is an OptimizationSkill; it cannot run inside a composition",
    );
  });

  it('a strategy that is not a mapping', () => {
    expect(errorsOf('- a\n- b\n')[0]!.message).toMatch(/must be a mapping/);
  });
});
