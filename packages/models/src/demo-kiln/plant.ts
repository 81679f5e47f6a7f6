/**
 * The demo kiln's plant description: its tags (the demo strategy's variable names), their
 * nominal values and limits, and the steady-state responses of the measured outputs.
 * Physics-flavoured, smooth and monotone where a process engineer expects it; not a
 * first-principles model of any real kiln.
 */

/** The operative setpoints, named as in config/demo/strategy.yaml. */
export const DEMO_KILN_SETPOINTS = [
  'Kiln_Feed_SFF_1_Feed_rate',
  'Kiln_Feed_SFF_2_Feed_rate',
  'Kiln_Coal_PV',
  'Calciner_temperature_PV',
  'PH_Fan_Speed_PV',
  'Kiln_Drive_Speed_PV',
  'Under_grate_Average_Pressure',
  'Cooler_Fan_3_Flow',
  'Cooler_Fan_4_Flow',
  'Cooler_Fan_5_Flow',
  'Cooler_Fan_6_Flow',
  'Cooler_Fan_7_Flow',
  'Cooler_Fan_8_Flow',
  'Cooler_Fan_9_Flow',
  'Cooler_Fan_A_Flow',
  'Cooler_Fan_2_Flow',
] as const;

/** The measured outputs (Informative variables of the demo strategy). */
export const DEMO_KILN_OUTPUTS = [
  'Kiln_Inlet_NOX',
  'Kiln_Drive_Current',
  'Clinker_temperature',
  'Calciner_outlet_CO',
] as const;

export type DemoKilnSetpoint = (typeof DEMO_KILN_SETPOINTS)[number];
export type DemoKilnOutput = (typeof DEMO_KILN_OUTPUTS)[number];
export type DemoKilnSetpoints = Record<DemoKilnSetpoint, number>;
export type DemoKilnOutputs = Record<DemoKilnOutput, number>;

/** One row in the predecessor's wide format: an ISO timestamp and one number per tag. */
export type DemoKilnRow = { timestamp: string } & DemoKilnSetpoints & DemoKilnOutputs;

/** The slow disturbances the operators do not set. */
export interface DemoKilnDisturbances {
  /**
   * Raw-meal burnability, dimensionless, stationary N(0, 1): positive is harder to burn
   * (high lime saturation), which cools the burning zone and thins the coating.
   */
  rawMeal: number;
  /** Drift of the burning-zone temperature seen as kiln-inlet NOx, percent, stationary sd 0.03. */
  noxDrift: number;
}

export interface SetpointSpec {
  nominal: number;
  /** Absolute limits: `setSetpoints` clamps into them. */
  min: number;
  max: number;
  /** A typical operator move; the simulated operators stay within nominal ± 3 moves. */
  move: number;
  /** Standard deviation of the process-value noise in a row. */
  noise: number;
  /** Decimals a row keeps. */
  decimals: number;
}

const fan = (nominal: number, min: number, max: number, move: number): SetpointSpec => ({
  nominal,
  min,
  max,
  move,
  noise: nominal * 0.004,
  decimals: 0,
});

/** Nominal operating point, limits (those of the demo strategy where it has them), moves, noise. */
export const SETPOINT_SPECS: Readonly<Record<DemoKilnSetpoint, SetpointSpec>> = {
  Kiln_Feed_SFF_1_Feed_rate: { nominal: 86, min: 60, max: 110, move: 2.5, noise: 0.25, decimals: 2 },
  Kiln_Feed_SFF_2_Feed_rate: { nominal: 86, min: 60, max: 110, move: 2.5, noise: 0.25, decimals: 2 },
  Kiln_Coal_PV: { nominal: 8.6, min: 6, max: 12, move: 0.2, noise: 0.015, decimals: 3 },
  Calciner_temperature_PV: { nominal: 862, min: 820, max: 900, move: 5, noise: 0.6, decimals: 1 },
  PH_Fan_Speed_PV: { nominal: 1240, min: 1100, max: 1350, move: 12, noise: 1.2, decimals: 1 },
  Kiln_Drive_Speed_PV: { nominal: 3.25, min: 2.5, max: 4, move: 0.1, noise: 0.003, decimals: 3 },
  Under_grate_Average_Pressure: { nominal: 5, min: 2, max: 8, move: 0.5, noise: 0.04, decimals: 3 },
  Cooler_Fan_3_Flow: fan(45000, 35000, 55000, 2000),
  Cooler_Fan_4_Flow: fan(45000, 35000, 55000, 2000),
  Cooler_Fan_5_Flow: fan(45000, 35000, 55000, 2000),
  Cooler_Fan_6_Flow: fan(45000, 35000, 55000, 2000),
  Cooler_Fan_7_Flow: fan(36000, 28000, 44000, 1500),
  Cooler_Fan_8_Flow: fan(36000, 28000, 44000, 1500),
  Cooler_Fan_9_Flow: fan(36000, 28000, 44000, 1500),
  Cooler_Fan_A_Flow: fan(12000, 8000, 16000, 600),
  Cooler_Fan_2_Flow: fan(14000, 9000, 18000, 700),
};

export interface OutputSpec {
  /** First-order time constant of the response, seconds. */
  lagSeconds: number;
  /** Standard deviation of the measurement noise (clipped at 3 sd). */
  noise: number;
  decimals: number;
}

/** Lags and measurement noise of the outputs. The clinker lag is on top of the drive current's. */
export const OUTPUT_SPECS: Readonly<Record<DemoKilnOutput, OutputSpec>> = {
  Kiln_Inlet_NOX: { lagSeconds: 180, noise: 0.004, decimals: 4 },
  Kiln_Drive_Current: { lagSeconds: 360, noise: 2.5, decimals: 2 },
  Clinker_temperature: { lagSeconds: 240, noise: 1.2, decimals: 2 },
  Calciner_outlet_CO: { lagSeconds: 120, noise: 0.008, decimals: 4 },
};

/** Time constants (seconds) and stationary standard deviations of the disturbances. */
export const DISTURBANCE_SPECS: Readonly<Record<keyof DemoKilnDisturbances, { tau: number; sd: number }>> = {
  rawMeal: { tau: 4 * 3600, sd: 1 },
  noxDrift: { tau: 90 * 60, sd: 0.03 },
};

export function nominalSetpoints(): DemoKilnSetpoints {
  return Object.fromEntries(
    DEMO_KILN_SETPOINTS.map((name) => [name, SETPOINT_SPECS[name].nominal]),
  ) as DemoKilnSetpoints;
}

const { exp, tanh } = Math;

/** Nominal feed (t/h, both feeders), coal, calciner temperature, PH fan speed, drive speed. */
const F0 = 172;
const C0 = 8.6;
const T0 = 862;
const P0 = 1240;
const S0 = 3.25;
const G0 = 5;
const I0 = 555;

/** Kiln-inlet NOx, percent: a hotter flame (more coal) raises it, more feed cools it. */
export function noxTarget(sp: DemoKilnSetpoints, d: DemoKilnDisturbances): number {
  const dF = sp.Kiln_Feed_SFF_1_Feed_rate + sp.Kiln_Feed_SFF_2_Feed_rate - F0;
  const dC = sp.Kiln_Coal_PV - C0;
  return Math.max(0.02, 0.28 + 0.05 * dC - 0.002 * dF - 0.015 * d.rawMeal + d.noxDrift);
}

/**
 * Kiln drive current, A: rises with the load (feed), the drive speed and the liquid phase
 * and coating (coal, a hot burning zone seen as NOx drift); falls with a hotter calciner
 * (better pre-calcined meal) and a hard-burning raw meal. Saturates ±160 A around 555 A.
 */
export function driveCurrentTarget(sp: DemoKilnSetpoints, d: DemoKilnDisturbances): number {
  const dF = sp.Kiln_Feed_SFF_1_Feed_rate + sp.Kiln_Feed_SFF_2_Feed_rate - F0;
  const dC = sp.Kiln_Coal_PV - C0;
  const dT = sp.Calciner_temperature_PV - T0;
  const dS = sp.Kiln_Drive_Speed_PV - S0;
  const u = 2.5 * dF + 40 * dC - 0.8 * dT + 120 * dS + 3 * dF * dS + 250 * d.noxDrift - 6 * d.rawMeal;
  return I0 + 160 * tanh(u / 160);
}

/**
 * Calciner outlet CO, percent: incomplete combustion grows with fuel and load and shrinks
 * with air (PH fan speed) and temperature; exponential in the drivers (so the effects
 * multiply), soft-limited, never below 0.02 %.
 */
export function coTarget(sp: DemoKilnSetpoints, d: DemoKilnDisturbances): number {
  const dF = sp.Kiln_Feed_SFF_1_Feed_rate + sp.Kiln_Feed_SFF_2_Feed_rate - F0;
  const dC = sp.Kiln_Coal_PV - C0;
  const dT = sp.Calciner_temperature_PV - T0;
  const dP = sp.PH_Fan_Speed_PV - P0;
  const z = 1.1 * dC + 0.03 * dF - 0.014 * dP - 0.025 * dT + 0.08 * d.rawMeal;
  return 0.1 + 0.18 * exp(1.5 * tanh(z / 1.5));
}

/** Effective cooling air, m3/h: the later compartments see cooler clinker and count less. */
export function coolingAir(sp: DemoKilnSetpoints): number {
  const q3456 = sp.Cooler_Fan_3_Flow + sp.Cooler_Fan_4_Flow + sp.Cooler_Fan_5_Flow + sp.Cooler_Fan_6_Flow;
  const q789 = sp.Cooler_Fan_7_Flow + sp.Cooler_Fan_8_Flow + sp.Cooler_Fan_9_Flow;
  return sp.Cooler_Fan_2_Flow + q3456 + 0.8 * q789 + 1.2 * sp.Cooler_Fan_A_Flow;
}

/**
 * Clinker temperature after the cooler, °C: 30 °C ambient plus the heat the clinker brings
 * (more with more burning, i.e. drive current, and a thicker bed, i.e. under-grate pressure)
 * times the fraction the cooling air leaves, exp(-air / 150000 m3/h).
 */
export function clinkerTarget(sp: DemoKilnSetpoints, driveCurrent: number): number {
  const heat = (1 + 0.003 * (driveCurrent - I0)) * (1 + 0.1 * (sp.Under_grate_Average_Pressure - G0));
  return 30 + 470 * Math.max(0.1, heat) * exp(-coolingAir(sp) / 150_000);
}

/** Every output at steady state for the given setpoints and disturbances (no noise). */
export function demoKilnSteadyState(
  setpoints: DemoKilnSetpoints,
  disturbances: DemoKilnDisturbances = { rawMeal: 0, noxDrift: 0 },
): DemoKilnOutputs {
  const current = driveCurrentTarget(setpoints, disturbances);
  return {
    Kiln_Inlet_NOX: noxTarget(setpoints, disturbances),
    Kiln_Drive_Current: current,
    Clinker_temperature: clinkerTarget(setpoints, current),
    Calciner_outlet_CO: coTarget(setpoints, disturbances),
  };
}
