import type { StrategyIssue } from '@po/rto-engine';
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
  return check(schema, parseJson(text), (details) =>
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

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw httpError.badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
