/**
 * Server-sent events: one watcher per app (of the results table, or of a fleet's units), fanned
 * out to every open page.
 */
import type { Logger } from '@po/core';
import { describeError } from '@po/core';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';

/** How often the newest result is looked up while a page listens (the table is the one truth, across replicas too). */
export const LIVE_POLL_MS = 400;
/** A comment line keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/** How often a fleet's units are read while a page listens (each read asks the database for every unit). */
export const UNITS_POLL_MS = 1000;

export type CycleEvent = {
  id: string;
  status: string;
  dataTimestamp: string;
};

/** What a watcher announces: an `id` that changes when there is something new, and the event's data. */
export type LiveEvent = { id: string } & Record<string, unknown>;

/**
 * Watches for something new (a new cycle; by default, events `cycle`, read every `LIVE_POLL_MS`)
 * while at least one page listens.
 */
export function createLiveHub<E extends LiveEvent = CycleEvent>(
  newest: () => Promise<E | undefined>,
  logger: Logger,
  options: { event?: string; pollMs?: number; what?: string } = {},
) {
  const { event = 'cycle', pollMs = LIVE_POLL_MS, what = 'newest cycle' } = options;
  const listeners = new Set<(e: E) => void>();
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let busy = false;

  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const e = await newest();
      if (e && e.id !== last) {
        const first = last === undefined;
        last = e.id;
        if (!first) for (const l of listeners) l(e);
      }
    } catch (err) {
      logger.warn({ err: describeError(err) }, `[po/dashboard] ${what} not readable`);
    } finally {
      busy = false;
    }
  };

  const subscribe = (l: (e: E) => void) => {
    listeners.add(l);
    if (!timer) {
      void poll();
      timer = setInterval(() => void poll(), pollMs);
      timer.unref();
    }
    return () => {
      listeners.delete(l);
      if (listeners.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
        last = undefined;
      }
    };
  };

  /** `GET /live`: an event (`cycle`, with `{ id, status, dataTimestamp }`) per new recorded cycle. */
  const handler = (c: Context) =>
    streamSSE(c, async (stream) => {
      const queue: E[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = subscribe((e) => {
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => wake?.());
      await stream.writeSSE({ event: 'hello', data: '{}' });
      try {
        while (!stream.aborted) {
          const e = queue.shift();
          if (e) {
            await stream.writeSSE({ event, id: e.id, data: JSON.stringify(e) });
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, KEEPALIVE_MS).unref();
          });
          wake = undefined;
          if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
        }
      } finally {
        unsubscribe();
      }
    });

  return { handler, subscribe };
}
