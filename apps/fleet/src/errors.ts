import { PoError } from '@po/core';

/** Stable codes of every error @po/fleet raises. */
export type FleetErrorCode =
  | 'INVALID_UNITS'
  | 'DUPLICATE_UNIT'
  | 'UNKNOWN_UNIT'
  | 'UNKNOWN_TABLE'
  | 'UNKNOWN_COLUMN'
  | 'NEEDS_POSTGRES'
  | 'NOT_MIGRATED'
  | 'INVALID_TIME'
  | 'ALREADY_RECORDED'
  | 'QUEUE_POLICY';

/** Every error @po/fleet raises (a `PoError` of scope `fleet`); messages start with `[po/fleet]`. */
export class FleetError extends PoError {
  declare readonly code: FleetErrorCode;
  constructor(code: FleetErrorCode, message: string, options?: { cause?: unknown }) {
    super('fleet', code, message, options);
  }
}
