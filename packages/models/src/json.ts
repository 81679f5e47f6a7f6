const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 bytes and parses JSON; throws a plain Error with a short reason. */
export function parseJsonBytes(bytes: Uint8Array | string): unknown {
  const text = typeof bytes === 'string' ? bytes : decoder.decode(bytes);
  return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
}

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
