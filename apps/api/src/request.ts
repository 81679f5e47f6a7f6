import { jsonNesting, LIMIT_SETTINGS, type StrategyIssue } from '@po/rto-engine';
import type { Context } from 'hono';
import type { z } from 'zod';
import { httpError } from './errors.ts';
import { zodIssues } from './schemas.ts';

/**
 * Reads and validates a JSON body whatever its content type (the predecessor's clients do not
 * always send one): empty, malformed and invalid bodies are 400s that say what to send.
 */
export async function readJson<S extends z.ZodType>(
  c: Context,
  schema: S,
  hint: string,
): Promise<z.output<S>> {
  const text = await c.req.text();
  if (text.trim() === '') throw httpError.badRequest(`request body is empty; ${hint}`);
  return check(schema, parseJson(c, text), (details) =>
    details.some((d) => d.path === 'input_data' && d.message === 'is required')
      ? `input_data is required; ${hint}`
      : `invalid request body; ${hint}`,
  );
}

/** Validates a body or query: a 400 with `message` and every problem in `details` when it does not fit. */
export function check<S extends z.ZodType>(
  schema: S,
  value: unknown,
  message: string | ((details: StrategyIssue[]) => string),
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = zodIssues(parsed.error);
  throw httpError.badRequest(typeof message === 'string' ? message : message(details), details);
}

/**
 * Parses a JSON body within the request's bounds: its nesting is measured before parsing (deep
 * JSON would overflow the stack of whatever reads it), and no string may hold a NUL character
 * (no store keeps one). Each refusal is a 400 that names the problem and where.
 */
export function parseJson(c: Context, text: string): unknown {
  const { maxNesting } = c.get('limits');
  const depth = jsonNesting(text, maxNesting);
  if (depth > maxNesting) {
    throw httpError.badRequest(
      `request body nests deeper than the limit of ${maxNesting} levels (${LIMIT_SETTINGS.maxNesting})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw httpError.badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
  const nul = nulAt(value, '');
  if (nul !== undefined) {
    throw httpError.badRequest(
      `request body holds a NUL character (\\u0000) at ${nul || '(root)'}; remove it`,
      [{ path: nul || '(root)', message: 'contains a NUL character' }],
    );
  }
  return value;
}

/** The path of the first key or string holding a NUL character, or undefined (depth is bounded). */
function nulAt(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key.includes('\0')) return at;
    const found = nulAt(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
