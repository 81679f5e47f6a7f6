import type { UnitCounters } from '@po/core';

export type { UnitCounters };

export function emptyCounters(): UnitCounters {
  return {
    cycles: { ok: 0, skipped: 0, failed: 0 },
    droppedLate: 0,
    retried: 0,
    durationMs: { sum: 0, count: 0 },
    lastDelayS: null,
  };
}
