import type { SurrogateModel } from '@po/core';
import { type ConstraintLimits, constraintScore, constraintScoreSlopes } from './constraint-score.ts';
import { EngineError } from './errors.ts';
import type { FormulaGradient, KinkCounter } from './formula/index.ts';
import type { ModelSkillPlan, OptimizationPlan, SkillPlan } from './plan.ts';
import { Feed } from './semantics.ts';
import type { Workspace } from './workspace.ts';

/**
 * Exact derivatives of the cost by the decision variables, through the whole cost sequence, in
 * forward mode: every variable carries, per row, its directional derivatives along each decision
 * variable (n tangents). Formulas give their partial derivatives (the formula compiler's
 * `bindGradient`), constraint scores their one-sided slopes, models their Jacobian
 * (`SurrogateModel.valueAndJacobian`, or central differences of `predict` for a model without
 * one). A pass runs along +e_j (derivatives moving each variable up) or -e_j (moving it down):
 * the two differ only where a constraint score sits on a kink, and a pass reports whether the
 * cost met one.
 */
export class CostDerivatives {
  private readonly n: number;
  private capacity = 0;
  private tangents: Float64Array[] = [];
  /** Per variable and row: 1 when a nonsmooth point lies upstream of it. */
  private flags: Uint8Array[] = [];
  private boundTo: readonly Float64Array[] | undefined;
  private grads: (FormulaGradient | undefined)[] = [];
  private readonly partials: (Float64Array | undefined)[];
  private readonly kinks: KinkCounter = { count: 0 };
  private readonly slopes = new Float64Array(2);
  /**
   * Per plan index of a constraint: 0 takes, per tangent, the slope on the side it moves to; -1
   * forces the slope below the nearest operating limit and 1 the slope above it, for every
   * tangent (the gradient of one smooth piece of the score).
   */
  private readonly forced: Int8Array;
  /** Per plan index: 1 when a constraint score comes before the skill in the cost sequence. */
  private readonly afterConstraint: Uint8Array;
  /** Set during the passes of `pieces`: models keep the previous run's predictions (`reusing`). */
  private reuseModels = false;
  /**
   * Set for a pass of `pieces` that follows a pass at the same point with every side up: the
   * seed and every skill before the first constraint score keep their values and tangents
   * (forcing a score's piece changes nothing upstream of it), so the pass runs from the scores.
   * Only when `upstreamStable`.
   */
  private keepUpstream = false;
  /** No skill of the sequence writes a decision variable or a variable another skill writes. */
  private readonly upstreamStable: boolean;
  /** Whether the last seed was one row with every side up. */
  private lastUp = false;
  private readonly row: Float64Array;
  private modelIn: (Float64Array | undefined)[] = [];
  private modelOut: (Float64Array | undefined)[] = [];
  private jacobians: (Float64Array | undefined)[] = [];
  /** The leaf skills of the cost sequence (a fused model group is differentiated member by member). */
  private readonly sequence: number[];
  /**
   * Per variable, the decision variables its tangent can depend on (the others' entries stay 0):
   * each formula, constraint and model touches only those, not all n.
   */
  private readonly reach: Int32Array[];

  constructor(
    private readonly ws: Workspace,
    private readonly plans: readonly SkillPlan[],
    private readonly opt: OptimizationPlan,
    private readonly size: number,
  ) {
    this.n = opt.decisions.length;
    this.row = new Float64Array(this.n);
    this.sides = new Float64Array(this.n);
    this.partials = plans.map((p) =>
      p.kind === 'math' ? new Float64Array(Math.max(1, p.formula.dofVariables.length)) : undefined,
    );
    this.sequence = [...opt.costSequence].flatMap((k) => {
      const p = plans[k]!;
      return p.kind === 'modelGroup' ? [...p.members] : [k];
    });
    this.reach = reachOf(plans, opt, this.sequence, size);
    this.forced = new Int8Array(plans.length);
    this.afterConstraint = new Uint8Array(plans.length);
    let constraintSeen = false;
    for (const k of this.sequence) {
      if (plans[k]!.kind === 'constraint') constraintSeen = true;
      else if (constraintSeen) this.afterConstraint[k] = 1;
    }
    this.lastPoint = new Float64Array(this.n);
    this.constraints = this.sequence.filter((k) => plans[k]!.kind === 'constraint');
    this.gradH = new Float64Array(this.constraints.length * this.n);
    this.near = new Int32Array(this.constraints.length);
    this.synchronous = this.asyncModels.length === 0;
    this.modelsWithoutDerivatives = this.sequence.flatMap((k) => {
      const p = plans[k]!;
      return p.kind === 'model' && p.model.valueAndJacobian === undefined ? [p.name] : [];
    });
    const written = new Set<number>(opt.decisions);
    let stable = true;
    for (const k of this.sequence) {
      const p = plans[k]!;
      if (p.kind === 'optimize' || p.kind === 'modelGroup') continue;
      if (written.has(p.out)) stable = false;
      written.add(p.out);
    }
    this.upstreamStable = stable;
  }

  /** Whether skill k runs in this pass: all do, except upstream of the scores when `keepUpstream`. */
  private runs(k: number, kind: SkillPlan['kind']): boolean {
    return !this.keepUpstream || this.afterConstraint[k] === 1 || kind === 'constraint';
  }

  /** True when every model of the cost has `valueAndJacobianSync`, so `runSync` can run. */
  readonly synchronous: boolean;

  /** The model skills of the cost sequence that give no `valueAndJacobianSync`. */
  private get asyncModels(): string[] {
    return this.sequence.flatMap((k) => {
      const p = this.plans[k]!;
      return p.kind === 'model' && p.model.valueAndJacobianSync === undefined ? [p.name] : [];
    });
  }

  /**
   * The model skills of the cost sequence that give no `valueAndJacobian` (differenced here);
   * read every cycle, so found once.
   */
  readonly modelsWithoutDerivatives: readonly string[];

  private ensure(count: number): void {
    this.ws.ensure(count);
    if (this.boundTo !== this.ws.dof) {
      this.boundTo = this.ws.dof;
      this.grads = this.plans.map((p, k) =>
        p.kind === 'math'
          ? p.formula.bindGradient(this.ws.dof, this.ws.current, this.partials[k]!, this.kinks)
          : undefined,
      );
    }
    if (count <= this.capacity) return;
    const capacity = Math.max(count, 2 * this.capacity);
    const n = this.n;
    this.tangents = Array.from({ length: this.size }, () => new Float64Array(capacity * n));
    this.flags = Array.from({ length: this.size }, () => new Uint8Array(capacity));
    const rows = (p: ModelSkillPlan) => capacity * (p.model.valueAndJacobian ? 1 : 2 * p.inputs.length + 1);
    this.modelIn = this.plans.map((p) =>
      p.kind === 'model' ? new Float64Array(rows(p) * p.inputs.length) : undefined,
    );
    this.modelOut = this.plans.map((p) => (p.kind === 'model' ? new Float64Array(rows(p)) : undefined));
    this.jacobians = this.plans.map((p) =>
      p.kind === 'model' ? new Float64Array(capacity * p.inputs.length) : undefined,
    );
    this.capacity = capacity;
  }

  /** Per decision variable, the side of the last run: 1 moving it up, -1 down. */
  private readonly sides: Float64Array;

  /**
   * The cost and its derivatives at `count` points (row-major decision values), from the
   * workspace's base state: `costs[r]`, and `gradients[r * n + j]` = d cost / d x_j moving x_j
   * up (`direction` 1) or down (`direction` -1; the derivative, not the directional derivative).
   * `direction` may also give the side per decision variable (n values of 1 or -1). Returns how
   * many rows met a nonsmooth point upstream of the cost. Every variable's derivatives stay
   * readable (`derivativesOf`) until the next run.
   */
  async run(
    points: Float64Array,
    count: number,
    costs: Float64Array,
    gradients: Float64Array,
    direction: 1 | -1 | Float64Array = 1,
  ): Promise<number> {
    if (this.synchronous) return this.runSync(points, count, costs, gradients, direction);
    if (!this.keepUpstream) this.seed(points, count, direction);
    this.lastCount = count;
    if (count === 1) this.lastPoint.set(points.subarray(0, this.n));
    for (const k of this.sequence) {
      const plan = this.plans[k]!;
      if (!this.runs(k, plan.kind)) continue;
      if (plan.kind === 'math') this.math(k, plan.out, count);
      else if (plan.kind === 'constraint') this.constraint(k, plan, count);
      else if (plan.kind === 'model') await this.model(k, plan, count);
    }
    return this.finish(count, costs, gradients);
  }

  /**
   * `run` without a promise, when every model of the cost has `valueAndJacobianSync`
   * (`synchronous`): the optimizer's evaluations then wait on nothing.
   */
  runSync(
    points: Float64Array,
    count: number,
    costs: Float64Array,
    gradients: Float64Array,
    direction: 1 | -1 | Float64Array = 1,
  ): number {
    if (!this.synchronous) {
      throw new EngineError(
        'NOT_SYNCHRONOUS',
        `runSync needs valueAndJacobianSync on every model of the cost; ` +
          `${this.asyncModels.join(', ')} lack it. Use run.`,
      );
    }
    if (!this.keepUpstream) this.seed(points, count, direction);
    this.lastCount = count;
    if (count === 1) this.lastPoint.set(points.subarray(0, this.n));
    for (const k of this.sequence) {
      const plan = this.plans[k]!;
      if (!this.runs(k, plan.kind)) continue;
      if (plan.kind === 'math') this.math(k, plan.out, count);
      else if (plan.kind === 'constraint') this.constraint(k, plan, count);
      else if (plan.kind === 'model') {
        if (!this.reusing(k)) {
          this.gather(plan, this.modelIn[k]!, count);
          plan.model.valueAndJacobianSync!(this.modelIn[k]!, count, this.modelOut[k]!, this.jacobians[k]!);
        }
        this.chain(k, plan, count);
      }
    }
    return this.finish(count, costs, gradients);
  }

  /** Sizes the buffers, resets the workspace and seeds the decision variables and their tangents. */
  private seed(points: Float64Array, count: number, direction: 1 | -1 | Float64Array): void {
    const n = this.n;
    this.ensure(count);
    const { ws, sides } = this;
    if (typeof direction === 'number') sides.fill(direction);
    else sides.set(direction.subarray(0, n));
    let up = count === 1;
    for (let j = 0; j < n && up; j++) up = sides[j] === 1;
    this.lastUp = up;
    ws.reset(count);
    // Only the decision variables' tangents are seeded; every variable the sequence writes is
    // overwritten row by row, and the others keep the zeros they were allocated with.
    for (let j = 0; j < n; j++) {
      const v = this.opt.decisions[j]!;
      const col = ws.dof[v]!;
      const t = this.tangents[v]!;
      const flags = this.flags[v]!;
      const side = sides[j]!;
      for (let r = 0; r < count; r++) {
        col[r] = points[r * n + j]!;
        for (let i = 0; i < n; i++) t[r * n + i] = 0;
        t[r * n + j] = side;
        flags[r] = 0;
      }
    }
  }

  /** Reads the cost and its gradient out; returns how many rows met a nonsmooth point. */
  private finish(count: number, costs: Float64Array, gradients: Float64Array): number {
    const n = this.n;
    const sides = this.sides;
    const c = this.opt.costVariable;
    const cost = this.ws.dof[c]!;
    const t = this.tangents[c]!;
    const flags = this.flags[c]!;
    let kinked = 0;
    for (let r = 0; r < count; r++) {
      costs[r] = cost[r]!;
      kinked += flags[r]!;
      for (let j = 0; j < n; j++) gradients[r * n + j] = sides[j]! * t[r * n + j]!;
    }
    return kinked;
  }

  /**
   * After a run: d variable / d x_j at `row` on the run's side of each decision variable, into
   * `out` (n values); the value itself is the workspace's dof.
   */
  derivativesOf(variable: number, row: number, out: Float64Array): void {
    const n = this.n;
    const t = this.tangents[variable]!;
    for (let j = 0; j < n; j++) out[j] = this.sides[j]! * t[row * n + j]!;
  }

  private math(k: number, out: number, count: number): void {
    const f = this.grads[k]!;
    const p = this.partials[k]!;
    const plan = this.plans[k] as Extract<SkillPlan, { kind: 'math' }>;
    const inputs = plan.formula.dofVariables;
    const n = this.n;
    const column = this.ws.dof[out]!;
    const tOut = this.tangents[out]!;
    const fOut = this.flags[out]!;
    const row = this.row;
    const reach = this.reach[out]!;
    for (let r = 0; r < count; r++) {
      this.kinks.count = 0;
      column[r] = f(r);
      let flag = this.kinks.count > 0 ? 1 : 0;
      // Loops rather than fill/set, over the decision variables reached only: these run for
      // every formula of every row.
      for (let q = 0; q < reach.length; q++) row[reach[q]!] = 0;
      for (let i = 0; i < inputs.length; i++) {
        const pi = p[i]!;
        const v = inputs[i]!;
        flag |= this.flags[v]![r]!;
        if (pi === 0) continue;
        const t = this.tangents[v]!;
        const from = this.reach[v]!;
        for (let q = 0; q < from.length; q++) {
          const j = from[q]!;
          row[j]! += pi * t[r * n + j]!;
        }
      }
      for (let q = 0; q < reach.length; q++) tOut[r * n + reach[q]!] = row[reach[q]!]!;
      fOut[r] = flag;
    }
  }

  /** Plan indices of the cost's constraint skills, in sequence order. */
  private readonly constraints: number[];
  /** Scratch of `piecesSync`: the constraints' argument gradients and the near kinks. */
  private readonly gradH: Float64Array;
  private readonly near: Int32Array;

  /** Most kinks `pieces` combines (2^MAX_KINKS pieces). */
  static readonly MAX_KINKS = 2;

  /**
   * The exact gradients of the cost's smooth pieces that meet within `radius` of `point` (one
   * point, n decision values): a constraint score whose argument h is within `radius` of an
   * operating limit b (in the max norm over the decision variables scaled by `scale`, linearised:
   * |h - b| <= radius * sum_j |dh/dx_j| scale_j) has two pieces there, the ramp and the plateau;
   * every combination of the near kinks' sides (at most 2^MAX_KINKS, the nearest kinks first) is one
   * forward pass with those scores replaced by their pieces (lines extended past the kink), its
   * value written to `values` and its gradient as one row of `out`. With no kink within the
   * radius the one row is the cost and its gradient. Returns the rows; `info[0]` gets the
   * forward passes run (each is one evaluation's work), `info[1]` the distance of the farthest
   * kink taken (0 with none). Synchronous: only when `synchronous` (`pieces` otherwise).
   */
  piecesSync(...args: PieceArguments): number {
    const passes = this.piecePasses(...args);
    for (let pass = passes.next(); ; pass = passes.next()) {
      if (pass.done) return pass.value;
      this.runSync(args[0], 1, this.costScratch, pass.value, 1);
    }
  }

  /** `piecesSync` for any models (awaiting those without `valueAndJacobianSync`). */
  async pieces(...args: PieceArguments): Promise<number> {
    const passes = this.piecePasses(...args);
    for (let pass = passes.next(); ; pass = passes.next()) {
      if (pass.done) return pass.value;
      await this.run(args[0], 1, this.costScratch, pass.value, 1);
    }
  }

  /**
   * The passes of `pieces`, written once: yields the gradient row of each forward pass it needs
   * at `point` (direction 1, cost into `costScratch`), which a driver runs (`runSync`, or `run`
   * awaited) before resuming; returns the rows.
   */
  private *piecePasses(
    ...[point, scale, radius, out, values, info]: PieceArguments
  ): Generator<Float64Array, number, void> {
    const cost = this.costScratch;
    let runs = 0;
    if (!this.atLastPoint(point, out)) {
      yield out;
      runs = 1;
    }
    values[0] = cost[0]!;
    const kinks = this.nearKinks(scale, radius);
    const rows = kinks === 0 ? 1 : 1 << kinks;
    for (let piece = 0; kinks > 0 && piece < rows; piece++) {
      this.force(kinks, piece);
      // The point's models ran in the pass before: their predictions and Jacobians stand.
      this.reuseModels = true;
      // The pass before was at this point: with every side up, upstream of the scores stands.
      this.keepUpstream = this.upstreamStable && this.lastUp;
      yield this.pieceRow(out, piece);
      values[piece] = cost[0]!;
      runs++;
    }
    return this.piecesDone(kinks, runs, info);
  }

  /**
   * When the last run evaluated `point` (the optimizer's accepted trial, usually), its values and
   * tangents are still in the workspace: the cost into the scratch, the gradient into `out`.
   */
  private atLastPoint(point: Float64Array, out: Float64Array): boolean {
    if (this.lastCount !== 1 || !sameRow(this.lastPoint, point, this.n)) return false;
    this.costScratch[0] = this.ws.dof[this.opt.costVariable]![0]!;
    this.derivativesOf(this.opt.costVariable, 0, out);
    return true;
  }

  /** Forces the near kinks' sides for `piece` (bit q: the side of kink q). */
  private force(kinks: number, piece: number): void {
    for (let q = 0; q < kinks; q++) this.forced[this.near[q]!] = (piece >> q) & 1 ? 1 : -1;
  }

  private pieceRow(out: Float64Array, piece: number): Float64Array {
    return out.subarray(piece * this.n, (piece + 1) * this.n);
  }

  /** Clears the forced sides, writes `info`; returns the rows. */
  private piecesDone(kinks: number, runs: number, info: Float64Array): number {
    this.forced.fill(0);
    this.reuseModels = false;
    this.keepUpstream = false;
    // A run with forced sides describes a piece, not the cost.
    if (kinks > 0) this.lastCount = 0;
    info[0] = runs;
    info[1] = kinks > 0 ? this.farthest : 0;
    return kinks === 0 ? 1 : 1 << kinks;
  }

  private readonly costScratch = new Float64Array(1);

  /** Forgets the last run's point: call when anything else wrote to the workspace. */
  forget(): void {
    this.lastCount = 0;
    // A pass of `pieces` that threw leaves nothing forced or kept behind.
    this.keepUpstream = false;
    this.reuseModels = false;
    this.forced.fill(0);
  }
  /** The point of the last synchronous one-row run (`lastCount` 1), or none (`lastCount` 0). */
  private readonly lastPoint: Float64Array;
  private lastCount = 0;
  /** The distance of the farthest kink the last `nearKinks` kept, and the kept ones' distances. */
  private farthest = 0;
  private readonly nearDistance = new Float64Array(CostDerivatives.MAX_KINKS);

  /**
   * After a run: the constraints whose argument lies within `radius` of an operating limit with
   * a kink (sorted nearest first, at most MAX_KINKS) into `near` (plan indices); returns how many.
   */
  private nearKinks(scale: Float64Array, radius: number): number {
    const n = this.n;
    const h = this.gradH;
    let count = 0;
    const distances = this.nearDistance;
    for (let c = 0; c < this.constraints.length; c++) {
      const k = this.constraints[c]!;
      const plan = this.plans[k] as Extract<SkillPlan, { kind: 'constraint' }>;
      const l = plan.limits;
      const v = this.ws.dof[plan.input]![0]!;
      if (!Number.isFinite(v)) continue;
      const g = h.subarray(c * n, (c + 1) * n);
      this.derivativesOf(plan.input, 0, g);
      let reach = 0;
      for (let j = 0; j < n; j++) reach += Math.abs(g[j]!) * scale[j]!;
      if (!(reach > 0)) continue;
      // The operating limit nearest the argument that has a kink (a limit equal to the physical
      // one is a jump, which no gradient describes).
      let distance = Number.POSITIVE_INFINITY;
      if (l.op_min !== l.var_min) distance = Math.abs(v - l.op_min);
      if (l.op_max !== l.var_max) distance = Math.min(distance, Math.abs(v - l.op_max));
      distance /= reach;
      if (!(distance <= radius)) continue;
      // Insertion by distance; the farthest falls off past MAX_KINKS.
      let at = count;
      while (at > 0 && distances[at - 1]! > distance) at--;
      if (at >= CostDerivatives.MAX_KINKS) continue;
      for (let q = Math.min(count, CostDerivatives.MAX_KINKS - 1); q > at; q--) {
        this.near[q] = this.near[q - 1]!;
        distances[q] = distances[q - 1]!;
      }
      this.near[at] = k;
      distances[at] = distance;
      count = Math.min(count + 1, CostDerivatives.MAX_KINKS);
    }
    this.farthest = count > 0 ? distances[count - 1]! : 0;
    return count;
  }

  private constraint(k: number, plan: Extract<SkillPlan, { kind: 'constraint' }>, count: number): void {
    const n = this.n;
    const input = this.ws.dof[plan.input]!;
    const out = this.ws.dof[plan.out]!;
    const tIn = this.tangents[plan.input]!;
    const tOut = this.tangents[plan.out]!;
    const fIn = this.flags[plan.input]!;
    const fOut = this.flags[plan.out]!;
    const slopes = this.slopes;
    const reach = this.reach[plan.out]!;
    const forced = this.forced[k]!;
    for (let r = 0; r < count; r++) {
      const v = input[r]!;
      out[r] = constraintScore(v, plan.limits);
      const smoothness = constraintScoreSlopes(v, plan.limits, slopes);
      if (forced !== 0) {
        // One piece, extended past its kink: its value, and its slope for every tangent.
        const slope = pieceSlope(v, plan.limits, forced, this.slopes);
        out[r] = this.slopes[0]! + slope * v;
        for (let q = 0; q < reach.length; q++) {
          const j = reach[q]!;
          tOut[r * n + j] = slope * tIn[r * n + j]!;
        }
        fOut[r] = fIn[r]!;
        continue;
      }
      let moved = false;
      for (let q = 0; q < reach.length; q++) {
        const j = reach[q]!;
        const t = tIn[r * n + j]!;
        if (t !== 0) moved = true;
        // The directional derivative along the tangent: the slope on the side it moves to.
        tOut[r * n + j] = t > 0 ? slopes[1]! * t : t < 0 ? slopes[0]! * t : 0;
      }
      fOut[r] = fIn[r]! | (smoothness !== 'smooth' && moved ? 1 : 0);
    }
  }

  private async model(k: number, plan: ModelSkillPlan, count: number): Promise<void> {
    const buf = this.modelIn[k]!;
    const res = this.modelOut[k]!;
    const jac = this.jacobians[k]!;
    if (!this.reusing(k)) {
      this.gather(plan, buf, count);
      if (plan.model.valueAndJacobian) await plan.model.valueAndJacobian(buf, count, res, jac);
      else await differences(plan.model, plan.inputs.length, buf, count, res, jac);
    }
    this.chain(k, plan, count);
  }

  /**
   * Whether model skill k keeps the prediction and Jacobian of the previous run: in the passes of
   * `pieces` at the point the last run evaluated, for a model that no constraint score precedes
   * (forcing a score's piece cannot change its inputs).
   */
  private reusing(k: number): boolean {
    return this.reuseModels && this.afterConstraint[k] === 0;
  }

  /** A model's output and its tangents from its Jacobian (the chain rule through its inputs). */
  private chain(k: number, plan: ModelSkillPlan, count: number): void {
    const n = this.n;
    const width = plan.inputs.length;
    const res = this.modelOut[k]!;
    const jac = this.jacobians[k]!;
    const out = this.ws.dof[plan.out]!;
    // As `Workspace.run`: the output's current value plus the prediction plus this cycle's bias shift.
    const base = this.ws.current[plan.out]! + this.ws.shift[k]!;
    const tOut = this.tangents[plan.out]!;
    const fOut = this.flags[plan.out]!;
    const reach = this.reach[plan.out]!;
    for (let r = 0; r < count; r++) {
      out[r] = base + res[r]!;
      let flag = 0;
      for (let q = 0; q < reach.length; q++) tOut[r * n + reach[q]!] = 0;
      for (let i = 0; i < width; i++) {
        if (plan.feeds[i] === Feed.zero) continue;
        const v = plan.inputs[i]!;
        flag |= this.flags[v]![r]!;
        const d = jac[r * width + i]!;
        const t = this.tangents[v]!;
        const from = this.reach[v]!;
        for (let q = 0; q < from.length; q++) {
          const j = from[q]!;
          tOut[r * n + j]! += d * t[r * n + j]!;
        }
      }
      fOut[r] = flag;
    }
  }

  /** A model's inputs as the workspace feeds them: Delta dof - current, dof, or 0 (d/d dof: 1, 1, 0). */
  private gather(plan: ModelSkillPlan, buf: Float64Array, count: number): void {
    const width = plan.inputs.length;
    for (let i = 0; i < width; i++) {
      const v = plan.inputs[i]!;
      const col = this.ws.dof[v]!;
      const cur = this.ws.current[v]!;
      const feed = plan.feeds[i];
      for (let r = 0; r < count; r++) {
        buf[r * width + i] = feed === Feed.delta ? col[r]! - cur : feed === Feed.dof ? col[r]! : 0;
      }
    }
  }
}

/** The arguments of `pieces` and `piecesSync`: the point, the scale, the radius, and where the pieces go. */
type PieceArguments = [
  point: Float64Array,
  scale: Float64Array,
  radius: number,
  out: Float64Array,
  values: Float64Array,
  info: Float64Array,
];

function sameRow(a: Float64Array, b: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) if (a[j] !== b[j]) return false;
  return true;
}

/**
 * The score's piece on `side` (-1 below, 1 above) of the operating limit nearest `v` that has a
 * kink, as a line: returns its slope and writes its intercept to `line[0]` (below op_min the ramp
 * up, above op_max the ramp down, between them the plateau at 1).
 */
function pieceSlope(v: number, l: ConstraintLimits, side: number, line: Float64Array): number {
  const toMin = l.op_min !== l.var_min ? Math.abs(v - l.op_min) : Number.POSITIVE_INFINITY;
  const toMax = l.op_max !== l.var_max ? Math.abs(v - l.op_max) : Number.POSITIVE_INFINITY;
  let slope = 0;
  if (toMin <= toMax && side < 0) slope = 1 / (l.op_min - l.var_min);
  else if (toMin > toMax && side > 0) slope = -1 / (l.var_max - l.op_max);
  // Through (limit, 1).
  line[0] = 1 - slope * (toMin <= toMax ? l.op_min : l.op_max);
  return slope;
}

/**
 * Per variable, the decision variables (indices into `opt.decisions`) whose tangents can reach
 * it through `sequence`. A skill's output reaches what its inputs reach; a decision variable
 * that a skill also writes, or a variable written twice, keeps every index.
 */
function reachOf(
  plans: readonly SkillPlan[],
  opt: OptimizationPlan,
  sequence: readonly number[],
  size: number,
): Int32Array[] {
  const n = opt.decisions.length;
  const sets: Set<number>[] = Array.from({ length: size }, () => new Set<number>());
  const decision = new Set<number>(opt.decisions);
  const written = new Set<number>();
  opt.decisions.forEach((v, j) => {
    sets[v]!.add(j);
  });
  for (const k of sequence) {
    const p = plans[k]!;
    let out: number;
    let inputs: number[];
    if (p.kind === 'math') {
      out = p.out;
      inputs = [...p.formula.dofVariables];
    } else if (p.kind === 'constraint') {
      out = p.out;
      inputs = [p.input];
    } else if (p.kind === 'model') {
      out = p.out;
      inputs = [...p.inputs].filter((_, i) => p.feeds[i] !== Feed.zero);
    } else continue;
    // Written twice, or a decision variable: every index, so no stale entry outlives a write.
    sets[out] =
      decision.has(out) || written.has(out)
        ? new Set(Array.from({ length: n }, (_, j) => j))
        : new Set(inputs.flatMap((v) => [...sets[v]!]));
    written.add(out);
  }
  return sets.map((set) => Int32Array.from([...set].sort((a, b) => a - b)));
}

/**
 * The fallback for a model without `valueAndJacobian`: one `predict` batch holding every row
 * and its central-difference stencil (step 1e-3 * max(1, |input|)).
 */
async function differences(
  model: SurrogateModel,
  width: number,
  buf: Float64Array,
  count: number,
  res: Float64Array,
  jac: Float64Array,
): Promise<void> {
  const stencil = 2 * width + 1;
  // Rows [count, count * stencil) hold the stencils; the buffer was sized for them.
  for (let r = 0; r < count; r++) {
    for (let s = 0; s < 2 * width; s++) {
      const target = (count + r * 2 * width + s) * width;
      buf.copyWithin(target, r * width, (r + 1) * width);
      const i = s >> 1;
      const x = buf[r * width + i]!;
      buf[target + i] = x + (s & 1 ? -1 : 1) * 1e-3 * Math.max(1, Math.abs(x));
    }
  }
  await model.predict(buf, count * stencil, res);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < width; i++) {
      const x = buf[r * width + i]!;
      const h = 1e-3 * Math.max(1, Math.abs(x));
      const up = res[count + r * 2 * width + 2 * i]!;
      const down = res[count + r * 2 * width + 2 * i + 1]!;
      jac[r * width + i] = (up - down) / (2 * h);
    }
  }
}
