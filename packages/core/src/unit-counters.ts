/**
 * What a fleet worker counts per unit since it started: written by @po/fleet, read by the API
 * for Prometheus (`po_unit_*`) and by the logs.
 */
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
