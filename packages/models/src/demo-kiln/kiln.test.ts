import { describe, expect, it } from 'vitest';
import { createDemoKiln, DemoKilnError } from './kiln.ts';
import {
  DEMO_KILN_OUTPUTS,
  DEMO_KILN_SETPOINTS,
  type DemoKilnOutput,
  type DemoKilnSetpoints,
  demoKilnSteadyState,
  nominalSetpoints,
  OUTPUT_SPECS,
  SETPOINT_SPECS,
} from './plant.ts';

const START = '2025-01-01T00:00:00.000Z';
const MINUTE = 60_000;

describe('createDemoKiln', () => {
  it('gives the same rows for the same seed and calls, and other rows for another seed', () => {
    const run = (seed: number) => {
      const kiln = createDemoKiln({ seed });
      const rows = kiln.history({ rows: 600, start: START });
      kiln.setSetpoints({ Kiln_Coal_PV: 9 });
      rows.push(kiln.tick(Date.parse(START) + 700 * MINUTE));
      return rows;
    };
    expect(run(7)).toEqual(run(7));
    expect(run(8)).not.toEqual(run(7));
  });

  it('writes rows in the wide format, one minute apart, continuing with tick', () => {
    const kiln = createDemoKiln();
    const rows = kiln.history({ rows: 3, start: START });
    expect(rows.map((r) => r.timestamp)).toEqual([
      '2025-01-01T00:00:00.000Z',
      '2025-01-01T00:01:00.000Z',
      '2025-01-01T00:02:00.000Z',
    ]);
    expect(Object.keys(rows[0]!)).toEqual(['timestamp', ...DEMO_KILN_SETPOINTS, ...DEMO_KILN_OUTPUTS]);
    expect(kiln.tick('2025-01-01T00:10:00Z').timestamp).toBe('2025-01-01T00:10:00.000Z');
    expect(() => kiln.tick(START)).toThrow(/time only moves forward/);
  });

  it('stays in realistic ranges over a month of operator moves', () => {
    const rows = createDemoKiln({ seed: 3 }).history({ rows: 60 * 24 * 30, start: START });
    const range = (name: keyof (typeof rows)[number]) => {
      const values = rows.map((r) => r[name] as number);
      return [Math.min(...values), Math.max(...values)];
    };
    for (const name of DEMO_KILN_SETPOINTS) {
      const spec = SETPOINT_SPECS[name];
      const [lo, hi] = range(name);
      expect(lo, name).toBeGreaterThanOrEqual(spec.nominal - 3 * spec.move - 4 * spec.noise);
      expect(hi, name).toBeLessThanOrEqual(spec.nominal + 3 * spec.move + 4 * spec.noise);
    }
    const [iLo, iHi] = range('Kiln_Drive_Current');
    expect(iLo).toBeGreaterThan(440);
    expect(iHi).toBeLessThan(640);
    const [coLo, coHi] = range('Calciner_outlet_CO');
    expect(coLo).toBeGreaterThan(0.05);
    expect(coHi).toBeLessThan(0.9);
    const [tLo, tHi] = range('Clinker_temperature');
    expect(tLo).toBeGreaterThan(50);
    expect(tHi).toBeLessThan(150);
    const [nLo, nHi] = range('Kiln_Inlet_NOX');
    expect(nLo).toBeGreaterThan(0.05);
    expect(nHi).toBeLessThan(0.6);
    // The constraints of the demo strategy are active now and then, not all the time.
    const co = rows.filter((r) => r.Calciner_outlet_CO > 0.4).length / rows.length;
    expect(co).toBeGreaterThan(0.01);
    expect(co).toBeLessThan(0.3);
    // Operators move setpoints now and then.
    const coal = new Set(rows.map((r) => Math.round(r.Kiln_Coal_PV * 20)));
    expect(coal.size).toBeGreaterThan(5);
  });

  /** Same seed twice, one with a step at t = 60 min: the noise draws are the same, so the rows differ by the response alone. */
  function stepResponse(step: Partial<DemoKilnSetpoints>, minutesAfter: number) {
    const hold = createDemoKiln({ seed: 11 });
    const moved = createDemoKiln({ seed: 11 });
    hold.history({ rows: 61, start: START, operators: false });
    moved.history({ rows: 61, start: START, operators: false });
    moved.setSetpoints(step);
    const at = Date.parse(START) + (60 + minutesAfter) * MINUTE;
    const a = hold.tick(at);
    const b = moved.tick(at);
    return Object.fromEntries(DEMO_KILN_OUTPUTS.map((o) => [o, b[o] - a[o]])) as Record<
      DemoKilnOutput,
      number
    >;
  }

  it.each([
    [
      'coal +0.3 t/h',
      { Kiln_Coal_PV: 8.9 },
      { Calciner_outlet_CO: 1, Kiln_Drive_Current: 1, Kiln_Inlet_NOX: 1 },
    ],
    ['feed +5 t/h', { Kiln_Feed_SFF_1_Feed_rate: 91 }, { Calciner_outlet_CO: 1, Kiln_Drive_Current: 1 }],
    ['drive speed +0.15', { Kiln_Drive_Speed_PV: 3.4 }, { Kiln_Drive_Current: 1, Clinker_temperature: 1 }],
    ['calciner +8 °C', { Calciner_temperature_PV: 870 }, { Calciner_outlet_CO: -1, Kiln_Drive_Current: -1 }],
    ['PH fan +20 RPM', { PH_Fan_Speed_PV: 1260 }, { Calciner_outlet_CO: -1 }],
    ['grate +1 kPa', { Under_grate_Average_Pressure: 6 }, { Clinker_temperature: 1 }],
    ['cooler fan 4 +4000', { Cooler_Fan_4_Flow: 49000 }, { Clinker_temperature: -1 }],
  ] as const)('%s moves the outputs the right way after the lag', (_, step, signs) => {
    const now = stepResponse(step, 0);
    const later = stepResponse(step, 30);
    for (const output of DEMO_KILN_OUTPUTS) {
      // Nothing happens at the instant of the move: the plant lags.
      expect(Math.abs(now[output]), `${output} at once`).toBeLessThanOrEqual(
        10 ** -OUTPUT_SPECS[output].decimals,
      );
      const sign = (signs as Partial<Record<DemoKilnOutput, number>>)[output];
      if (sign === undefined) continue;
      expect(Math.sign(later[output]), output).toBe(sign);
      expect(Math.abs(later[output]), output).toBeGreaterThan(OUTPUT_SPECS[output].noise); // more than the noise
    }
  });

  it('responds with a first-order lag: about 63 % of the drive-current step after one time constant', () => {
    const tau = OUTPUT_SPECS.Kiln_Drive_Current.lagSeconds / 60;
    const step = { Kiln_Drive_Speed_PV: 3.35 };
    const after = stepResponse(step, tau).Kiln_Drive_Current;
    const settled = stepResponse(step, 10 * tau).Kiln_Drive_Current;
    expect(after / settled).toBeGreaterThan(0.55);
    expect(after / settled).toBeLessThan(0.72);
  });

  it('settles to the steady state, with measurement noise bounded by 3 sd', () => {
    const kiln = createDemoKiln({ seed: 5 });
    kiln.history({ rows: 1, start: START, operators: false });
    let worst = 0;
    for (let i = 1; i <= 2000; i++) {
      const row = kiln.tick(Date.parse(START) + i * MINUTE);
      const { outputs, setpoints } = kiln.state();
      for (const name of DEMO_KILN_OUTPUTS) {
        const spec = OUTPUT_SPECS[name];
        const error = Math.abs(row[name] - outputs[name]);
        expect(error, name).toBeLessThanOrEqual(3 * spec.noise + 10 ** -spec.decimals);
        worst = Math.max(worst, error / spec.noise);
      }
      for (const name of DEMO_KILN_SETPOINTS) {
        const spec = SETPOINT_SPECS[name];
        expect(Math.abs(row[name] - setpoints[name]), name).toBeLessThanOrEqual(
          3 * spec.noise + 10 ** -spec.decimals,
        );
      }
    }
    expect(worst).toBeGreaterThan(1); // it is noisy
    const steady = demoKilnSteadyState(nominalSetpoints());
    expect(steady.Kiln_Drive_Current).toBeCloseTo(555, 6);
    expect(steady.Calciner_outlet_CO).toBeCloseTo(0.28, 6);
  });

  it('clamps setpoints into their limits and refuses unknown tags without applying anything', () => {
    const kiln = createDemoKiln();
    expect(kiln.setSetpoints({ Kiln_Coal_PV: 20 }).Kiln_Coal_PV).toBe(SETPOINT_SPECS.Kiln_Coal_PV.max);
    const before = kiln.setpoints();
    const bad = { PH_Fan_Speed_PV: 1200, Kiln_Coal: 9 } as unknown as Partial<DemoKilnSetpoints>;
    expect(() => kiln.setSetpoints(bad)).toThrow(DemoKilnError);
    expect(() => kiln.setSetpoints(bad)).toThrow(/\[po\/models\] Demo kiln: 'Kiln_Coal' is not a setpoint/);
    expect(() => kiln.setSetpoints({ Kiln_Coal_PV: Number.NaN })).toThrow(/finite number/);
    expect(kiln.setpoints()).toEqual(before);
    expect(() => createDemoKiln().history({ rows: 3 })).toThrow(/needs a start time/);
  });
});

describe('demo kiln drift (for model-plant mismatch tests)', () => {
  it('a gain scales an output’s response around its nominal steady state; an offset shifts it; {} removes both', () => {
    const settle = (kiln: ReturnType<typeof createDemoKiln>, from: number) => {
      kiln.tick(from + 3 * 3600_000);
      return kiln.state().outputs.Kiln_Drive_Current;
    };
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const plain = createDemoKiln({ seed: 3 });
    const drifted = createDemoKiln({ seed: 3 });
    for (const k of [plain, drifted]) {
      k.tick(t0);
      k.setSetpoints({ Kiln_Feed_SFF_1_Feed_rate: 92 });
    }
    drifted.setDrift({ Kiln_Drive_Current: { gain: 2, offset: 5 } });
    const a = settle(plain, t0);
    const b = settle(drifted, t0);
    const nominal = demoKilnSteadyState(nominalSetpoints()).Kiln_Drive_Current;
    expect(b - nominal).toBeCloseTo(2 * (a - nominal) + 5, 6);
    drifted.setDrift({ Kiln_Drive_Current: {} });
    expect(settle(drifted, t0 + 3 * 3600_000)).toBeCloseTo(settle(plain, t0 + 3 * 3600_000), 6);
    expect(() => drifted.setDrift({ Nope: { gain: 2 } } as never)).toThrow(/'Nope' is not an output/);
    expect(() => drifted.setDrift({ Kiln_Drive_Current: { gain: Number.NaN } })).toThrow(/finite gain/);
  });
});
