/**
 * Options of the three watchers (seed 000, section 4.3), field by field in
 * camelCase, with their validation and the code that applies the socket
 * options to a TcpConnection.
 *
 * Two kinds of fields. Scheduling fields (maxAcceptPerTick,
 * maxRead/WriteBytesPerTick, queue capacity, overflow, fillEndpoints) are
 * ours and always take effect. Socket options are optional: unset means
 * "leave lwIP's setting alone"; a set value is applied best-effort through
 * lwIP and never fails a connection. Options state intent; what a
 * connection ends up with is observed on the stream (peer/local) and in
 * the stats.
 */
import type { TcpConnection } from '../tcp/connection.js';
import { StackError } from '../stack/errors.js';
import type { IpEndpoint } from './endpoint.js';

/** Socket options shared by the accept and connect options (all optional: unset = untouched). */
export interface TcpSocketOptions {
  /**
   * Accepted for parity with native sockets. lwIP connections are not file
   * descriptors, so there is nothing to inherit across exec: no effect.
   */
  setCloseOnExec?: boolean;
  /** TCP_NODELAY: true disables Nagle's algorithm. */
  tcpNoDelay?: boolean;
  /** SO_KEEPALIVE. true turns keepalive on (with the three fields below), false off. */
  keepAlive?: boolean;
  /** Idle seconds before the first probe; applied only together with keepAlive: true. */
  keepAliveIdleSec?: number;
  /** Seconds between probes; applied only together with keepAlive: true. */
  keepAliveIntervalSec?: number;
  /** Unanswered probes before the connection fails with ETIMEDOUT; only with keepAlive: true. */
  keepAliveCount?: number;
  /**
   * SO_RCVBUF as this connection's receive window (TcpConnection.setBufferSizes:
   * clamped to 1 KiB..8 MiB). Unset: the stack-wide `tcp.window` of Stack.create.
   */
  recvBufBytes?: number;
  /**
   * SO_SNDBUF as this connection's send buffer (clamped to 2 KiB..8 MiB): the
   * most bytes trySend takes that the peer has not acknowledged. Unset: `tcp.sendBuffer`.
   */
  sendBufBytes?: number;
}

/** What the accept watcher does with a connection that finds its queue full. */
export const OverflowPolicy = {
  /** Orderly close: the peer reads end-of-stream at once. No report. */
  CloseNew: 'closeNew',
  /** Abort (RST): nothing of the connection lingers in lwIP. No report. */
  DropSilent: 'dropSilent',
  /** Orderly close, and onError(ENOBUFS) once per overflow episode (until the queue has room again). */
  CloseAndReport: 'closeAndReport',
} as const;
export type OverflowPolicy = (typeof OverflowPolicy)[keyof typeof OverflowPolicy];

/** Options of createTcpAcceptWatcher. */
export interface TcpAcceptOption extends TcpSocketOptions {
  /** Where to listen. 0.0.0.0 or :: with port 0 is "any address, a free port". */
  localBind: IpEndpoint;
  /** Most streams handed to onAccept per event-loop turn; the rest wait for later turns. Default 64. */
  maxAcceptPerTick?: number;
  /** Fill stream.peer/local (default true); false leaves both undefined. */
  fillEndpoints?: boolean;
  /** Accepted connections waiting for their turn (default 1024); beyond it `overflow` applies. Bounded by `backlog` too. */
  acceptedQueueCapacity?: number;
  /** Default CloseNew. */
  overflow?: OverflowPolicy;
  /**
   * lwIP listen backlog (1..255, default 255): connections completed and not
   * yet started by a connection watcher, queued or handed out. When it is
   * full lwIP ignores new SYNs (the peers retry), as a full kernel backlog
   * does; the accepted queue can only overflow below this bound.
   */
  backlog?: number;
}

/** Options of createTcpConnectWatcher. */
export interface TcpConnectOption extends TcpSocketOptions {
  /** Bind to this exact local address and port before connecting (same family as the remote). */
  localBind?: IpEndpoint;
  /** Bind to this local port (0: ephemeral) on the any-address; ignored when localBind is set. */
  localPort?: number;
  /** Fill stream.peer/local (default true). */
  fillEndpoints?: boolean;
  /**
   * Accepted and checked for parity. One connect watcher produces at most
   * one stream and hands it over directly, so there is no queue to bound.
   */
  connectedQueueCapacity?: number;
  /** Aborting it is cancel(): the attempt is abandoned with no callback. */
  signal?: AbortSignal;
}

/** Options of createTcpConnectionWatcher. */
export interface TcpConnectionOption {
  tcpNoDelay?: boolean;
  keepAlive?: boolean;
  keepAliveIdleSec?: number;
  keepAliveIntervalSec?: number;
  keepAliveCount?: number;
  recvBufBytes?: number;
  sendBufBytes?: number;
  /**
   * SO_LINGER. 0: close() aborts (RST, unsent data discarded). n > 0:
   * close() is orderly, and aborts if the close has not finished after n
   * seconds. Unset: close() is orderly with no deadline.
   */
  lingerSec?: number;
  /** Most bytes handed to onRecv per event-loop turn (default 256 KiB). */
  maxReadBytesPerTick?: number;
  /** Most bytes trySend accepts per event-loop turn (default 256 KiB). */
  maxWriteBytesPerTick?: number;
}

/** @internal Socket options after validation. */
export type SocketOptions = Readonly<TcpSocketOptions>;

const MAX_KEEPALIVE_SEC = Math.floor(0xffffffff / 1000);
const MAX_BUF = 1 << 30;

/** @internal Validation helpers that name the offending field. */
export class OptionReader {
  constructor(
    readonly source: Record<string, unknown>,
    readonly operation: string,
    readonly prefix = 'option',
  ) {}

  static of(value: unknown, operation: string, required: boolean): OptionReader {
    if (value === undefined && !required) return new OptionReader({}, operation);
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw StackError.invalidArgument(operation, 'option', 'must be an object');
    return new OptionReader(value as Record<string, unknown>, operation);
  }

  field(key: string): string {
    return `${this.prefix}.${key}`;
  }

  bool(key: string): boolean | undefined {
    const v = this.source[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean')
      throw StackError.invalidArgument(this.operation, this.field(key), 'must be a boolean');
    return v;
  }

  int(key: string, min: number, max: number): number | undefined {
    const v = this.source[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw StackError.invalidArgument(
        this.operation,
        this.field(key),
        `must be an integer in ${min}..${max}, got ${typeof v === 'number' ? v : typeof v}`,
      );
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.source[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !values.includes(v as T))
      throw StackError.invalidArgument(
        this.operation,
        this.field(key),
        `must be one of ${values.map((x) => `'${x}'`).join(', ')}`,
      );
    return v as T;
  }

  socketOptions(): SocketOptions {
    return {
      setCloseOnExec: this.bool('setCloseOnExec'),
      tcpNoDelay: this.bool('tcpNoDelay'),
      keepAlive: this.bool('keepAlive'),
      keepAliveIdleSec: this.int('keepAliveIdleSec', 1, MAX_KEEPALIVE_SEC),
      keepAliveIntervalSec: this.int('keepAliveIntervalSec', 1, MAX_KEEPALIVE_SEC),
      keepAliveCount: this.int('keepAliveCount', 1, 0xffff),
      recvBufBytes: this.int('recvBufBytes', 1, MAX_BUF),
      sendBufBytes: this.int('sendBufBytes', 1, MAX_BUF),
    };
  }
}

/**
 * @internal Applies the set socket options to a live connection,
 * best-effort: nothing here throws for a connection that ended meanwhile.
 * Returns the names of the options that could not be applied.
 */
export function applySocketOptions(conn: TcpConnection, o: SocketOptions): string[] {
  const skipped: string[] = [];
  if (!conn.alive) return skipped;
  if (o.tcpNoDelay !== undefined) conn.setNoDelay(o.tcpNoDelay);
  if (o.keepAlive === true) {
    conn.setKeepAlive(
      true,
      (o.keepAliveIdleSec ?? 0) * 1000,
      (o.keepAliveIntervalSec ?? 0) * 1000,
      o.keepAliveCount ?? 0,
    );
  } else if (o.keepAlive === false) {
    conn.setKeepAlive(false);
  }
  if (o.recvBufBytes !== undefined || o.sendBufBytes !== undefined)
    conn.setBufferSizes({ receiveWindow: o.recvBufBytes, sendBuffer: o.sendBufBytes });
  return skipped;
}
