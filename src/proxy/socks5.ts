/**
 * A SOCKS5 client dialer (RFC 1928 CONNECT, with RFC 1929 user/password
 * authentication or none). The proxy reaches every destination through one
 * SOCKS5 server; the server's reply code becomes the answer to the client's
 * SYN: "connection refused" (5) makes the proxy refuse, "network/host
 * unreachable" (3, 4) and "TTL expired" (6) make it drop, as if the
 * destination had never answered. Other failures (authentication, protocol,
 * "not allowed", unsupported command) are refused, so the client fails fast.
 *
 * The handshake is a synchronous state machine inside the socket's data
 * handler: when the reply is complete, the socket is paused before the
 * handler returns and bytes that came after the reply are pushed back with
 * unshift(), so the first bytes of the destination are never lost.
 */
import type { Socket } from 'node:net';
import { tryParseIp } from '../stack/address.js';
import {
  connectSocket,
  DialError,
  type Dialer,
  type DialTarget,
  type SynAnswer,
} from './dialer.js';

/** Where the SOCKS5 server is, and the credentials if it wants them. */
export interface Socks5Options {
  host: string;
  port: number;
  /** With `password`: offer user/password authentication (RFC 1929), 1..255 bytes each. */
  username?: string;
  password?: string;
}

/**
 * Parses 'socks5://[user:password@]host[:port]' (port default 1080; IPv6
 * hosts in brackets; user and password percent-decoded). Throws a
 * TypeError naming the problem.
 */
export function parseSocks5Url(text: string): Socks5Options {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`not a URL: ${JSON.stringify(text)} (want socks5://[user:pass@]host:port)`);
  }
  if (url.protocol !== 'socks5:')
    throw new TypeError(`unsupported upstream scheme ${url.protocol} (want socks5://)`);
  if (url.pathname !== '' && url.pathname !== '/')
    throw new TypeError(`a SOCKS5 URL has no path: ${JSON.stringify(text)}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new TypeError(`no host in ${JSON.stringify(text)}`);
  const options: Socks5Options = { host, port: url.port === '' ? 1080 : Number(url.port) };
  if (url.username !== '' || url.password !== '') {
    options.username = decodeURIComponent(url.username);
    options.password = decodeURIComponent(url.password);
  }
  return options;
}

const REPLIES: Record<number, [code: string, text: string, answer: SynAnswer]> = {
  1: ['ERR_SOCKS_FAILURE', 'general SOCKS server failure', 'refuse'],
  2: ['ERR_SOCKS_NOT_ALLOWED', 'connection not allowed by ruleset', 'refuse'],
  3: ['ENETUNREACH', 'network unreachable', 'drop'],
  4: ['EHOSTUNREACH', 'host unreachable', 'drop'],
  5: ['ECONNREFUSED', 'connection refused', 'refuse'],
  6: ['ETIMEDOUT', 'TTL expired', 'drop'],
  7: ['ERR_SOCKS_UNSUPPORTED', 'command not supported', 'refuse'],
  8: ['ERR_SOCKS_UNSUPPORTED', 'address type not supported', 'refuse'],
};

function protocolError(message: string): DialError {
  return new DialError('ERR_SOCKS_PROTOCOL', `socks5: ${message}`, 'refuse');
}

function encodeField(value: string, field: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length < 1 || bytes.length > 255)
    throw new TypeError(`socks5: ${field} must be 1..255 bytes`);
  return bytes;
}

/** The CONNECT request for an IP destination (ATYP 1 or 4). */
function connectRequest(target: DialTarget): Uint8Array {
  const ip = tryParseIp(target.host);
  if (!ip) throw new DialError('EINVAL', `socks5: not an IP address: ${target.host}`, 'refuse');
  const out = new Uint8Array(4 + ip.bytes.length + 2);
  out.set([5, 1, 0, ip.family === 4 ? 1 : 4]);
  out.set(ip.bytes, 4);
  out[out.length - 2] = target.port >> 8;
  out[out.length - 1] = target.port & 0xff;
  return out;
}

/** Length of a complete CONNECT reply at the start of `buf`, or 0 if more bytes are needed. */
function replyLength(buf: Uint8Array): number {
  if (buf.length < 5) return 0;
  const atyp = buf[3];
  const addr = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + buf[4]! : -1;
  if (addr < 0) throw protocolError(`bad address type ${atyp} in the reply`);
  const total = 4 + addr + 2;
  return buf.length >= total ? total : 0;
}

/** Runs the SOCKS5 handshake on a connected socket; resolves when CONNECT succeeded. */
function handshake(
  socket: Socket,
  options: Socks5Options,
  target: DialTarget,
  signal: AbortSignal,
): Promise<void> {
  const withAuth = options.username !== undefined;
  const user = withAuth ? encodeField(options.username!, 'username') : undefined;
  const pass = withAuth ? encodeField(options.password ?? '', 'password') : undefined;
  const request = connectRequest(target);
  return new Promise((resolve, reject) => {
    let step: 'method' | 'auth' | 'reply' = 'method';
    let buf = new Uint8Array(0);
    const finish = (error: unknown) => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (error !== undefined) {
        socket.destroy();
        reject(error);
      } else resolve();
    };
    const onError = (error: Error) => finish(error);
    const onClose = () => finish(protocolError('the server closed during the handshake'));
    const onAbort = () => finish(signal.reason);
    const take = (n: number) => {
      const head = buf.subarray(0, n);
      buf = buf.subarray(n);
      return head;
    };
    const onData = (chunk: Buffer) => {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      buf = joined;
      try {
        for (;;) {
          if (step === 'method') {
            if (buf.length < 2) return;
            const [ver, method] = take(2);
            if (ver !== 5) throw protocolError(`not a SOCKS5 server (version ${ver})`);
            if (method === 0) {
              step = 'reply';
              socket.write(request);
            } else if (method === 2 && withAuth) {
              step = 'auth';
              socket.write(Uint8Array.from([1, user!.length, ...user!, pass!.length, ...pass!]));
            } else
              throw new DialError(
                'ERR_SOCKS_AUTH',
                `socks5: the server accepts none of our methods (${withAuth ? 'none, user/password' : 'none'})`,
                'refuse',
              );
          } else if (step === 'auth') {
            if (buf.length < 2) return;
            const [, status] = take(2);
            if (status !== 0)
              throw new DialError('ERR_SOCKS_AUTH', 'socks5: user/password rejected', 'refuse');
            step = 'reply';
            socket.write(request);
          } else {
            const n = replyLength(buf);
            if (n === 0) return;
            const reply = take(n);
            if (reply[0] !== 5) throw protocolError(`bad reply version ${reply[0]}`);
            const rep = reply[1]!;
            if (rep !== 0) {
              const [code, text, answer] = REPLIES[rep] ?? [
                'ERR_SOCKS_FAILURE',
                `reply code ${rep}`,
                'refuse',
              ];
              throw new DialError(
                code,
                `socks5 ${target.host} port ${target.port}: ${text}`,
                answer,
              );
            }
            // Pause before this handler returns, then give back what followed the reply.
            socket.pause();
            if (buf.length > 0) socket.unshift(Buffer.from(buf));
            finish(undefined);
            return;
          }
        }
      } catch (error) {
        finish(error);
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.write(Uint8Array.from(withAuth ? [5, 2, 0, 2] : [5, 1, 0]));
  });
}

/**
 * Dials every destination through a SOCKS5 server (given as options or as
 * a socks5:// URL). The server connection is made from the proxy's own
 * namespace. Throws TypeError for a bad URL or over-long credentials.
 */
export function socks5Dialer(server: Socks5Options | string): Dialer {
  const options = typeof server === 'string' ? parseSocks5Url(server) : server;
  if (options.username !== undefined) {
    encodeField(options.username, 'username');
    encodeField(options.password ?? '', 'password');
  }
  const where = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    description: `socks5 ${where}:${options.port}${options.username !== undefined ? ' (user/password)' : ''}`,
    async dial(target, signal) {
      const socket = await connectSocket({ host: options.host, port: options.port }, signal);
      await handshake(socket, options, target, signal);
      return socket;
    },
  };
}
