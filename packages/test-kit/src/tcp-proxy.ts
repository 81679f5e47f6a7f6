import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** Where a `TcpProxy` forwards to. */
export interface TcpProxyTarget {
  /** Default `127.0.0.1`. */
  host?: string;
  port: number;
}

export interface TcpProxyOptions {
  /** The port to listen on (127.0.0.1). Default: a free one, kept across `stop()`/`start()`. */
  port?: number;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a real server (PostgreSQL, s3rver): the link between a
 * client under test and its server, with the ways a link fails.
 *
 * - `stop()` / `start()`: the server is gone (every connection reset, new ones refused), then back
 *   on the same port.
 * - `cut()`: every open connection is reset (RST); new connections work.
 * - `cutAfter(bytes, connections)`: the next connections are cut in the middle of what the
 *   client sends (the server sees a body that stops).
 * - `blackhole()` / `restore()`: a half-open link whose packets are dropped: sockets stay open,
 *   nothing is forwarded either way and nothing is closed; bytes sent meanwhile are lost.
 */
export interface TcpProxy {
  /** `127.0.0.1`. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>`, for HTTP servers (s3rver). */
  readonly endpoint: string;
  /** Open client connections. */
  readonly connections: number;
  /** Connections cut so far (by `cut`, `cutAfter` and `stop`). */
  readonly cuts: number;
  /** Bytes dropped so far by `blackhole` (both directions). */
  readonly dropped: number;
  /** Resets every connection and stops listening: new connections are refused. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Resets every open connection (both sides see a reset); keeps listening. */
  cut(): void;
  /**
   * Arms a cut in the middle of a request: the next `connections` connections whose client has
   * sent more than `bytes` bytes get exactly `bytes` through to the server, then both sides are
   * closed.
   */
  cutAfter(bytes: number, connections?: number): void;
  /**
   * From now on, forwards nothing in either direction and passes no close: open sockets stay
   * open and silent, new connections are accepted and stay silent. What is sent meanwhile is
   * dropped, as a network that drops packets loses them.
   */
  blackhole(): void;
  /** Forwards again, on the connections still open and on new ones; a close dropped meanwhile is passed on. */
  restore(): void;
  /** Stops for good (`stop()`); for `afterAll`. */
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes the client sent through this link. */
  sent: number;
  /** A cut in progress: nothing more is forwarded. */
  cutting: boolean;
}

/** What the proxy's controls change and its connections read. */
interface ProxyState {
  readonly target: Required<TcpProxyTarget>;
  readonly links: Set<Link>;
  server: Server | undefined;
  blackholed: boolean;
  /** Connections still to cut by `cutAfter`, and after how many client bytes. */
  armed: number;
  cutAt: number;
  cuts: number;
  dropped: number;
}

/** Starts a `TcpProxy` to `target`. */
export async function startTcpProxy(
  target: TcpProxyTarget,
  options: TcpProxyOptions = {},
): Promise<TcpProxy> {
  const state: ProxyState = {
    target: { host: target.host ?? '127.0.0.1', port: target.port },
    links: new Set(),
    server: undefined,
    blackholed: false,
    armed: 0,
    cutAt: Number.POSITIVE_INFINITY,
    cuts: 0,
    dropped: 0,
  };
  const port = await listen(state, options.port ?? 0);
  const stop = async () => {
    for (const link of [...state.links]) reset(state, link);
    const server = state.server;
    state.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    host: '127.0.0.1',
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get connections() {
      return state.links.size;
    },
    get cuts() {
      return state.cuts;
    },
    get dropped() {
      return state.dropped;
    },
    stop,
    async start() {
      if (state.server === undefined) await listen(state, port);
    },
    cut() {
      for (const link of [...state.links]) reset(state, link);
    },
    cutAfter(bytes, connections = 1) {
      state.armed = connections;
      state.cutAt = bytes;
    },
    blackhole() {
      state.blackholed = true;
    },
    restore() {
      state.blackholed = false;
      for (const link of [...state.links]) passHeldClose(link);
    },
    close: stop,
  };
}

function listen(state: ProxyState, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true }, (client) => accept(state, client));
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      state.server = server;
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function accept(state: ProxyState, client: Socket): void {
  const upstream = connect({ ...state.target, allowHalfOpen: true });
  const link: Link = { client, upstream, sent: 0, cutting: false };
  state.links.add(link);
  client.on('data', (chunk: Buffer) => forward(state, link, client, upstream, chunk));
  upstream.on('data', (chunk: Buffer) => forward(state, link, upstream, client, chunk));
  // An end or a close is passed on, unless the link is blackholed (the FIN is a dropped packet too).
  const pass = (to: Socket) => () => {
    if (!state.blackholed) to.end();
  };
  client.on('end', pass(upstream));
  upstream.on('end', pass(client));
  // A close after an error resets the other side; a clean one lets it finish writing first.
  const gone = (other: Socket) => (hadError: boolean) => {
    if (!state.blackholed || link.cutting) {
      if (hadError) other.destroy();
      else other.end();
    }
    if (client.destroyed && upstream.destroyed) state.links.delete(link);
  };
  client.on('close', gone(upstream)).on('error', () => {});
  upstream.on('close', gone(client)).on('error', () => {});
}

function forward(state: ProxyState, link: Link, from: Socket, to: Socket, chunk: Buffer): void {
  if (link.cutting) return;
  if (state.blackholed) {
    state.dropped += chunk.byteLength;
    return;
  }
  if (from === link.client) {
    link.sent += chunk.byteLength;
    if (state.armed > 0 && link.sent > state.cutAt) {
      cutMidway(state, link, chunk);
      return;
    }
  }
  // Back-pressure: a slow reader slows the writer, as on a real link.
  if (!to.write(chunk)) {
    from.pause();
    to.once('drain', () => from.resume());
  }
}

/** Lets the chunk through up to the armed byte count, then closes both sides. */
function cutMidway(state: ProxyState, link: Link, chunk: Buffer): void {
  state.armed -= 1;
  state.cuts += 1;
  link.cutting = true;
  const through = chunk.subarray(0, Math.max(0, chunk.byteLength - (link.sent - state.cutAt)));
  link.upstream.write(through, () => {
    link.upstream.destroy();
    link.client.destroy();
  });
}

/** Resets both sides of a link (RST). */
function reset(state: ProxyState, link: Link): void {
  link.cutting = true;
  for (const socket of [link.client, link.upstream]) {
    if (!socket.destroyed) socket.resetAndDestroy();
  }
  state.links.delete(link);
  state.cuts += 1;
}

/** After a blackhole: a close dropped meanwhile is passed on now (TCP would send its FIN again). */
function passHeldClose(link: Link): void {
  if (link.client.destroyed) link.upstream.destroy();
  else if (link.upstream.destroyed) link.client.destroy();
  if (link.client.readableEnded) link.upstream.end();
  if (link.upstream.readableEnded) link.client.end();
}
