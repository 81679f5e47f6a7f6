import { FleetError, unitPointerKey } from '@po/fleet';
import type { Settings } from '@po/settings';
import { formatDeployPointer, type ObjectStore, parseDeployPointer, StoreError } from '@po/storage';

// What `po start` and `po units` decide and read about the fleet. The running fleet (pg-boss and
// its scheduler) is in fleet-worker.ts, loaded only when this process runs one.

/** Whether `po start` runs the fleet: `--mode worker`, or `fleet.enabled` with hybrid or continuous. */
export function runsFleet(settings: Settings, mode: Settings['mode']): boolean {
  return mode === 'worker' || (settings.fleet.enabled && mode !== 'api');
}

/** Refuses the fleet on the embedded database, saying what it needs. */
export function requirePostgres(settings: Settings, mode: Settings['mode']): void {
  if (settings.database.url) return;
  const why = mode === 'worker' ? '--mode worker (PO_MODE=worker)' : 'PO_FLEET=true (fleet.enabled)';
  throw new FleetError(
    'NEEDS_POSTGRES',
    `${why} runs a fleet of units on PostgreSQL: set DATABASE_URL. Without it po runs one unit on the embedded database (po start --mode hybrid).`,
  );
}

/** A unit's own deploy pointer in the store (`metadata/units/<id>/deployed.yaml`), or undefined. */
export async function readUnitPointer(store: ObjectStore, id: string): Promise<string | undefined> {
  const key = unitPointerKey(id);
  try {
    const object = await store.get(key);
    return parseDeployPointer(new TextDecoder().decode(object.body), `${store.location} ${key}`);
  } catch (error) {
    if (error instanceof StoreError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

export async function writeUnitPointer(store: ObjectStore, id: string, version: string): Promise<void> {
  await store.put(unitPointerKey(id), new TextEncoder().encode(formatDeployPointer(version)), {
    contentType: 'application/yaml',
  });
}
