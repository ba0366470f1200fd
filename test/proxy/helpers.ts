/**
 * Helpers of the proxy tests (no root needed): a client stack linked in
 * memory to a proxy stack whose interface is transparent, with a
 * TransparentProxy that maps the gateway addresses 10.0.2.2 and fd00:2::2
 * to the host's loopback (slirp4netns style), and upstream servers on
 * 127.0.0.1 / ::1 only. Both stacks run on the real clock, because the
 * upstreams are real sockets; tests wait on events, each with a deadline.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import {
  Stack,
  linkInterfaces,
  type NetInterface,
  type StackError,
  type TcpConnection,
  type TerminationReason,
} from '../../src/index.js';
import { TransparentProxy, type TransparentProxyOptions } from '../../src/proxy/index.js';

const cleanups: (() => Promise<void> | void)[] = [];

/** Registers something to close after the current test, pass or fail (see cleanup). */
export function track(close: () => Promise<void> | void): void {
  cleanups.push(close);
}

/**
 * Closes everything tracked, newest first; register it with
 * test.after.each(cleanup) so that a failed test leaves nothing open that
 * would keep the process alive.
 */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch {
      // best effort: the rest must still be closed
    }
  }
}

/** The proxy stack's own addresses: what the client dials; mapped to loopback. */
export const GATEWAY4 = '10.0.2.2';
export const GATEWAY6 = 'fd00:2::2';
export const LOOPBACK_MAP = [`${GATEWAY4}=127.0.0.1`, `${GATEWAY6}=::1`];

export interface ProxyNet {
  client: Stack;
  proxyStack: Stack;
  proxy: TransparentProxy;
  clientIface: NetInterface;
  close(): Promise<void>;
}

/** A client stack, a proxy stack (transparent) and a TransparentProxy mapping the gateways to loopback. */
export async function proxyNet(
  options: TransparentProxyOptions = {},
  stackOptions: { tcp?: { window?: number; sendBuffer?: number } } = {},
): Promise<ProxyNet> {
  const client = await Stack.create({ seed: 1, ...stackOptions });
  const proxyStack = await Stack.create({ seed: 2, ...stackOptions });
  const clientIface = client.addInterface({ ipv4: '10.0.2.100/24', ipv6: 'fd00:2::100/64' });
  const proxyIface = proxyStack.addInterface({
    ipv4: `${GATEWAY4}/24`,
    ipv6: `${GATEWAY6}/64`,
    transparent: true,
  });
  linkInterfaces(clientIface, proxyIface);
  const proxy = new TransparentProxy(proxyStack, {
    policy: { map: LOOPBACK_MAP },
    dialTimeoutMs: 5000,
    ...options,
  });
  const net: ProxyNet = {
    client,
    proxyStack,
    proxy,
    clientIface,
    async close() {
      await proxy.shutdown({ timeoutMs: 200 });
      client.close();
      proxyStack.close();
    },
  };
  track(() => net.close());
  return net;
}

export interface LoopbackServer {
  port: number;
  server: Server;
  /** Every accepted socket, in order. */
  sockets: Socket[];
  /** Resolves with the next accepted socket. */
  nextSocket(): Promise<Socket>;
  close(): Promise<void>;
}

/** A TCP server on a loopback address (half-open allowed); `onSocket` sees each connection. */
export async function loopbackServer(
  onSocket: (socket: Socket) => void = () => {},
  host = '127.0.0.1',
): Promise<LoopbackServer> {
  const sockets: Socket[] = [];
  const waiters: ((s: Socket) => void)[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    sockets.push(socket);
    onSocket(socket);
    waiters.shift()?.(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host }, () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no server address');
  let closing: Promise<void> | undefined;
  const result: LoopbackServer = {
    port: address.port,
    server,
    sockets,
    nextSocket: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      (closing ??= new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      })),
  };
  track(() => result.close());
  return result;
}

/** A loopback port nobody listens on (bound, then released). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const s = await loopbackServer(() => {}, host);
  await s.close();
  return s.port;
}

/** Rejects when `promise` does not settle within `ms` (real time); keeps hangs short. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves with how the connection ended, as 'reason' or 'reason:CODE'. */
export function ended(conn: TcpConnection): Promise<string> {
  return new Promise((resolve) => {
    if (!conn.alive && conn.terminationReason !== undefined) {
      const e = conn.error;
      resolve(e ? `${conn.terminationReason}:${e.code}` : conn.terminationReason);
      return;
    }
    conn.on('terminated', (r: TerminationReason, e: StackError | undefined) =>
      resolve(e ? `${r}:${e.code}` : r),
    );
  });
}

/** Resolves when a socket has closed, with everything it read and whether it saw 'end'. */
export function drain(socket: Socket): Promise<{ data: Buffer; ended: boolean; error?: string }> {
  const chunks: Buffer[] = [];
  let sawEnd = false;
  let error: string | undefined;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => (sawEnd = true));
  socket.on('error', (e: Error & { code?: string }) => (error = e.code ?? e.message));
  return new Promise((resolve) =>
    socket.once('close', () =>
      resolve({ data: Buffer.concat(chunks), ended: sawEnd, ...(error ? { error } : {}) }),
    ),
  );
}

/** Sockets writeSocket has given a lasting no-op 'error' listener. */
const absorbing = new WeakSet<Socket>();

/**
 * Writes `data` to a socket respecting 'drain'; counts what the kernel took
 * in `progress.taken`. Resolves true when everything was written, false when
 * the socket failed first (a reset): the reader's checks then report it.
 */
export function writeSocket(
  socket: Socket,
  data: Uint8Array,
  progress: { taken: number } = { taken: 0 },
  chunk = 64 << 10,
): Promise<boolean> {
  return new Promise((resolve) => {
    let off = 0;
    // Listeners come off when this write settles: callers write one socket many times.
    const settle = (ok: boolean) => {
      socket.off('drain', pump);
      socket.off('error', failed);
      socket.off('close', failed);
      resolve(ok);
    };
    const failed = () => settle(false);
    const pump = () => {
      while (off < data.length) {
        if (socket.destroyed) return settle(false);
        const end = Math.min(data.length, off + chunk);
        const ok = socket.write(data.subarray(off, end));
        progress.taken = end;
        off = end;
        if (!ok) {
          socket.once('drain', pump);
          return;
        }
      }
      settle(true);
    };
    socket.on('error', failed);
    socket.on('close', failed);
    // A reset after this write is the reader's to report, not an uncaught error.
    if (!absorbing.has(socket)) {
      absorbing.add(socket);
      socket.on('error', () => {});
    }
    pump();
  });
}

/**
 * Bounded polling of an effect outside this process's control (kernel socket
 * buffers filling up): resolves once `read()` stayed the same for `stableMs`,
 * rejects after `timeoutMs`.
 */
export function settles(
  read: () => number,
  what: string,
  { stableMs = 300, intervalMs = 50, timeoutMs = 20_000 } = {},
): Promise<number> {
  const started = performance.now();
  let last = read();
  let since = performance.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      const now = performance.now();
      const value = read();
      if (value !== last) {
        last = value;
        since = now;
      } else if (now - since >= stableMs) return resolve(value);
      if (now - started > timeoutMs)
        return reject(new Error(`${what} did not settle within ${timeoutMs} ms`));
      setTimeout(tick, intervalMs);
    };
    setTimeout(tick, intervalMs);
  });
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export { bytes, collect, concat, writeAll, record } from '../helpers/net.js';
