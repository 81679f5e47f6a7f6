/** What the dashboard reads from a strategy and a stored result: units, limits, constraint states. */
import type { StrategySpec } from '@po/rto-engine';
import type { StoredResult } from '../schemas.ts';

/** Operating and physical limits of a value (from a Constraint skill), or absolute limits (min/max). */
export interface Limits {
  opMin?: number;
  opMax?: number;
  varMin?: number;
  varMax?: number;
}

/** Everything the views need to know about one variable. */
export interface VariableFacts {
  name: string;
  type: string;
  units: string | null;
  min?: number;
  max?: number;
  threshold?: number | null;
  /** Limits of the value, from the Constraint skill scoring it. */
  limits?: Limits;
  /** For a Constraint (score) variable: the variable it scores. */
  scores?: string;
}

/** Reads the facts of every variable of a strategy. */
export function variableFacts(spec: StrategySpec): Map<string, VariableFacts> {
  const facts = new Map<string, VariableFacts>();
  for (const [name, v] of Object.entries(spec.variables)) {
    facts.set(name, {
      name,
      type: v.type,
      units: v.units ?? null,
      ...(v.min !== undefined ? { min: v.min } : {}),
      ...(v.max !== undefined ? { max: v.max } : {}),
      threshold: v.threshold ?? null,
    });
  }
  for (const skill of Object.values(spec.skills)) {
    if (skill.class !== 'Constraint') continue;
    const config = skill.config as { var_min: number; var_max: number; op_min: number; op_max: number };
    const limits = {
      opMin: config.op_min,
      opMax: config.op_max,
      varMin: config.var_min,
      varMax: config.var_max,
    };
    const input = skill.inputs[0];
    const output = skill.outputs[0];
    const scored = input ? facts.get(input) : undefined;
    if (scored) scored.limits = limits;
    const score = output ? facts.get(output) : undefined;
    if (score && input) {
      score.scores = input;
      score.limits = limits;
    }
  }
  return facts;
}

/** Where a value sits against its limits, worst first. */
export type LimitState = 'beyond-physical' | 'beyond-operating' | 'near' | 'inside' | 'unknown';

export const LIMIT_STATE_LABEL: Record<LimitState, string> = {
  'beyond-physical': 'beyond physical limit',
  'beyond-operating': 'beyond operating limit',
  near: 'near operating limit',
  inside: 'inside',
  unknown: 'no limits',
};

/** Within this share of the operating span from an operating limit counts as near it. */
const NEAR_SHARE = 0.1;

/** The state of a value against limits; a constraint score without the value is judged by the score. */
export function limitState(
  value: number | null | undefined,
  limits: Limits | undefined,
  score?: number | null,
): LimitState {
  if (typeof value === 'number' && limits?.opMin !== undefined && limits.opMax !== undefined) {
    const { opMin, opMax, varMin, varMax } = limits;
    if ((varMin !== undefined && value < varMin) || (varMax !== undefined && value > varMax))
      return 'beyond-physical';
    if (value < opMin || value > opMax) return 'beyond-operating';
    const near = (opMax - opMin) * NEAR_SHARE;
    return value - opMin < near || opMax - value < near ? 'near' : 'inside';
  }
  if (typeof score === 'number') {
    if (score < 0) return 'beyond-physical';
    if (score < 1) return 'beyond-operating';
    return 'inside';
  }
  return 'unknown';
}

/** A stored pair of values (holding the current setpoints, and at the recommendation). */
export interface AtCurrentAndRecommended {
  at_current: number | null;
  recommended: number | null;
}

/** A stored decision variable (the runner's `decisionVariables`). */
export interface StoredDecision {
  current: number | null;
  recommended: number | null;
  lower_bound: number | null;
  upper_bound: number | null;
  at_bound: 'lower' | 'upper' | null;
  units: string | null;
}

/** A stored setpoint (the engine's `setpoints`). */
export interface StoredSetpoint {
  current: number;
  recommended: number;
  delta: number;
  units: string | null;
  from: string;
}

/** A stored result's fields the views read, typed (the store returns them as JSON). */
export interface CycleView {
  id: string;
  dataTimestamp: Date;
  createdAt: Date;
  status: 'ok' | 'skipped' | 'failed';
  reason: string | null;
  strategyVersion: string | null;
  mode: string | null;
  costAtCurrent: number | null;
  costRecommended: number | null;
  setpoints: Record<string, StoredSetpoint>;
  decisions: Record<string, StoredDecision>;
  predictions: Record<string, AtCurrentAndRecommended>;
  scores: Record<string, AtCurrentAndRecommended>;
  explanation: {
    constraints?: Record<
      string,
      { score: number; value: number | null; pushed_by: { variable: string; score_per_unit: number }[] }
    >;
  } | null;
  optimizer: { held?: boolean; message?: string; algorithm?: string; converged?: boolean } | null;
  lastFeedback: { decision: string; operator: string | null; reason: string | null } | null;
}

const record = <T>(v: unknown): Record<string, T> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, T>) : {};
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const numOrNull = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** Reads a stored result (its fields are the store's: camelCase from @po/db). */
export function cycleView(r: StoredResult): CycleView {
  const f = r as Record<string, unknown>;
  return {
    id: String(f.id),
    dataTimestamp: date(f.dataTimestamp),
    createdAt: date(f.createdAt),
    status: f.status as CycleView['status'],
    reason: (f.reason as string | null) ?? null,
    strategyVersion: (f.strategyVersion as string | null) ?? null,
    mode: (f.mode as string | null) ?? null,
    costAtCurrent: numOrNull(f.costAtCurrent),
    costRecommended: numOrNull(f.costRecommended),
    setpoints: record(f.setpoints),
    decisions: record(f.decisionVariables),
    predictions: record(f.predictions),
    scores: record(f.constraintScores),
    explanation: (f.explanation as CycleView['explanation']) ?? null,
    optimizer: (f.optimizer as CycleView['optimizer']) ?? null,
    lastFeedback: (f.lastFeedback as CycleView['lastFeedback']) ?? null,
  };
}

/** A number for people: up to 4 significant digits past the point, never exponent for plant values. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 4;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A value with its units (`84.3 t/h`), or the value alone when it has none. */
export function withUnits(v: number | null | undefined, units: string | null | undefined): string {
  const n = formatNumber(v);
  return units && n !== '–' ? `${n} ${units}` : n;
}

/** How long ago, in words (`42 s`, `3 min`, `2 h`). */
export function age(from: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
