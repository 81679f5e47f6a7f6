import { constraintScore } from './constraint-score.ts';
import { CycleError } from './errors.ts';
import type { ModelSkillPlan, SkillPlan } from './plan.ts';
import { Feed } from './semantics.ts';

/**
 * The columnar state of one cycle: a dof column per variable (one row per candidate
 * point), the current values, and each formula bound to those columns. Reused across
 * cycles; grows rarely.
 */
export class Workspace {
  capacity = 0;
  dof: Float64Array[] = [];
  readonly current: Float64Array;
  /** dof values of the cycle's state before the optimizer moves anything (row template). */
  readonly base: Float64Array;
  /** Per skill (plan index): what is added to a model's prediction this cycle (bias correction), else 0. */
  readonly shift: Float64Array;
  private fns: (((row: number) => number) | undefined)[] = [];
  private modelIn: (Float64Array | undefined)[] = [];
  private modelOut: (Float64Array | undefined)[] = [];
  /** Per model group: its members' input and output buffers, in member order. */
  private groupIn: (Float64Array[] | undefined)[] = [];
  private groupOut: (Float64Array[] | undefined)[] = [];
  /** Per model: where `valueAndJacobianSync` puts the Jacobian that `run(..., onKernel)` discards. */
  private scratch: (Float64Array | undefined)[] = [];

  constructor(
    private readonly size: number,
    private readonly plans: readonly SkillPlan[],
  ) {
    this.current = new Float64Array(size);
    this.base = new Float64Array(size);
    this.shift = new Float64Array(plans.length);
    this.ensure(16);
  }

  ensure(rows: number): void {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, this.capacity * 2);
    this.dof = Array.from({ length: this.size }, () => new Float64Array(capacity));
    this.fns = this.plans.map((p) =>
      p.kind === 'math' ? p.formula.bind(this.dof, this.current) : undefined,
    );
    this.modelIn = this.plans.map((p) =>
      p.kind === 'model' ? new Float64Array(capacity * p.inputs.length) : undefined,
    );
    this.modelOut = this.plans.map((p) => (p.kind === 'model' ? new Float64Array(capacity) : undefined));
    const members = (p: SkillPlan, of: (Float64Array | undefined)[]) =>
      p.kind === 'modelGroup' ? [...p.members].map((m) => of[m]!) : undefined;
    this.groupIn = this.plans.map((p) => members(p, this.modelIn));
    this.groupOut = this.plans.map((p) => members(p, this.modelOut));
    this.scratch = this.plans.map((p) =>
      p.kind === 'model' && p.model.valueAndJacobianSync
        ? new Float64Array(capacity * p.inputs.length)
        : undefined,
    );
    this.capacity = capacity;
  }

  /** Sets `count` rows to the base state. */
  reset(count: number): void {
    // A loop, not `fill`: for the one-row batches of exact-gradient evaluations the builtin's
    // call costs more than the copy.
    for (let v = 0; v < this.size; v++) {
      const column = this.dof[v]!;
      const value = this.base[v]!;
      for (let r = 0; r < count; r++) column[r] = value;
    }
  }

  /** A non-finite value in row 0 after skill `k` ran at the current values is an error naming the skill. */
  private checkRow0(k: number): void {
    const plan = this.plans[k]!;
    if (plan.kind === 'optimize') return;
    if (plan.kind === 'modelGroup') {
      for (const m of plan.members) this.checkRow0(m);
      return;
    }
    const value = this.dof[plan.out]![0]!;
    if (!Number.isFinite(value)) {
      throw new CycleError(
        `skill '${plan.name}' computed a non-finite value (${value}) at the current plant values; check its inputs and formula (e.g. a division by zero)`,
      );
    }
  }

  /** Writes a model skill's inputs for `count` rows into its buffer: Delta dof - current, dof, or 0. */
  private gather(k: number, count: number): void {
    const plan = this.plans[k] as ModelSkillPlan;
    const buf = this.modelIn[k]!;
    const width = plan.inputs.length;
    for (let j = 0; j < width; j++) {
      const v = plan.inputs[j]!;
      const col = this.dof[v]!;
      const feed = plan.feeds[j];
      const cur = this.current[v]!;
      if (feed === Feed.delta) for (let r = 0; r < count; r++) buf[r * width + j] = col[r]! - cur;
      else if (feed === Feed.dof) for (let r = 0; r < count; r++) buf[r * width + j] = col[r]!;
      else for (let r = 0; r < count; r++) buf[r * width + j] = 0;
    }
  }

  /** Writes a model skill's predictions: the output's current value plus the prediction (plus its bias shift). */
  private scatter(k: number, count: number): void {
    const plan = this.plans[k] as ModelSkillPlan;
    const res = this.modelOut[k]!;
    const out = this.dof[plan.out]!;
    const base = this.current[plan.out]! + this.shift[k]!;
    for (let r = 0; r < count; r++) out[r] = base + res[r]!;
  }

  /**
   * Runs leaf skills over `count` rows. With `check`, a non-finite output in row 0 is an
   * error naming the skill (used at the current values, where it cannot be infeasibility).
   * With `onKernel`, models that have `valueAndJacobianSync` predict through it (float64, no
   * runtime hop: the values the exact evaluations saw) instead of `predict`.
   */
  async run(sequence: Int32Array, count: number, check = false, onKernel = false): Promise<void> {
    const dof = this.dof;
    for (let s = 0; s < sequence.length; s++) {
      const k = sequence[s]!;
      const plan = this.plans[k]!;
      switch (plan.kind) {
        case 'math': {
          const f = this.fns[k]!;
          const out = dof[plan.out]!;
          for (let r = 0; r < count; r++) out[r] = f(r);
          break;
        }
        case 'constraint': {
          const input = dof[plan.input]!;
          const out = dof[plan.out]!;
          for (let r = 0; r < count; r++) out[r] = constraintScore(input[r]!, plan.limits);
          break;
        }
        case 'model': {
          this.gather(k, count);
          if (onKernel && plan.model.valueAndJacobianSync) {
            plan.model.valueAndJacobianSync(this.modelIn[k]!, count, this.modelOut[k]!, this.scratch[k]!);
          } else await plan.model.predict(this.modelIn[k]!, count, this.modelOut[k]!);
          this.scatter(k, count);
          break;
        }
        case 'modelGroup': {
          const members = plan.members;
          for (let m = 0; m < members.length; m++) this.gather(members[m]!, count);
          if (onKernel && members.every((m) => this.scratch[m] !== undefined)) {
            for (let m = 0; m < members.length; m++) {
              const j = members[m]!;
              const model = (this.plans[j] as ModelSkillPlan).model;
              model.valueAndJacobianSync!(this.modelIn[j]!, count, this.modelOut[j]!, this.scratch[j]!);
            }
          } else await plan.group.predict(this.groupIn[k]!, count, this.groupOut[k]!);
          for (let m = 0; m < members.length; m++) this.scatter(members[m]!, count);
          break;
        }
        case 'optimize':
          break;
      }
      if (check) this.checkRow0(k);
    }
  }
}
