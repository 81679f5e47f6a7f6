/**
 * The refused-body drain: one allowance per app, shared by that app's connections only. Driven
 * with real streams (the drain reads `data` and pauses its source); the keep-alive after a 413 on
 * the real server is in reliability.test.ts.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createRefusedBodyDrain } from './request.ts';

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

  it('pauses a body read past its rate, and reads on after', async () => {
    const drain = createRefusedBodyDrain(RATE);
    await sleep(200); // ~200 B of allowance saved
    const b = body();
    drain(b.incoming);
    expect(await send(b, 50)).toBe(false);
    expect(await send(b, 4096)).toBe(true);
    b.stream.end();
  });

  it("shares one allowance between an app's connections", async () => {
    const drain = createRefusedBodyDrain(RATE);
    await sleep(200);
    const flood = body();
    const other = body();
    drain(flood.incoming);
    drain(other.incoming);
    expect(await send(flood, 4096)).toBe(true);
    // The flood spent the app's allowance: the other connection of the same app waits too.
    expect(await send(other, 50)).toBe(true);
    flood.stream.destroy();
    other.stream.destroy();
  });

  it('gives each app its own allowance: a flood on one does not hold the drain of another', async () => {
    const first = createRefusedBodyDrain(RATE);
    const second = createRefusedBodyDrain(RATE);
    await sleep(200);
    const flood = body();
    const other = body();
    first(flood.incoming);
    second(other.incoming);
    expect(await send(flood, 4096)).toBe(true);
    expect(await send(other, 50)).toBe(false);
    expect(await send(other, 50)).toBe(false);
    flood.stream.destroy();
    other.stream.destroy();
  });
});
