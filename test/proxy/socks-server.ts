/**
 * A tiny SOCKS5 server for tests (RFC 1928 CONNECT, RFC 1929 user/password)
 * on loopback. It connects only to loopback targets and answers anything
 * else with reply 2 (not allowed), so no test traffic leaves the host. It is
 * closed by the proxy tests' cleanup().
 */
import { connect, createServer, type Socket } from 'node:net';
import { formatIp } from '../../src/stack/address.js';
import { track } from './helpers.js';

export interface SocksServer {
  port: number;
  /** One line per CONNECT: 'user@host port' (user '-' without authentication). */
  requests: string[];
}

export interface SocksServerOptions {
  auth?: { user: string; pass: string };
  /** Answer every CONNECT with this reply code instead of dialling. */
  reply?: number;
  /** Send the reply together with the target's first bytes, in one write. */
  coalesce?: boolean;
}

/** Reads exactly n bytes from a socket (test-only; the socket is in paused mode). */
function reader(socket: Socket): (n: number) => Promise<Buffer> {
  let buf = Buffer.alloc(0);
  let want: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  const check = () => {
    if (want && buf.length >= want.n) {
      const out = buf.subarray(0, want.n);
      buf = buf.subarray(want.n);
      const w = want;
      want = undefined;
      w.resolve(out);
    }
  };
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    check();
  };
  socket.on('data', onData);
  socket.once('close', () => want?.reject(new Error('closed')));
  return (n) =>
    new Promise((resolve, reject) => {
      want = { n, resolve, reject };
      check();
    });
}

const LOOPBACK = new Set(['127.0.0.1', '::1']);

/** Starts a SOCKS5 server on 127.0.0.1 (a free port). */
export async function socksServer(options: SocksServerOptions = {}): Promise<SocksServer> {
  const requests: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (client) => {
    client.on('error', () => {});
    void handle(client).catch(() => client.destroy());
  });
  const reply = (code: number) => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
  async function handle(client: Socket): Promise<void> {
    const read = reader(client);
    const [ver, nmethods] = await read(2);
    if (ver !== 5) throw new Error('not SOCKS5');
    const methods = [...(await read(nmethods!))];
    let user = '-';
    if (options.auth) {
      if (!methods.includes(2)) return void client.end(Buffer.from([5, 0xff]));
      client.write(Buffer.from([5, 2]));
      const [, ulen] = await read(2);
      const u = (await read(ulen!)).toString();
      const [plen] = await read(1);
      const p = (await read(plen!)).toString();
      const ok = u === options.auth.user && p === options.auth.pass;
      client.write(Buffer.from([1, ok ? 0 : 1]));
      if (!ok) return void client.end();
      user = u;
    } else {
      if (!methods.includes(0)) return void client.end(Buffer.from([5, 0xff]));
      client.write(Buffer.from([5, 0]));
    }
    const [, cmd, , atyp] = await read(4);
    if (cmd !== 1 || (atyp !== 1 && atyp !== 4)) return void client.end(reply(8));
    const addr = await read(atyp === 1 ? 4 : 16);
    const port = (await read(2)).readUInt16BE(0);
    const host = formatIp(addr);
    requests.push(`${user}@${host} ${port}`);
    if (options.reply !== undefined) return void client.end(reply(options.reply));
    if (!LOOPBACK.has(host)) return void client.end(reply(2)); // loopback only, always
    const target = connect({ host, port, allowHalfOpen: true });
    target.on('error', (e: Error & { code?: string }) => {
      if (!client.writableEnded) client.end(reply(e.code === 'ECONNREFUSED' ? 5 : 1));
    });
    target.once('connect', () => {
      client.removeAllListeners('data');
      const start = () => {
        client.pipe(target);
        target.pipe(client);
      };
      if (options.coalesce)
        target.once('data', (first: Buffer) => {
          client.write(Buffer.concat([reply(0), first]));
          start();
        });
      else {
        client.write(reply(0));
        start();
      }
    });
  }
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  const sockets = new Set<Socket>();
  server.on('connection', (s) => (sockets.add(s), s.once('close', () => sockets.delete(s))));
  track(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, requests };
}
