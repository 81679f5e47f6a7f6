import type { Logger } from '@po/core';
import type { CycleRecord, RunnerStatus } from './types.ts';

/** What one attempt did. */
export type TickOutcome = 'ok' | 'skipped' | 'failed' | 'idle' | 'unavailable';

/** Where the attempt in progress is: reading the data (safe to abandon on stop), or running and recording a cycle. */
export type Phase = 'waiting' | 'reading' | 'cycle';

/** A service the runner depends on; each can mark it degraded. */
export type Component = 'strategy' | 'data' | 'results';

/**
 * The runner's health as `/health` shows it: which services are degraded and why, failed
 * attempts in a row, the last cycle and the counts. Logs each change of a component once.
 */
export class RunnerHealth {
  private readonly degraded = new Map<Component, string>();
  private readonly state: Omit<RunnerStatus, 'healthy' | 'degraded'> = {
    state: 'idle',
    consecutiveFailures: 0,
    cycles: { ok: 0, skipped: 0, failed: 0 },
  };

  /** What the attempt in progress is doing. */
  phase: Phase = 'waiting';
  private startedAt: Date | undefined;

  /**
   * @param staleAfterMs the runner counts as stalled (unhealthy) when no attempt has reached the
   * database for this long while it runs: a read that hangs, a loop that stopped.
   */
  constructor(
    private readonly logger: Logger,
    private readonly clock: { now(): Date },
    private readonly staleAfterMs: number,
  ) {}

  get loop(): RunnerStatus['state'] {
    return this.state.state;
  }
  set loop(state: RunnerStatus['state']) {
    if (state === 'running') this.startedAt = this.clock.now();
    this.state.state = state;
  }
  get consecutiveFailures(): number {
    return this.state.consecutiveFailures;
  }

  checked(at: Date): void {
    this.state.lastCheckAt = at;
  }

  /** An attempt read the runner's progress and the plant data: the database answers. */
  reached(at: Date): void {
    this.state.lastSuccessAt = at;
  }

  degrade(component: Component, reason: string): void {
    const text = `${component}: ${reason}`;
    if (this.degraded.get(component) !== text)
      this.logger.warn({ component, err: reason }, '[po/runner] degraded');
    this.degraded.set(component, text);
  }

  recover(component: Component): void {
    if (this.degraded.delete(component)) this.logger.info({ component }, '[po/runner] recovered');
  }

  /** An attempt that could not reach a service: counts as a failure, retried sooner. */
  unavailable(): TickOutcome {
    this.state.consecutiveFailures++;
    return 'unavailable';
  }

  /** No new row: a run of failures ends once nothing is degraded. */
  idle(): TickOutcome {
    if (this.state.consecutiveFailures > 0 && this.degraded.size === 0) this.state.consecutiveFailures = 0;
    return 'idle';
  }

  /** A cycle was recorded (the database answered). */
  recorded(record: CycleRecord, at: Date): void {
    this.state.lastSuccessAt = at;
    this.state.cycles[record.status]++;
    this.state.consecutiveFailures = record.status === 'failed' ? this.state.consecutiveFailures + 1 : 0;
    this.state.lastCycle = {
      at,
      dataTimestamp: record.dataTimestamp,
      status: record.status,
      strategyVersion: record.strategyVersion ?? null,
      reason: record.reason ?? null,
      durationMs: record.durationMs ?? 0,
    };
  }

  snapshot(): RunnerStatus {
    const degraded = [...this.degraded.values()];
    const stalled = this.stalled();
    if (stalled) degraded.push(stalled);
    return { ...this.state, cycles: { ...this.state.cycles }, healthy: degraded.length === 0, degraded };
  }

  /** Why the running loop counts as stalled: its last successful check (or its start) is too old. */
  private stalled(): string | undefined {
    // A cycle in progress is bounded by its own time budget; it is not a stalled read.
    if (this.state.state !== 'running' || !this.startedAt || this.phase === 'cycle') return undefined;
    const since = this.state.lastSuccessAt ?? this.startedAt;
    const age = this.clock.now().getTime() - since.getTime();
    if (age <= this.staleAfterMs) return undefined;
    const what = this.state.lastSuccessAt ? `the last at ${since.toISOString()}` : 'none since the start';
    return `stalled: no successful check for ${(age / 1000).toFixed(1)} s (limit ${(this.staleAfterMs / 1000).toFixed(1)} s; ${what}${this.phase === 'reading' ? '; a database read is pending' : ''})`;
  }
}
