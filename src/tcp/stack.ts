/**
 * Stack: the public entry point. A StackCore (src/stack/core.ts: lwIP
 * instance, clock, interfaces, stats) plus TCP: listen() and connect().
 */
import { LwErr, LwInfo, LwListen } from '../wasm/abi.js';
import { parseIp, type IpAddress } from '../stack/address.js';
import { StackCore, type StackOptions } from '../stack/core.js';
import { StackError } from '../stack/errors.js';
import { registryOf, TcpConnection, type TcpConnectionInfo } from './connection.js';
import type { StackStats } from '../stack/core.js';
import type { TimerClient } from '../stack/clock.js';
import { addressArgs, endpointsOf, type TcpEndpoint } from './endpoint.js';
import { TcpListener, type ConnectionHandler, type SynHandler } from './listener.js';

/** Options of Stack.listen. */
export interface ListenOptions {
  /** Local address; default: every address, IPv4 and IPv6. */
  address?: string;
  /** 0..65535; 0 picks a free port (see listener.local.port). */
  port: number;
  /** Accepted-but-not-active connections held at once (1..255, default 128). */
  backlog?: number;
  /**
   * Transparent proxying: additionally take connections to ANY address and
   * port that arrive on interfaces created with `transparent: true` and that
   * no other listener matches. The connection's `local` is the original
   * destination. One transparent listener per stack; `address` must be unset.
   */
  transparent?: boolean;
  /**
   * Hold each SYN unanswered and hand it here first (see HeldSyn): answer
   * with accept(), refuse() (RST) or drop() (no answer), e.g. once the real
   * destination answered. Without it SYNs are answered at once.
   */
  onSyn?: SynHandler;
}

/** Options of Stack.connect. */
export interface ConnectOptions {
  /** Peer address, IPv4 or IPv6 text. */
  address: string;
  port: number;
  /** Bind to this local address first. */
  localAddress?: string;
  /** Bind to this local port first (0 or absent: ephemeral). */
  localPort?: number;
  /**
   * Cancels the attempt: if it fires before becameActive, the connection is
   * aborted (terminated with Abort, no error). Later it does nothing. An
   * already aborted signal aborts the connection at once.
   */
  signal?: AbortSignal;
}

/** Aborts `conn` if `signal` fires before it became active. */
function cancelOnAbort(conn: TcpConnection, signal: AbortSignal): void {
  if (signal.aborted) {
    conn.abort();
    return;
  }
  const onAbort = () => {
    if (!conn.active) conn.abort();
  };
  const detach = () => signal.removeEventListener('abort', onAbort);
  signal.addEventListener('abort', onAbort, { once: true });
  conn.once('becameActive', detach);
  conn.once('terminated', detach);
}

function checkPort(value: unknown, operation: string, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 65535)
    throw StackError.invalidArgument(
      operation,
      field,
      `must be an integer in ${min}..65535, got ${String(value)}`,
    );
  return value;
}

/** One connection in Stack.stats({ connections: true }). */
export interface ConnectionFigures extends TcpConnectionInfo {
  id: number;
  direction: 'accepted' | 'outgoing';
  local: TcpEndpoint;
  peer: TcpEndpoint;
  active: boolean;
  recvEnabled: boolean;
  writable: boolean;
}

/** Stack.stats(): the core figures plus TCP connection totals (and, on request, each connection). */
export interface TcpStackStats extends StackStats {
  totals: {
    /** Connections opened or accepted since the stack started. */
    opened: number;
    /** Connections alive now (from the connection model's view). */
    live: number;
    /** Bytes delivered to and taken from the application, all connections ever. */
    bytesIn: number;
    bytesOut: number;
  };
  /** Present with stats({ connections: true }). */
  perConnection?: ConnectionFigures[];
}

/** What Stack.shutdown() did. */
export interface StackShutdownReport {
  /** Listeners closed. */
  listeners: number;
  /** Connections whose orderly close completed. */
  closed: number;
  /** Connections aborted at the deadline. */
  aborted: number;
  /** Connections that ended otherwise meanwhile (reset, timeout). */
  failed: number;
  /** True when the deadline passed with connections still open. */
  timedOut: boolean;
  /** Time taken on the stack's clock, in ms. */
  elapsedMs: number;
}

export class Stack extends StackCore {
  readonly #listeners = new Set<TcpListener>();
  /** The last address connect() parsed: clients often dial one address again and again. */
  #lastRemote: { text: string; ip: IpAddress } | undefined;

  private constructor(options: StackOptions) {
    super(options);
  }

  /** Creates a stack: loads (once) and instantiates lwip.wasm and initialises lwIP. */
  static async create(options: StackOptions = {}): Promise<Stack> {
    const stack = new Stack(options);
    await stack.init(options);
    return stack;
  }

  /**
   * Listens for TCP connections. Each accepted connection is handed to
   * `onConnection` on hold: call markActive() when ready for it.
   * Throws StackError 'EADDRINUSE' when the port is taken.
   */
  listen(options: ListenOptions, onConnection: ConnectionHandler): TcpListener {
    const op = 'Stack.listen';
    if (typeof onConnection !== 'function')
      throw StackError.invalidArgument(op, 'onConnection', 'must be a function');
    const port = checkPort(options?.port, op, 'port', 0);
    const backlog = options.backlog ?? 128;
    if (!Number.isInteger(backlog) || backlog < 1 || backlog > 255)
      throw StackError.invalidArgument(op, 'backlog', 'must be an integer in 1..255');
    let ip: IpAddress | undefined;
    if (options.address !== undefined) ip = parseIp(options.address, op, 'address');
    const anyAddress = !ip || ip.bytes.every((b) => b === 0);
    const family = anyAddress ? 0 : ip!.family;
    if (options.onSyn !== undefined && typeof options.onSyn !== 'function')
      throw StackError.invalidArgument(op, 'onSyn', 'must be a function');
    if (options.transparent && options.address !== undefined)
      throw StackError.invalidArgument(op, 'address', 'must be unset for a transparent listener');
    const flags =
      (options.transparent ? LwListen.TRANSPARENT : 0) | (options.onSyn ? LwListen.HOLD_SYN : 0);
    const handle = this.call(op, (x, rt) => {
      const [addr] = addressArgs(rt, anyAddress ? undefined : ip);
      return x.lw_tcp_listen(family, addr, port, backlog, flags);
    });
    if (handle === LwErr.STATE)
      throw StackError.invalidState(
        'ERR_TRANSPARENT_LISTENER_EXISTS',
        op,
        'this stack already has a transparent listener',
      );
    if (handle < 0) {
      if (handle === LwErr.USE) throw StackError.fromErrno('EADDRINUSE', `${op} port ${port}`);
      if (handle === LwErr.MEM) throw StackError.fromErrno('ENOMEM', op);
      throw new StackError('ERR_LISTEN', `${op}: lwIP refused (${handle})`, {
        kind: 'protocol',
        operation: op,
      });
    }
    const info = this.call(op, (x, rt) =>
      rt.readWords(LwInfo.WORDS, (p) => x.lw_tcp_info(handle, p)),
    );
    const local = info ? endpointsOf(info).local : { family: 4 as const, address: '0.0.0.0', port };
    // Like node:net, a listener on every address (IPv4 and IPv6) reports '::'.
    const shown: TcpEndpoint =
      anyAddress && (!ip || ip.family === 6)
        ? { family: 6, address: '::', port: local.port }
        : local;
    const listener = new TcpListener(this, handle, shown, onConnection, options.onSyn);
    this.#listeners.add(listener);
    return listener;
  }

  /** The connections alive now (accepted and outgoing), in creation order. */
  connections(): IterableIterator<TcpConnection> {
    return registryOf(this).live.values();
  }

  /**
   * Core figures plus connection totals; with `{ connections: true }` also a
   * line per live connection (one WASM call each: cheap, but O(connections)).
   */
  override stats(options: { connections?: boolean } = {}): TcpStackStats {
    const base = super.stats();
    const r = registryOf(this);
    const result: TcpStackStats = {
      ...base,
      totals: { opened: r.opened, live: r.live.size, bytesIn: r.bytesIn, bytesOut: r.bytesOut },
    };
    if (options.connections) {
      result.perConnection = [...r.live].map((c) => ({
        id: c.id,
        direction: c.direction,
        local: c.local,
        peer: c.peer,
        active: c.active,
        recvEnabled: c.recvEnabled,
        writable: c.writable,
        ...c.info(),
      }));
    }
    return result;
  }

  /**
   * Graceful shutdown: closes every listener, closes every connection
   * gracefully, and aborts what is still open after `timeoutMs` (default
   * 5000) on the stack's clock. Resolves with what happened; the stack
   * stays usable (call close() to free it).
   */
  shutdown(options: { timeoutMs?: number } = {}): Promise<StackShutdownReport> {
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0)
      throw StackError.invalidArgument(
        'Stack.shutdown',
        'timeoutMs',
        'must be a non-negative integer',
      );
    const started = this.clock.now();
    const report: StackShutdownReport = {
      listeners: 0,
      closed: 0,
      aborted: 0,
      failed: 0,
      timedOut: false,
      elapsedMs: 0,
    };
    for (const l of this.#listeners) {
      if (l.listening) report.listeners++;
      l.close();
    }
    this.#listeners.clear();
    const open = new Set(registryOf(this).live);
    return new Promise((resolve) => {
      const clock = this.clock;
      const deadline: TimerClient = {
        fire: () => {
          report.timedOut = open.size > 0;
          for (const c of [...open]) {
            report.aborted++;
            open.delete(c);
            c.abort();
          }
          finish();
        },
      };
      let finished = false;
      const finish = () => {
        if (finished || open.size > 0) return;
        finished = true;
        clock.cancel(deadline);
        report.elapsedMs = clock.now() - started;
        resolve(report);
      };
      for (const c of open) {
        c.once('terminated', (reason) => {
          if (!open.delete(c)) return;
          if (reason === 'close') report.closed++;
          else report.failed++;
          finish();
        });
        c.gracefulClose();
      }
      if (open.size === 0) finish();
      else clock.schedule(deadline, clock.now() + timeoutMs);
    });
  }

  /**
   * Opens a TCP connection and returns it at once. It emits becameActive
   * when established, or terminated with an error: ECONNREFUSED (RST
   * answered the SYN), ETIMEDOUT (SYN retransmissions ran out),
   * ENETUNREACH, EADDRINUSE (local port taken), EMFILE (maxConnections).
   */
  connect(options: ConnectOptions): TcpConnection {
    const op = 'Stack.connect';
    if (typeof options !== 'object' || options === null)
      throw StackError.invalidArgument(op, 'options', 'must be an object');
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
      throw StackError.invalidArgument(op, 'signal', 'must be an AbortSignal');
    let remote: IpAddress;
    if (this.#lastRemote?.text === options.address) remote = this.#lastRemote.ip;
    else {
      remote = parseIp(options.address, op, 'address');
      this.#lastRemote = { text: options.address, ip: remote };
    }
    const port = checkPort(options.port, op, 'port', 1);
    const localPort =
      options.localPort === undefined ? 0 : checkPort(options.localPort, op, 'localPort', 0);
    let local: IpAddress | undefined;
    if (options.localAddress !== undefined) {
      local = parseIp(options.localAddress, op, 'localAddress');
      if (local.family !== remote.family)
        throw StackError.invalidArgument(
          op,
          'localAddress',
          'is not of the same IP version as address',
        );
    }
    const handle = this.call(op, (x, rt) => {
      const [addr, localAddr] = addressArgs(rt, remote, local);
      return x.lw_tcp_connect(remote.family, addr, port, localAddr, localPort);
    });
    if (handle < 0) {
      throw new StackError('EMFILE', `${op}: no free connection handle`, {
        errno: 24,
        kind: 'resource',
        operation: op,
        retryable: true,
      });
    }
    const conn = new TcpConnection(this, handle, 'outgoing');
    if (options.signal) cancelOnAbort(conn, options.signal);
    return conn;
  }
}
