export { FleetError, type FleetErrorCode } from './errors.ts';
export { emptyCounters, type UnitCounters } from './metrics.ts';
export { UNIT_MISMATCH_TABLE, type UnitMismatch, unitMismatch } from './mismatch.ts';
export {
  checkUnitSource,
  createUnitRegistry,
  DROPPED_TABLE,
  ensureFleetTables,
  UNITS_TABLE,
  type UnitRegistry,
  type UnitState,
  unitStates,
} from './registry.ts';
export { type CycleJob, cycleJobId, scheduleDue } from './scheduler.ts';
export {
  parseUnit,
  parseUnitsFile,
  readUnitsFile,
  type Unit,
  type UnitInput,
  unitPointerKey,
  unitSchema,
} from './units.ts';
export { CYCLE_QUEUE, type FleetWorker, type FleetWorkerOptions, startFleetWorker } from './worker.ts';
