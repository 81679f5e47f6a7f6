/** What a worker counts per unit, for Prometheus (`po_unit_*`) and the logs. */
export interface UnitCounters {
  cycles: { ok: number; skipped: number; failed: number };
  droppedLate: number;
  /** Jobs that failed (not recorded) and go back to the queue: an unreachable database, no strategy. */
  retried: number;
  /** Sum and count of cycle durations (ms) on this worker. */
  durationMs: { sum: number; count: number };
  /** Seconds between the row's timestamp and its record, last cycle. */
  lastDelayS: number | null;
}

export function emptyCounters(): UnitCounters {
  return {
    cycles: { ok: 0, skipped: 0, failed: 0 },
    droppedLate: 0,
    retried: 0,
    durationMs: { sum: 0, count: 0 },
    lastDelayS: null,
  };
}
