/** For the dashboard's tests of a fleet in memory (the real one, on PostgreSQL, runs in apps/cli's tests). */
import type { DashboardData } from '../types.ts';

/** A unit's dashboard data before its first cycle: no results, no plant columns, an empty audit log. */
export function noDashboardData(): DashboardData {
  return {
    results: async () => [],
    columns: async () => [],
    plant: async () => ({ times: [], values: {} }),
    audit: async () => undefined,
    auditLog: async () => [],
  };
}
