import { type ModelValues, mismatchSettings, type PlantState } from '@po/rto-engine';
import {
  type ObservedModels,
  observedDecisions,
  observedVariables,
  referenceCycle,
  resultModels,
} from './mismatch.ts';
import type { CycleStrategy, ModelEvaluation } from './types.ts';

/** A validated row as the mismatch tracker will observe it. */
export interface ObservedRow {
  /** Data time, ms. */
  at: number;
  /** The validated plant state: the very object the cycle observes (evaluations are found by it). */
  state: PlantState;
}

interface Simulation {
  decisions: Readonly<Record<string, number>>;
  result: PromiseSettledResult<ModelValues>;
}

/**
 * The model evaluations of a replay's mismatch observations, made ahead in batches (a worker-pool
 * strategy: a few pool tasks for many rows instead of two awaited tasks per row). The tracker
 * then observes the rows one by one in data-time order, as in the runner, and finds each
 * evaluation here instead of waiting for the pool.
 *
 * Why this is exact: what the tracker evaluates depends on the rows alone. At a row it evaluates
 * the models at the row's validated state (`monitor`) and, when it remembers a cycle at or before
 * `horizon_s` earlier (the rows it observed successfully), at that cycle's state with this row's
 * decision values (`simulate`), never with its biases or mode. `prefetch` replays that rule,
 * counting a row as remembered when its `monitor` succeeded. A row whose `simulate` then fails is
 * not remembered by the tracker, so a later row may ask for another reference than the one
 * evaluated here: every lookup checks the state (by identity) and the decision values (exactly),
 * and anything not evaluated ahead is evaluated on the spot, as the runner would. Each evaluation
 * is handed out once.
 *
 * The evaluations are reduced to the values the tracker reads (`observedVariables`): with the
 * strategy's `modelValues` (or `evaluateMany`), no result is built; the numbers are those of the
 * full results, bit for bit.
 */
export class ObservationPrefetch implements ObservedModels {
  private readonly monitors = new Map<PlantState, PromiseSettledResult<ModelValues>>();
  private readonly simulations = new Map<PlantState, Simulation[]>();
  /** The rows the tracker will remember, as far as can be told ahead (see the class comment). */
  private history: ObservedRow[] = [];
  private readonly horizonMs: number;
  /** The variables whose values the tracker reads. */
  private readonly names: readonly string[];
  /** One evaluation on the spot (what is not evaluated ahead). */
  private readonly direct: ObservedModels;
  readonly simulate?: ObservedModels['simulate'];

  /** `rowsPerTask`: evaluations per `evaluateMany` call (default 16). */
  constructor(
    private readonly strategy: CycleStrategy,
    private readonly rowsPerTask = 16,
  ) {
    this.horizonMs = mismatchSettings(strategy.spec.models).horizonS * 1000;
    this.names = observedVariables(strategy.spec);
    this.direct = directModels(strategy, this.names);
    // Without `simulate` on the strategy the tracker compares nothing; it checks for the method.
    if (strategy.simulate) this.simulate = (state, decisions) => this.takeSimulation(state, decisions);
  }

  /**
   * Evaluates ahead what the tracker will ask for at these rows: validated rows in data-time
   * order, following the rows of the previous call. Never rejects (a failed evaluation is
   * handed out as the failure the strategy's own call would have given).
   */
  async prefetch(rows: readonly ObservedRow[]): Promise<void> {
    const seen = await this.evaluate(rows.map((r) => ({ mode: 'monitor', state: r.state })));
    const wanted: { row: ObservedRow; evaluation: ModelEvaluation & { mode: 'simulate' } }[] = [];
    rows.forEach((row, i) => {
      const outcome = seen[i]!;
      this.monitors.set(row.state, outcome);
      if (outcome.status === 'rejected') return; // the tracker does not remember this row
      const reference = referenceCycle(this.history, row.at - this.horizonMs);
      if (reference && this.simulate) {
        const decisions = observedDecisions(this.strategy.spec, outcome.value);
        wanted.push({ row: reference, evaluation: { mode: 'simulate', state: reference.state, decisions } });
      }
      this.history.push(row);
      this.forget(row.at - this.horizonMs);
    });
    const predicted = await this.evaluate(wanted.map((w) => w.evaluation));
    wanted.forEach(({ evaluation }, i) => {
      const list = this.simulations.get(evaluation.state) ?? [];
      list.push({ decisions: evaluation.decisions!, result: predicted[i]! });
      this.simulations.set(evaluation.state, list);
    });
  }

  async monitor(state: PlantState): Promise<ModelValues> {
    const outcome = this.monitors.get(state);
    if (!outcome) return this.direct.monitor(state);
    this.monitors.delete(state);
    return settled(outcome);
  }

  private async takeSimulation(
    state: PlantState,
    decisions: Readonly<Record<string, number>> | undefined,
  ): Promise<ModelValues> {
    const list = this.simulations.get(state);
    const i = list?.findIndex((s) => sameDecisions(s.decisions, decisions ?? {})) ?? -1;
    if (!list || i < 0) return this.direct.simulate!(state, decisions ?? {});
    const [hit] = list.splice(i, 1);
    if (list.length === 0) this.simulations.delete(state);
    return settled(hit!.result);
  }

  /** The evaluations, settled one by one, in tasks of `rowsPerTask` when the strategy batches. */
  private async evaluate(
    evaluations: readonly ModelEvaluation[],
  ): Promise<PromiseSettledResult<ModelValues>[]> {
    const { strategy, direct } = this;
    if (!strategy.evaluateMany)
      return Promise.allSettled(
        evaluations.map((e) =>
          e.mode === 'monitor' ? direct.monitor(e.state) : direct.simulate!(e.state, e.decisions ?? {}),
        ),
      );
    const parts: (readonly ModelEvaluation[])[] = [];
    for (let i = 0; i < evaluations.length; i += this.rowsPerTask)
      parts.push(evaluations.slice(i, i + this.rowsPerTask));
    const answers = await Promise.all(
      parts.map((part) =>
        strategy.evaluateMany!(part, this.names).catch((reason: unknown) =>
          // The task itself failed (a worker lost): each evaluation fails as its own call would.
          part.map((): PromiseSettledResult<ModelValues> => ({ status: 'rejected', reason })),
        ),
      ),
    );
    return answers.flat();
  }

  /** Keeps the newest row at or before `before` and everything after it (the tracker's rule). */
  private forget(before: number): void {
    const keep = this.history.findLastIndex((r) => r.at <= before);
    if (keep > 0) this.history = this.history.slice(keep);
  }
}

/** The strategy's `modelValues` when it has it, else its full results reduced. */
function directModels(strategy: CycleStrategy, names: readonly string[]): ObservedModels {
  const { modelValues } = strategy;
  if (!modelValues) return resultModels(strategy);
  return {
    monitor: (state) => strategy.modelValues!(state, names),
    ...(strategy.simulate
      ? {
          simulate: (state: PlantState, decisions: Readonly<Record<string, number>>) =>
            strategy.modelValues!(state, names, decisions),
        }
      : {}),
  };
}

function settled(outcome: PromiseSettledResult<ModelValues>): ModelValues {
  if (outcome.status === 'rejected') throw outcome.reason;
  return outcome.value;
}

function sameDecisions(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => k in b && Object.is(a[k], b[k]));
}
