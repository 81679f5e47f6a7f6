import { access, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  mulberry32,
  randomName,
  S3RVER_BUCKET,
  S3RVER_CREDENTIALS,
  startS3rver,
  startTcpProxy,
  type TcpProxy,
  TEST_DATABASE_URL,
  type TestDatabaseTarget,
  testDatabases,
  waitFor,
} from './index.ts';

/** A real TCP server that keeps what it receives per connection and echoes it back. */
let echo: Server;
const received: string[] = [];
const serverSides: Socket[] = [];
beforeAll(async () => {
  echo = createServer((socket) => {
    const index = received.push('') - 1;
    serverSides.push(socket);
    socket.on('data', (chunk: Buffer) => {
      received[index] += chunk.toString();
      socket.write(chunk);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of serverSides) socket.destroy();
  await new Promise((resolve) => echo.close(resolve));
});

/** A client of the proxy that collects what comes back and how the connection ended. */
async function client(proxy: TcpProxy) {
  const socket = connect(proxy.port, '127.0.0.1');
  const state = { data: '', ended: false, error: undefined as NodeJS.ErrnoException | undefined, socket };
  socket.on('data', (chunk: Buffer) => (state.data += chunk.toString()));
  socket.on('end', () => (state.ended = true));
  socket.on('error', (e) => (state.error = e));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return state;
}

describe('startTcpProxy', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy({ port: (echo.address() as AddressInfo).port });
  });
  afterAll(async () => {
    await proxy.close();
  });
  afterEach(() => proxy.restore());

  it('forwards both ways', async () => {
    const c = await client(proxy);
    c.socket.write('hello');
    await waitFor(() => c.data === 'hello', 5000, 'the echo');
    expect(proxy.connections).toBe(1);
    c.socket.destroy();
    await waitFor(() => proxy.connections === 0, 5000, 'the link to close');
  });

  it('stop() resets open connections and refuses new ones; start() listens on the same port again', async () => {
    const c = await client(proxy);
    const cutsBefore = proxy.cuts;
    await proxy.stop();
    await waitFor(() => c.error ?? (c.ended || undefined), 5000, 'the reset');
    expect(c.error?.code).toBe('ECONNRESET');
    expect(proxy.cuts).toBe(cutsBefore + 1);
    await expect(client(proxy)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.start();
    const again = await client(proxy);
    again.socket.write('back');
    await waitFor(() => again.data === 'back', 5000, 'the echo after start');
    again.socket.destroy();
  });

  it('cut() resets every open connection and keeps listening', async () => {
    const [a, b] = [await client(proxy), await client(proxy)];
    proxy.cut();
    await waitFor(() => a.error && b.error, 5000, 'both resets');
    expect([a.error?.code, b.error?.code]).toEqual(['ECONNRESET', 'ECONNRESET']);
    const c = await client(proxy);
    c.socket.write('still here');
    await waitFor(() => c.data === 'still here', 5000, 'the echo after the cut');
    c.socket.destroy();
  });

  it('cutAfter() lets exactly that many bytes through on the next connections only', async () => {
    proxy.cutAfter(4, 1);
    const first = received.length;
    const a = await client(proxy);
    a.socket.write('abcdefgh');
    await waitFor(() => a.ended || a.error, 5000, 'the cut');
    expect(received[first]).toBe('abcd');
    const b = await client(proxy);
    b.socket.write('abcdefgh');
    await waitFor(() => b.data === 'abcdefgh', 5000, 'an uncut echo');
    b.socket.destroy();
  });

  it('blackhole() keeps sockets open and forwards nothing either way; restore() forwards again', async () => {
    const c = await client(proxy);
    c.socket.write('before');
    await waitFor(() => c.data === 'before', 5000, 'the first echo');
    const index = received.length - 1;
    const dropped = proxy.dropped;
    proxy.blackhole();
    c.socket.write('lost');
    serverSides[index]!.write('unseen');
    await waitFor(() => proxy.dropped === dropped + 'lost'.length + 'unseen'.length, 5000, 'the drops');
    const silent = await client(proxy); // accepted, and silent
    silent.socket.write('nobody');
    await waitFor(() => proxy.dropped === dropped + 16, 5000, 'the new connection to be dropped too');
    expect(c.data).toBe('before');
    expect(c.ended || c.error !== undefined).toBe(false);
    proxy.restore();
    c.socket.write('after');
    await waitFor(() => c.data === 'beforeafter', 5000, 'the echo after restore');
    expect(received[index]).toBe('beforeafter');
    c.socket.destroy();
    silent.socket.destroy();
  });

  it('passes no close while blackholed, and passes it on restore', async () => {
    const c = await client(proxy);
    c.socket.write('x');
    await waitFor(() => c.data === 'x', 5000, 'the echo');
    const index = received.length - 1;
    let serverSawEnd = false;
    serverSides[index]!.on('end', () => (serverSawEnd = true));
    proxy.blackhole();
    c.socket.end();
    await waitFor(() => c.socket.writableFinished, 5000, 'the FIN to leave');
    await new Promise((resolve) => setTimeout(resolve, 100)); // time for the proxy to drop it
    expect(serverSawEnd).toBe(false);
    expect(proxy.connections).toBe(1);
    proxy.restore();
    await waitFor(() => serverSawEnd, 5000, 'the close after restore');
  });
});

describe('startS3rver', () => {
  it('serves S3 on loopback with the bucket, stops and starts on the same port and folder', async () => {
    const s3 = await startS3rver();
    try {
      expect(s3).toMatchObject({ bucket: S3RVER_BUCKET, ...S3RVER_CREDENTIALS });
      expect(s3.endpoint).toBe(`http://127.0.0.1:${s3.port}`);
      const put = await fetch(`${s3.endpoint}/${S3RVER_BUCKET}/k.txt`, { method: 'PUT', body: 'v' });
      expect(put.status).toBe(200);
      await s3.stop();
      await expect(fetch(`${s3.endpoint}/${S3RVER_BUCKET}/k.txt`)).rejects.toThrow();
      await s3.start();
      expect(await (await fetch(`${s3.endpoint}/${S3RVER_BUCKET}/k.txt`)).text()).toBe('v');
    } finally {
      await s3.dispose();
    }
    await expect(access(s3.directory)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('creates no bucket when told so', async () => {
    const s3 = await startS3rver({ buckets: [] });
    try {
      expect(s3.bucket).toBeUndefined();
      expect((await fetch(`${s3.endpoint}/${S3RVER_BUCKET}/k.txt`)).status).toBe(404);
    } finally {
      await s3.dispose();
    }
  });
});

describe('testDatabases', () => {
  /** The opener's calls, in order; `@po/db`'s openDatabase takes this place in real suites. */
  const calls: string[] = [];
  const open = async (target: TestDatabaseTarget) => {
    if ('dataDir' in target) await writeFile(`${target.dataDir}.probe`, 'x'); // the folder is real
    calls.push(JSON.stringify(target));
    return {
      query: async (sql: string) => void calls.push(sql),
      close: async () => void calls.push('close'),
    };
  };

  it('opens a fresh PostgreSQL schema on the test server and drops it, then closes', async () => {
    const [postgres] = testDatabases(open, { prefix: 'po_kit' });
    expect(postgres?.name).toBe('postgres');
    calls.length = 0;
    const a = await postgres!.open();
    const b = await postgres!.open();
    const [first, second] = calls.map((c) => JSON.parse(c) as { url: string; schema: string });
    expect(first?.url).toBe(TEST_DATABASE_URL);
    expect(first?.schema).toMatch(/^po_kit_[0-9a-f]{10}$/);
    expect(second?.schema).not.toBe(first?.schema);
    calls.length = 0;
    await a.cleanup();
    expect(calls).toEqual([`DROP SCHEMA IF EXISTS "${first?.schema}" CASCADE`, 'close']);
    await b.cleanup();
  });

  it('opens PGlite in a fresh temporary folder and removes it after closing', async () => {
    const [, pglite] = testDatabases(open);
    expect(pglite?.name).toBe('pglite');
    calls.length = 0;
    const opened = await pglite!.open();
    const { dataDir } = JSON.parse(calls[0]!) as { dataDir: string };
    expect(dataDir).toMatch(/po-test-[^/]+\/pglite$/);
    await access(join(dataDir, '..'));
    await opened.cleanup();
    expect(calls.at(-1)).toBe('close');
    await expect(access(join(dataDir, '..'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('randomName gives distinct SQL-safe names', () => {
    const names = new Set(Array.from({ length: 100 }, () => randomName('po_x')));
    expect(names.size).toBe(100);
    for (const name of names) expect(name).toMatch(/^po_x_[0-9a-f]{10}$/);
  });
});

describe('waitFor and the seeded random', () => {
  it('returns the first usable value, and names what it waited for on timeout', async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? n : undefined), 5000, 'three polls')).toBe(3);
    await expect(waitFor(() => false, 120, 'the impossible')).rejects.toThrow(
      'timed out after 120 ms waiting for the impossible',
    );
  });

  it("re-exports @po/core's mulberry32", () => {
    expect(mulberry32(7)()).toBe(mulberry32(7)());
  });
});
