import { DbError } from './errors.ts';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether `name` is a plain SQL identifier (letters, digits, _; not starting with a digit; at most 63 bytes). */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name) && name.length <= 63;
}

/**
 * Validates and double-quotes an identifier (table, column, schema). Names come from
 * settings and strategies, so they are never interpolated unchecked.
 */
export function quoteIdent(name: string, what = 'identifier'): string {
  if (!isIdentifier(name)) {
    throw new DbError(
      'INVALID_IDENTIFIER',
      `${what} '${name}' is not a valid SQL name: use letters, digits and _, not starting with a digit (at most 63).`,
    );
  }
  return `"${name}"`;
}
