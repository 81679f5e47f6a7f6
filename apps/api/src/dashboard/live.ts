/** Server-sent events: one watcher of the results table per app, fanned out to every open page. */
import type { Logger } from '@po/core';
import { describeError } from '@po/core';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';

/** How often the newest result is looked up while a page listens (the table is the one truth, across replicas too). */
export const LIVE_POLL_MS = 400;
/** A comment line keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

export interface CycleEvent {
  id: string;
  status: string;
  dataTimestamp: string;
}

/** Watches for new cycles while at least one page listens. */
export function createLiveHub(newest: () => Promise<CycleEvent | undefined>, logger: Logger) {
  const listeners = new Set<(e: CycleEvent) => void>();
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
      logger.warn({ err: describeError(err) }, '[po/dashboard] newest cycle not readable');
    } finally {
      busy = false;
    }
  };

  const subscribe = (l: (e: CycleEvent) => void) => {
    listeners.add(l);
    if (!timer) {
      void poll();
      timer = setInterval(() => void poll(), LIVE_POLL_MS);
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

  /** `GET /live`: an event `cycle` with `{ id, status, dataTimestamp }` per new recorded cycle. */
  const handler = (c: Context) =>
    streamSSE(c, async (stream) => {
      const queue: CycleEvent[] = [];
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
            await stream.writeSSE({ event: 'cycle', id: e.id, data: JSON.stringify(e) });
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
