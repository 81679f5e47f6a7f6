import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a test server that can drop connections in the middle of a request
 * body: after `cutAfterBytes` bytes sent by the client, for the next `cuts` connections.
 */
export interface CuttingProxy {
  endpoint: string;
  /** Cut the next `count` connections that send more than `afterBytes` bytes. */
  cut(count: number, afterBytes: number): void;
  /** Connections cut so far. */
  readonly cutCount: number;
  close(): Promise<void>;
}

export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
  let remaining = 0;
  let afterBytes = Number.POSITIVE_INFINITY;
  let cutCount = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let sent = 0;
    let cutting = false;
    client.on('data', (chunk: Buffer) => {
      if (cutting) return;
      sent += chunk.byteLength;
      if (remaining > 0 && sent > afterBytes) {
        remaining--;
        cutCount++;
        cutting = true;
        // Forward part of the chunk, then drop both sides: the server sees a body that stops.
        upstream.write(chunk.subarray(0, chunk.byteLength - (sent - afterBytes)), () => {
          upstream.destroy();
          client.destroy();
        });
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    cut(count, bytes) {
      remaining = count;
      afterBytes = bytes;
    },
    get cutCount() {
      return cutCount;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
