import type { Logger } from '@po/core';
import type { CycleRecord, RunnerStatus } from './types.ts';

/** What one attempt did. */
export type TickOutcome = 'ok' | 'skipped' | 'failed' | 'idle' | 'unavailable';

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

  constructor(private readonly logger: Logger) {}

  get loop(): RunnerStatus['state'] {
    return this.state.state;
  }
  set loop(state: RunnerStatus['state']) {
    this.state.state = state;
  }
  get consecutiveFailures(): number {
    return this.state.consecutiveFailures;
  }

  checked(at: Date): void {
    this.state.lastCheckAt = at;
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

  /** A cycle was recorded. */
  recorded(record: CycleRecord, at: Date): void {
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
    return {
      ...this.state,
      cycles: { ...this.state.cycles },
      healthy: this.degraded.size === 0,
      degraded: [...this.degraded.values()],
    };
  }
}
