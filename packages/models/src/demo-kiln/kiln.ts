import { gaussian, mulberry32 } from '@po/core';
import { ModelsError } from '../errors.ts';
import {
  clinkerTarget,
  coTarget,
  DEMO_KILN_OUTPUTS,
  DEMO_KILN_SETPOINTS,
  type DemoKilnDisturbances,
  type DemoKilnOutput,
  type DemoKilnOutputs,
  type DemoKilnRow,
  type DemoKilnSetpoint,
  type DemoKilnSetpoints,
  DISTURBANCE_SPECS,
  demoKilnSteadyState,
  driveCurrentTarget,
  nominalSetpoints,
  noxTarget,
  OUTPUT_SPECS,
  SETPOINT_SPECS,
} from './plant.ts';

/** Options of `createDemoKiln`. */
export interface DemoKilnOptions {
  /** Seeds every random draw (disturbances, noise, operators): the same seed and calls give the same rows. Default 1. */
  seed?: number;
  /** Setpoints at the start; the rest are nominal. The plant starts settled at them. */
  setpoints?: Partial<DemoKilnSetpoints>;
  /** Disturbances at the start. Default 0 (an average raw meal, no NOx drift). */
  disturbances?: Partial<DemoKilnDisturbances>;
  /** Largest integration step, seconds. Default 60. */
  maxStepSeconds?: number;
}

/** Options of `DemoKiln.history`. */
export interface DemoKilnHistoryOptions {
  /** How many rows. */
  rows: number;
  /** Seconds between rows. Default 60. */
  intervalSeconds?: number;
  /** Time of the first row. Required on a kiln whose clock has not started; must not be before it. */
  start?: Date | number | string;
  /**
   * Simulated operators: every `minGapMinutes`..`maxGapMinutes` (default 35..75) they move one
   * to four setpoints by about a typical move, staying within nominal ± 3 moves and the
   * limits. `false` holds the setpoints. Default on.
   */
  operators?: false | { minGapMinutes?: number; maxGapMinutes?: number };
  /** Called when the operators move setpoints: the first row showing the move and the new setpoints. */
  onMove?: (rowIndex: number, setpoints: Readonly<DemoKilnSetpoints>) => void;
}

/**
 * A change in how the plant responds, for tests of model-plant mismatch: an output's response
 * away from its nominal steady state is multiplied by `gain` (default 1) and shifted by `offset`
 * (its units, default 0), e.g. a drive current that reacts 1.6 times as strongly, or a coating
 * building up.
 */
export interface DemoKilnDrift {
  gain?: number;
  offset?: number;
}

/** The noise-free internal state of the kiln, for tests and diagnostics. */
export interface DemoKilnState {
  /** Simulated time, epoch milliseconds; undefined until the first `history` or `tick`. */
  time: number | undefined;
  setpoints: DemoKilnSetpoints;
  disturbances: DemoKilnDisturbances;
  /** The outputs as they are (lagged), before measurement noise. */
  outputs: DemoKilnOutputs;
}

/**
 * A synthetic cement kiln. Call order: `history` (optional, backfill) then `tick` (live),
 * both moving the simulated clock forward only; `setSetpoints` at any time applies from
 * then on. Not thread-safe (nothing in Node is shared between workers anyway).
 */
export interface DemoKiln {
  /** `rows` rows starting at `start` (or the kiln's clock), with simulated operators moving setpoints. */
  history(options: DemoKilnHistoryOptions): DemoKilnRow[];
  /** Advances the plant to `now` (no operator moves) and returns the row measured then. */
  tick(now: Date | number | string): DemoKilnRow;
  /** Moves setpoints (clamped into their limits); returns all setpoints as applied. */
  setSetpoints(setpoints: Partial<DemoKilnSetpoints>): DemoKilnSetpoints;
  /** The setpoints in force. */
  setpoints(): DemoKilnSetpoints;
  /** Changes how outputs respond from now on (replaces the earlier drift of each output named; `{}` removes it). */
  setDrift(drift: Partial<Record<DemoKilnOutput, DemoKilnDrift>>): void;
  state(): DemoKilnState;
}

/** A demo-kiln call that cannot be honoured (unknown tag, non-finite value, time going back). */
export class DemoKilnError extends ModelsError {
  constructor(problem: string) {
    super('INVALID_REQUEST', `Demo kiln: ${problem}`);
  }
}

function toMillis(time: Date | number | string, what: string): number {
  const ms = time instanceof Date ? time.getTime() : typeof time === 'number' ? time : Date.parse(time);
  if (!Number.isFinite(ms)) {
    throw new DemoKilnError(
      `${what} '${String(time)}' is not a valid time. Pass a Date, epoch ms or ISO string.`,
    );
  }
  return ms;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

const SETPOINT_SET: ReadonlySet<string> = new Set(DEMO_KILN_SETPOINTS);

/** The kiln's state (noise-free) and its random streams; the functions below move it. */
interface Plant {
  readonly sp: DemoKilnSetpoints;
  readonly dist: DemoKilnDisturbances;
  readonly out: DemoKilnOutputs;
  /** Simulated time, epoch ms; undefined until the clock starts. */
  time: number | undefined;
  readonly maxStepMs: number;
  readonly drawDisturbance: () => number;
  readonly drawNoise: () => number;
  readonly operatorRandom: () => number;
  readonly drift: Partial<Record<DemoKilnOutput, Required<DemoKilnDrift>>>;
}

/** The outputs' steady state at the nominal setpoints without disturbances: what a drift's gain scales around. */
const NOMINAL_OUTPUTS = demoKilnSteadyState(nominalSetpoints());

/** Validates every entry before applying any, so a bad call changes nothing. */
function applySetpoints(sp: DemoKilnSetpoints, partial: Partial<DemoKilnSetpoints>): void {
  const entries = Object.entries(partial);
  for (const [name, value] of entries) {
    if (!SETPOINT_SET.has(name)) {
      throw new DemoKilnError(
        `'${name}' is not a setpoint of the demo kiln. Setpoints: ${DEMO_KILN_SETPOINTS.join(', ')}.`,
      );
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new DemoKilnError(`setpoint '${name}' must be a finite number, got ${String(value)}.`);
    }
  }
  for (const [name, value] of entries as [DemoKilnSetpoint, number][]) {
    const spec = SETPOINT_SPECS[name];
    sp[name] = Math.min(spec.max, Math.max(spec.min, value));
  }
}

/** Exact discretization of the OU disturbances and the first-order lags over dt. */
function step(plant: Plant, dtMs: number): void {
  const { sp, dist, out } = plant;
  const dt = dtMs / 1000;
  for (const key of ['rawMeal', 'noxDrift'] as const) {
    const { tau, sd } = DISTURBANCE_SPECS[key];
    const a = Math.exp(-dt / tau);
    dist[key] = dist[key] * a + sd * Math.sqrt(1 - a * a) * plant.drawDisturbance();
  }
  const follow = (name: keyof DemoKilnOutputs, response: number) => {
    const d = plant.drift[name];
    const target = d
      ? NOMINAL_OUTPUTS[name] + d.gain * (response - NOMINAL_OUTPUTS[name]) + d.offset
      : response;
    const k = 1 - Math.exp(-dt / OUTPUT_SPECS[name].lagSeconds);
    out[name] += (target - out[name]) * k;
  };
  follow('Kiln_Inlet_NOX', noxTarget(sp, dist));
  follow('Kiln_Drive_Current', driveCurrentTarget(sp, dist));
  follow('Calciner_outlet_CO', coTarget(sp, dist));
  // Cascade: the cooler sees the clinker the kiln (its drive current) is making now.
  follow('Clinker_temperature', clinkerTarget(sp, out.Kiln_Drive_Current));
}

function advanceTo(plant: Plant, target: number, what: string): void {
  if (plant.time === undefined) {
    plant.time = target;
    return;
  }
  if (target < plant.time) {
    throw new DemoKilnError(
      `${what} ${new Date(target).toISOString()} is before the kiln's clock ${new Date(plant.time).toISOString()}; time only moves forward.`,
    );
  }
  while (plant.time < target) {
    const dt = Math.min(plant.maxStepMs, target - plant.time);
    step(plant, dt);
    plant.time += dt;
  }
}

function measure(plant: Plant): DemoKilnRow {
  const row: Record<string, number | string> = { timestamp: new Date(plant.time!).toISOString() };
  for (const name of DEMO_KILN_SETPOINTS) {
    const spec = SETPOINT_SPECS[name];
    row[name] = round(plant.sp[name] + spec.noise * plant.drawNoise(), spec.decimals);
  }
  for (const name of DEMO_KILN_OUTPUTS) {
    const spec = OUTPUT_SPECS[name];
    row[name] = round(Math.max(0, plant.out[name] + spec.noise * plant.drawNoise()), spec.decimals);
  }
  return row as DemoKilnRow;
}

function operatorMove(plant: Plant): void {
  const { sp, operatorRandom } = plant;
  const count = 1 + Math.floor(operatorRandom() * 4);
  const names: DemoKilnSetpoint[] = [...DEMO_KILN_SETPOINTS];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(operatorRandom() * (names.length - i));
    [names[i], names[j]] = [names[j]!, names[i]!];
    const name = names[i]!;
    const spec = SETPOINT_SPECS[name];
    const lo = Math.max(spec.min, spec.nominal - 3 * spec.move);
    const hi = Math.min(spec.max, spec.nominal + 3 * spec.move);
    // Operators lean back towards the nominal point the further they are from it.
    const offset = Math.max(-1, Math.min(1, (sp[name] - spec.nominal) / (3 * spec.move)));
    const up = operatorRandom() < 0.5 - 0.45 * offset;
    const size = spec.move * (0.3 + 1.2 * operatorRandom());
    sp[name] = Math.min(hi, Math.max(lo, sp[name] + (up ? size : -size)));
  }
}

function history(plant: Plant, options: DemoKilnHistoryOptions): DemoKilnRow[] {
  const { rows, onMove } = options;
  const intervalMs = (options.intervalSeconds ?? 60) * 1000;
  if (!Number.isInteger(rows) || rows < 0) {
    throw new DemoKilnError(`history rows must be a non-negative integer, got ${rows}.`);
  }
  if (!(intervalMs > 0)) throw new DemoKilnError('history intervalSeconds must be positive.');
  if (options.start === undefined && plant.time === undefined) {
    throw new DemoKilnError('history needs a start time on a kiln whose clock has not started.');
  }
  const start = options.start === undefined ? plant.time! : toMillis(options.start, 'history start');
  const ops = options.operators === false ? undefined : (options.operators ?? {});
  const minGapMs = (ops?.minGapMinutes ?? 35) * 60_000;
  const maxGapMs = (ops?.maxGapMinutes ?? 75) * 60_000;
  const nextGap = () => minGapMs + (maxGapMs - minGapMs) * plant.operatorRandom();
  let nextMove = ops === undefined ? Number.POSITIVE_INFINITY : start + nextGap();
  const result: DemoKilnRow[] = [];
  for (let i = 0; i < rows; i++) {
    const at = start + i * intervalMs;
    advanceTo(plant, at, 'history row');
    if (at >= nextMove) {
      operatorMove(plant);
      nextMove = at + nextGap();
      onMove?.(i, { ...plant.sp });
    }
    result.push(measure(plant));
  }
  return result;
}

/** Creates a seeded synthetic kiln; see the package README for its responses. */
export function createDemoKiln(options: DemoKilnOptions = {}): DemoKiln {
  const seed = options.seed ?? 1;
  const maxStepMs = (options.maxStepSeconds ?? 60) * 1000;
  if (!(maxStepMs > 0)) throw new DemoKilnError('maxStepSeconds must be positive.');
  const sp = nominalSetpoints();
  applySetpoints(sp, options.setpoints ?? {});
  const dist: DemoKilnDisturbances = { rawMeal: 0, noxDrift: 0, ...options.disturbances };
  const plant: Plant = {
    sp,
    dist,
    out: demoKilnSteadyState(sp, dist),
    time: undefined,
    maxStepMs,
    // Separate streams, so that operators moving or not does not change the noise sequence.
    drawDisturbance: gaussian(mulberry32(seed * 4 + 1)),
    drawNoise: gaussian(mulberry32(seed * 4 + 2)),
    operatorRandom: mulberry32(seed * 4 + 3),
    drift: {},
  };
  return {
    history: (historyOptions) => history(plant, historyOptions),
    tick(now) {
      advanceTo(plant, toMillis(now, 'tick time'), 'tick time');
      return measure(plant);
    },
    setSetpoints(partial) {
      applySetpoints(sp, partial);
      return { ...sp };
    },
    setpoints: () => ({ ...sp }),
    setDrift(drift) {
      for (const [name, d] of Object.entries(drift) as [DemoKilnOutput, DemoKilnDrift][]) {
        if (!(DEMO_KILN_OUTPUTS as readonly string[]).includes(name)) {
          throw new DemoKilnError(
            `'${name}' is not an output of the demo kiln. Outputs: ${DEMO_KILN_OUTPUTS.join(', ')}.`,
          );
        }
        const gain = d.gain ?? 1;
        const offset = d.offset ?? 0;
        if (!Number.isFinite(gain) || !Number.isFinite(offset)) {
          throw new DemoKilnError(`the drift of '${name}' must have a finite gain and offset.`);
        }
        plant.drift[name] = { gain, offset };
      }
    },
    state: () => ({
      time: plant.time,
      setpoints: { ...sp },
      disturbances: { ...dist },
      outputs: { ...plant.out },
    }),
  };
}
