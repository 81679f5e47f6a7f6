import type { IncomingMessage } from 'node:http';
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
 * Rate at which the unread rest of refused bodies is read and dropped, bytes/s, shared by all
 * connections of an app: the rest must be read for the connection to carry its next request
 * (keep-alive), but read as fast as clients send it, a flood of refused bodies keeps the HTTP
 * thread busy taking in bytes (~640 MB/s for ~1,000 600 KB bodies/s) and `/health` waits behind
 * them. Paused, the socket applies TCP back-pressure and the sender waits instead.
 */
const REFUSED_BODY_DRAIN_BYTES_PER_S = 16 * 1024 * 1024;

/** Reads and drops the rest of a refused request body (see `createRefusedBodyDrain`). */
export type RefusedBodyDrain = (incoming: IncomingMessage) => void;

/**
 * The refused-body drain of one app: it reads and drops the rest of a refused request body at
 * `REFUSED_BODY_DRAIN_BYTES_PER_S` (all the app's connections together, up to 1 s of the rate
 * saved while idle), pausing the request between chunks; the connection then carries its next
 * request as usual. Node does not drain a body that was read from (a `data` listener was added).
 * Each app has its own allowance: apps in one process do not slow each other's drains.
 */
export function createRefusedBodyDrain(bytesPerS = REFUSED_BODY_DRAIN_BYTES_PER_S): RefusedBodyDrain {
  const rate = bytesPerS / 1000;
  /** Bytes the drain may read ahead of its rate (negative: behind, so the next chunk waits). */
  let allowance = 0;
  let allowanceAt = performance.now();
  return (incoming) => {
    if (incoming.readableEnded || incoming.destroyed) return;
    let timer: NodeJS.Timeout | undefined;
    const onData = (chunk: Buffer) => {
      const now = performance.now();
      allowance = Math.min(rate * 1000, allowance + (now - allowanceAt) * rate) - chunk.byteLength;
      allowanceAt = now;
      if (allowance >= 0) return;
      incoming.pause();
      timer = setTimeout(
        () => {
          timer = undefined;
          incoming.resume();
        },
        Math.ceil(-allowance / rate),
      );
      timer.unref();
    };
    const done = () => {
      clearTimeout(timer);
      incoming.off('data', onData).off('end', done).off('close', done);
    };
    incoming.on('data', onData).once('end', done).once('close', done);
    incoming.resume();
  };
}

/** First prefix of a body `readBodyText` checks, in bytes; then at each doubling. */
const FIRST_CHECK_BYTES = 16 * 1024;

/**
 * Reads a request body as text, calling `check` on what has arrived each time it doubles (16 KB,
 * 32 KB, ...) so that a body past a bound is refused as soon as a prefix shows it, without
 * receiving, joining and decoding the rest on the HTTP thread (an unread remainder is drained by
 * the app's `drain`, at a bounded rate). `check` must throw on a prefix only what it
 * would throw on the whole body (size and nesting only grow with the text). Over `maxBytes` is a
 * 413, whatever the headers said.
 */
export async function readBodyText(
  c: Context,
  maxBytes: number,
  check: (prefix: string) => void,
  drain: RefusedBodyDrain,
): Promise<string> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  let nextCheck = FIRST_CHECK_BYTES;
  // Called for every chunk; throws to stop reading.
  const take = (chunk: Uint8Array) => {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) throw httpError.bodyTooLarge(maxBytes);
    text += decoder.decode(chunk, { stream: true });
    if (bytes >= nextCheck) {
      nextCheck = bytes * 2;
      check(text);
    }
  };
  if (incoming && !incoming.readableDidRead && !incoming.readableEnded) {
    await new Promise<void>((resolve, reject) => {
      const stop = (error?: unknown) => {
        incoming.off('data', onData).off('end', onEnd).off('error', stop).off('close', onClose);
        if (!error) return resolve();
        drain(incoming);
        reject(error);
      };
      const onData = (chunk: Buffer) => {
        try {
          take(chunk);
        } catch (e) {
          stop(e);
        }
      };
      const onEnd = () => stop();
      const onClose = () => {
        if (!incoming.readableEnded)
          stop(httpError.badRequest('the client closed the request before sending its body'));
      };
      incoming.on('data', onData).once('end', onEnd).once('error', stop).once('close', onClose);
    });
  } else if (c.req.raw.body) {
    const reader = c.req.raw.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        take(value);
      }
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw e;
    }
  }
  return text + decoder.decode();
}

/** A 400 when a JSON text (or a prefix of one) nests deeper than the request's bound. */
export function refuseDeepJson(c: Context, text: string): void {
  const { maxNesting } = c.get('limits');
  if (jsonNesting(text, maxNesting) > maxNesting) {
    throw httpError.badRequest(
      `request body nests deeper than the limit of ${maxNesting} levels (${LIMIT_SETTINGS.maxNesting})`,
    );
  }
}

/**
 * Parses a JSON body within the request's bounds: its nesting is measured before parsing (deep
 * JSON would overflow the stack of whatever reads it), and no string may hold a NUL character
 * (no store keeps one). Each refusal is a 400 that names the problem and where.
 */
export function parseJson(c: Context, text: string): unknown {
  refuseDeepJson(c, text);
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
