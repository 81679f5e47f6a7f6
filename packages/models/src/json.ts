import { describeError } from '@po/core';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 bytes and parses JSON; throws a plain Error with a short reason. */
function parseJsonBytes(bytes: Uint8Array | string): unknown {
  const text = typeof bytes === 'string' ? bytes : decoder.decode(bytes);
  return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
}

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A JSON file given as its bytes, its text or already parsed (returned as is). `invalid` words
 * the error for bytes that are not UTF-8 JSON, from a problem sentence and the cause.
 */
export function jsonSource(
  source: Uint8Array | string | object,
  invalid: (problem: string, cause: unknown) => Error,
): unknown {
  if (typeof source !== 'string' && !(source instanceof Uint8Array)) return source;
  try {
    return parseJsonBytes(source);
  } catch (cause) {
    throw invalid(`not valid UTF-8 JSON (${describeError(cause, { oneLine: true })})`, cause);
  }
}
