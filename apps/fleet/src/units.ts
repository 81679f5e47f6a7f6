import { readFile } from 'node:fs/promises';
import { errorCode } from '@po/core';
import YAML from 'yaml';
import { z } from 'zod';
import { FleetError } from './errors.ts';

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be a SQL identifier (letters, digits, _)' });

/** One unit as the units file and `po units add` give it. */
export const unitSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
        message: 'must be 1-63 letters, digits, _ . - (starting with a letter or digit)',
      })
      .describe('Stable identity: results, jobs, metrics and the deploy pointer are keyed by it.'),
    name: z.string().min(1).optional().describe('What operators call it. Default: the id.'),
    data: z
      .object({
        table: identifier.describe('The plant data table (wide format).'),
        timestamp_column: identifier.default('timestamp').describe('Its time column.'),
        filter: z
          .record(identifier, z.union([z.string(), z.number(), z.boolean()]))
          .optional()
          .describe('Only rows where these columns equal these values (a table shared by units).'),
      })
      .strict(),
    interval_s: z.number().positive().default(60).describe('Seconds between looks for new rows.'),
    mode: z.enum(['advisory', 'monitor']).optional().describe("Overrides the strategy's mode for this unit."),
  })
  .strict();

/** A unit: its identity, its data source, its cycle interval and mode. */
export type Unit = Omit<z.output<typeof unitSchema>, 'name'> & { name: string };
/** A unit as written (defaults not applied). */
export type UnitInput = z.input<typeof unitSchema>;

const fileSchema = z.object({ units: z.array(z.unknown()) }).strict();

/** Where a unit's strategy pointer lives in the store. */
export const unitPointerKey = (id: string) => `metadata/units/${id}/deployed.yaml`;

/** Validates one unit; `where` names it in errors (file and position). */
export function parseUnit(input: unknown, where: string): Unit {
  const r = unitSchema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`);
    throw new FleetError('INVALID_UNITS', `Invalid unit: ${problems.join('; ')}.`);
  }
  return { ...r.data, name: r.data.name ?? r.data.id };
}

/** Parses a units file (`units: [...]`): every unit valid, no id twice. `source` names the file in errors. */
export function parseUnitsFile(text: string, source: string): Unit[] {
  let parsed: unknown;
  try {
    parsed = YAML.parse(text, { uniqueKeys: true });
  } catch (e) {
    throw new FleetError('INVALID_UNITS', `${source} is not YAML: ${(e as Error).message.split('\n')[0]}.`, {
      cause: e,
    });
  }
  const file = fileSchema.safeParse(parsed);
  if (!file.success)
    throw new FleetError('INVALID_UNITS', `${source}: expected a mapping with a 'units' list of units.`);
  const units = file.data.units.map((u, i) => parseUnit(u, `${source}: units[${i}]`));
  const seen = new Map<string, number>();
  units.forEach((u, i) => {
    const first = seen.get(u.id);
    if (first !== undefined)
      throw new FleetError(
        'DUPLICATE_UNIT',
        `${source}: units[${i}] has the id '${u.id}' of units[${first}]; each unit needs its own id.`,
      );
    seen.set(u.id, i);
  });
  return units;
}

/** Reads and parses a units file; undefined when it does not exist. */
export async function readUnitsFile(path: string): Promise<Unit[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw new FleetError('INVALID_UNITS', `Cannot read the units file ${path}: ${errorCode(e) ?? e}.`, {
      cause: e,
    });
  }
  return parseUnitsFile(text, path);
}
