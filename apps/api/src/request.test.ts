/**
 * The refused-body drain: one allowance per app, shared by that app's connections only. Driven
 * with real streams (the drain reads `data` and pauses its source); the keep-alive after a 413 on
 * the real server is in reliability.test.ts.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createRefusedBodyDrain, type RefusedBodyDrain } from './request.ts';

/** A request body as the drain sees it: bytes arrive, the drain reads or pauses. */
function body() {
  const stream = new PassThrough();
  return { stream, incoming: stream as unknown as IncomingMessage };
}

/** Sends `bytes` and lets the drain see them; whether it paused the body then. */
async function send(b: ReturnType<typeof body>, bytes: number): Promise<boolean> {
  b.stream.write(Buffer.alloc(bytes));
  await sleep(5);
  return b.stream.isPaused();
}

describe('createRefusedBodyDrain', () => {
  // 1 KiB/s: the allowance saved while idle is at most 1 KiB.
  const RATE = 1024;

  it('reads a body within its rate, and pauses it past the rate', async () => {
    const drain = createRefusedBodyDrain(RATE);
    await sleep(200); // ~200 B of allowance saved
    const b = body();
    drain(b.incoming);
    expect(await send(b, 50)).toBe(false);
    expect(await send(b, 4096)).toBe(true);
    b.stream.end();
  });

  /** A 4 KiB flood on one body through `first`, then 50 B on another through `second`: whether each paused. */
  async function floodThenOther(first: RefusedBodyDrain, second: RefusedBodyDrain) {
    await sleep(200); // ~200 B of allowance saved
    const flood = body();
    const other = body();
    first(flood.incoming);
    second(other.incoming);
    try {
      return { flood: await send(flood, 4096), other: await send(other, 50) };
    } finally {
      flood.stream.destroy();
      other.stream.destroy();
    }
  }

  it("shares one allowance between an app's connections", async () => {
    const drain = createRefusedBodyDrain(RATE);
    // The flood spent the app's allowance: the other connection of the same app waits too.
    expect(await floodThenOther(drain, drain)).toEqual({ flood: true, other: true });
  });

  it('gives each app its own allowance: a flood on one does not hold the drain of another', async () => {
    expect(await floodThenOther(createRefusedBodyDrain(RATE), createRefusedBodyDrain(RATE))).toEqual({
      flood: true,
      other: false,
    });
  });
});
