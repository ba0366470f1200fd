/**
 * Dialers: how the proxy reaches the real destination of a flow, and what
 * a failure means for the client still waiting for its SYN to be answered.
 *
 * The proxy dials before it answers the client's SYN (see HeldSyn), so the
 * client sees what it would have seen without the proxy: a destination that
 * refuses makes the proxy refuse (RST, "connection refused"); one that never
 * answers, or is unreachable, makes it drop the SYN (no answer, the client's
 * connect times out). synAnswerFor() is that translation, in one place.
 *
 * directDialer connects with node:net from the proxy's own network
 * namespace; socks5.ts has the SOCKS5 one. Any object with dial() works
 * (tests inject dialers that never settle).
 *
 * node:net is imported on first dial (once: later dials reuse it, since an
 * await per dial costs connection rate), so importing the package (and
 * this layer) stays possible where Node's modules do not exist.
 */
import type { Socket } from 'node:net';

type NetModule = typeof import('node:net');
let netModule: NetModule | Promise<NetModule> | undefined;

/**
 * Where the reads of a socket opened with `borrowReads` go. Such a socket
 * reads into one buffer shared by every such socket (node:net's `onread`),
 * so a read allocates nothing; it emits no 'data' events (its 'end',
 * 'close' and errors are as usual). Instead `sink` gets each chunk, a view
 * valid only during the call: copy what you keep. Until a sink is set,
 * chunks are copied into `early` and the socket is paused.
 */
export interface BorrowedReads {
  sink: ((chunk: Uint8Array) => void) | undefined;
  readonly early: Uint8Array[];
}

const BORROWED = Symbol('lwip-wasm.borrowedReads');

/** The BorrowedReads of a socket opened with `borrowReads`, or undefined. */
export function borrowedReads(socket: Socket): BorrowedReads | undefined {
  return (socket as Socket & { [BORROWED]?: BorrowedReads })[BORROWED];
}

/**
 * Shared, since every read is consumed at once. 256 KiB rather than
 * node:net's usual 64 KiB: the relay hands each read to the stack in one
 * write, and a 65536-byte write at MTU 65520 leaves a 61-byte segment
 * behind every full one (no Nagle on relayed flows); with 256 KiB reads the
 * packets towards the client averaged 52 KB instead of 33 KB (iperf3 -R).
 */
let sharedReadBuffer: Uint8Array | undefined;

/** Options of connectSocket. */
export interface ConnectSocketOptions {
  /** Read into a shared buffer, without 'data' events (see BorrowedReads). Default false. */
  borrowReads?: boolean;
}

/** Where to dial: an IP address (text) and a port. */
export interface DialTarget {
  host: string;
  port: number;
}

/** What the proxy does with the client's held SYN when a dial fails. */
export type SynAnswer = 'refuse' | 'drop';

/**
 * Reaches destinations. dial() resolves with a connected socket created
 * with `allowHalfOpen: true` and nothing reading from it yet (paused or
 * with its data still buffered); the socket then belongs to the caller. It
 * rejects with an error whose `code` says why (synAnswerFor reads it), and
 * must reject soon after `signal` aborts, destroying whatever it opened.
 */
export interface Dialer {
  /** A short description for banners and logs ('direct', 'socks5 127.0.0.1:1080'). */
  readonly description: string;
  dial(target: DialTarget, signal: AbortSignal): Promise<Socket>;
}

/** A failed dial with the answer the client's SYN should get. */
export class DialError extends Error {
  /** An errno name ('ECONNREFUSED', 'ETIMEDOUT'...) or an 'ERR_SOCKS_*' code. */
  readonly code: string;
  readonly answer: SynAnswer;

  constructor(code: string, message: string, answer: SynAnswer, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'DialError';
    this.code = code;
    this.answer = answer;
  }
}

/** Errors after which the destination answered "no": the client gets RST. */
const REFUSING = new Set(['ECONNREFUSED', 'ECONNRESET']);

/**
 * The answer for a dial failure: a DialError says it itself; otherwise
 * ECONNREFUSED (and a reset during connect) is 'refuse', and everything
 * else (ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, aborts...) is 'drop'.
 */
export function synAnswerFor(error: unknown): SynAnswer {
  if (error instanceof DialError) return error.answer;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && REFUSING.has(code) ? 'refuse' : 'drop';
}

/** The `code` of an error, or 'EUNKNOWN'. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

/**
 * Opens a TCP connection with node:net and resolves when it is connected.
 * Half-open stays allowed and Nagle is off (the proxy relays what the
 * client segmented). On abort the socket is destroyed and the promise
 * rejects with the signal's reason.
 */
export function connectSocket(
  target: DialTarget,
  signal: AbortSignal,
  options: ConnectSocketOptions = {},
): Promise<Socket> {
  const loaded = (netModule ??= import('node:net').then((m) => (netModule = m)));
  if (loaded instanceof Promise) return loaded.then(() => connectSocket(target, signal, options));
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const socket = openSocket(loaded, target, options);
    const onAbort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    const onError = (error: Error) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    };
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Starts connecting: the socket emits 'connect' (Nagle then off) or 'error'. */
function openSocket(net: NetModule, target: DialTarget, options: ConnectSocketOptions): Socket {
  let reads: BorrowedReads | undefined;
  const socket = net.connect({
    host: target.host,
    port: target.port,
    allowHalfOpen: true,
    ...(options.borrowReads
      ? {
          onread: {
            buffer: () => (sharedReadBuffer ??= new Uint8Array(256 << 10)),
            callback: (n: number, buffer: Uint8Array) => {
              if (reads!.sink) {
                reads!.sink(buffer.subarray(0, n));
                return true;
              }
              reads!.early.push(buffer.slice(0, n));
              return false; // pauses the socket until a sink is set and it is resumed
            },
          },
        }
      : {}),
  });
  if (options.borrowReads) {
    reads = { sink: undefined, early: [] };
    (socket as Socket & { [BORROWED]?: BorrowedReads })[BORROWED] = reads;
  }
  socket.once('connect', setNoDelay);
  return socket;
}

function setNoDelay(this: Socket): void {
  this.setNoDelay(true);
}

/**
 * @internal What directDialer() offers the proxy besides dial(): opening a
 * socket at once, without the AbortSignal, promise and listeners of a
 * dial(), which cost a few KiB of garbage per flow at thousands of flows a
 * second. The socket emits 'connect' or 'error'; destroying it cancels.
 * Returns undefined until node:net is loaded (the first dial loads it).
 */
export const OPEN_SOCKET = Symbol('lwip-wasm.openSocket');

/** @internal A dialer with the OPEN_SOCKET fast path. */
export interface SocketOpener {
  [OPEN_SOCKET]?: (target: DialTarget) => Socket | undefined;
}

/** Dials destinations directly with node:net (the proxy's own namespace and routes). */
export function directDialer(): Dialer {
  // Borrowed reads: the relay copies each chunk into the stack at once.
  const dialer: Dialer & SocketOpener = {
    description: 'direct',
    dial: (target, signal) => connectSocket(target, signal, { borrowReads: true }),
    [OPEN_SOCKET]: (target) =>
      netModule instanceof Promise || netModule === undefined
        ? undefined
        : openSocket(netModule, target, { borrowReads: true }),
  };
  return dialer;
}
