/// <reference lib="esnext.disposable" />
/**
 * TcpStream: the seed's ITcpStream, the common product of accept and
 * connect. It owns one established connection until that is handed to
 * createTcpConnectionWatcher; it never reads or writes itself.
 *
 * While a stream owns its connection nothing is read from it. An accepted
 * connection is not marked active before a watcher starts it, so its bytes
 * (and the peer's FIN) wait in lwIP, whose window closes as they pile up.
 * An outgoing connection is established already: its first 64 KiB wait in
 * the stream, then lwIP delivery is turned off. Either way the watcher
 * that takes the connection delivers everything, in order.
 *
 * Ownership safety net: a stream dropped without close() and without being
 * handed to a watcher is found by a FinalizationRegistry and its connection
 * is aborted (counted in watchStats().watch.streamsLeaked). That is a
 * backstop with garbage-collector timing, not a way to close streams.
 */
import type { Stack } from '../tcp/stack.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TerminationReason } from '../tcp/reason.js';
import { StackError } from '../stack/errors.js';
import { fromTcpEndpoint, type IpEndpoint } from './endpoint.js';
import { recordOf, type StackRecord } from './registry.js';

/** Which implementation produced a stream (the seed's backend tag). */
export const TcpStreamKind = {
  /** A connection of this package's lwIP stack. */
  Lwip: 'lwip',
} as const;
export type TcpStreamKind = (typeof TcpStreamKind)[keyof typeof TcpStreamKind];

/** @internal How a connection ended while a stream owned it. */
export interface Termination {
  reason: TerminationReason;
  error: StackError | undefined;
}

/** @internal What a watcher takes over from a stream. */
export interface Handover {
  conn: TcpConnection;
  /** Bytes that arrived while the stream owned an outgoing connection. */
  held: Uint8Array[];
  /** The peer's FIN arrived after `held`. */
  eof: boolean;
  termination: Termination | undefined;
}

/**
 * Bytes an outgoing connection's stream keeps before it turns lwIP
 * delivery off. (Accepted connections need no such buffer: until a watcher
 * starts them they are not marked active, and lwIP holds their bytes
 * without crediting the window.)
 */
const STREAM_HOLD = 64 * 1024;

/**
 * Holds the connection on behalf of a stream. It must not reference the
 * stream (the FinalizationRegistry could never fire otherwise).
 */
class StreamCore {
  conn: TcpConnection | undefined;
  termination: Termination | undefined;
  held: Uint8Array[] = [];
  heldBytes = 0;
  eof = false;

  constructor(
    conn: TcpConnection,
    readonly stack: Stack,
    readonly record: StackRecord,
  ) {
    this.conn = conn;
    conn.on('terminated', this.onTerminated);
    conn.on('readable', this.onReadable);
    conn.on('readEOF', this.onReadEOF);
    record.unownedStreams++;
  }

  readonly onTerminated = (reason: TerminationReason, error: StackError | undefined) => {
    this.termination = { reason, error };
  };

  readonly onReadable = (chunk: Uint8Array) => {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes > STREAM_HOLD) this.conn?.setRecvEnabled(false);
  };

  readonly onReadEOF = () => {
    this.eof = true;
  };

  /** Gives up the connection (taken by a watcher, closed, or reclaimed). */
  release(): TcpConnection | undefined {
    const conn = this.conn;
    if (!conn) return undefined;
    this.conn = undefined;
    conn.off('terminated', this.onTerminated);
    conn.off('readable', this.onReadable);
    conn.off('readEOF', this.onReadEOF);
    this.record.unownedStreams--;
    return conn;
  }

  /** The stream object was garbage-collected while still owning its connection. */
  reclaimLeaked(): void {
    const conn = this.release();
    if (!conn) return;
    this.held = [];
    this.record.counters.streamsLeaked++;
    conn.abort();
  }
}

/** The owner record of each stream, private to this module. */
const cores = new WeakMap<TcpStream, StreamCore>();

const safetyNet = new FinalizationRegistry<StreamCore>((core) => core.reclaimLeaked());

/** Symbol.dispose, or its registered stand-in where the runtime lacks it (the key of every dispose method here). */
export const DISPOSE: typeof Symbol.dispose =
  (Symbol as { dispose?: typeof Symbol.dispose }).dispose ??
  (Symbol.for('Symbol.dispose') as typeof Symbol.dispose);

/**
 * One established TCP connection in transit between accept/connect and a
 * connection watcher.
 *
 * Ownership: the stream owns its connection from creation until
 * createTcpConnectionWatcher takes it (the watcher is the owner from then
 * on) or until close(). Exactly one object owns a connection at any time;
 * a stream whose connection was taken is empty and close() on it does
 * nothing. A stream has no callbacks: whatever happens to its connection
 * meanwhile (a reset, for instance) is reported by the watcher that takes
 * it, once started.
 */
export class TcpStream implements Disposable {
  /** The implementation that produced this stream. */
  readonly kind: TcpStreamKind = TcpStreamKind.Lwip;
  /** 'accepted' (from an accept watcher) or 'outgoing' (from a connect watcher). */
  readonly direction: 'accepted' | 'outgoing';
  /** The connection's id within its stack (as in StackError.connectionId and watchStats). */
  readonly id: number;
  /** Best-effort: the remote end; undefined when fillEndpoints was false. */
  readonly peer: IpEndpoint | undefined;
  /** Best-effort: our end (the chosen port for ephemeral binds); undefined when fillEndpoints was false. */
  readonly local: IpEndpoint | undefined;

  /** @internal Streams are made by the accept and connect watchers. */
  constructor(stack: Stack, conn: TcpConnection, fillEndpoints: boolean) {
    const record = recordOf(stack);
    this.direction = conn.direction;
    this.id = conn.id;
    this.peer = fillEndpoints ? fromTcpEndpoint(conn.peer) : undefined;
    this.local = fillEndpoints ? fromTcpEndpoint(conn.local) : undefined;
    const core = new StreamCore(conn, stack, record);
    cores.set(this, core);
    record.counters.streamsCreated++;
    safetyNet.register(this, core, core);
  }

  /** True while this stream still owns its connection (not taken, not closed). */
  get owned(): boolean {
    return cores.get(this)?.conn !== undefined;
  }

  /**
   * Closes the connection if this stream still owns it: an orderly close
   * (unread bytes waiting in lwIP make it a reset, as with sockets).
   * Calling it again, or after a watcher took the connection, does nothing.
   */
  close(): void {
    const core = cores.get(this);
    const conn = core?.release();
    if (!core || !conn) return;
    core.held = [];
    safetyNet.unregister(core);
    conn.gracefulClose();
  }

  /** Same as close(), for `using stream = ...`. */
  [DISPOSE](): void {
    this.close();
  }
}

/**
 * @internal Hands the connection of `stream` to a connection watcher of
 * `stack`. Throws ERR_STREAM_CONSUMED when the stream no longer owns one
 * and ERR_INVALID_ARGUMENT when it is not a stream of `stack`.
 */
export function takeStream(stream: TcpStream, stack: Stack, operation: string): Handover {
  const core = stream instanceof TcpStream ? cores.get(stream) : undefined;
  if (!core) throw StackError.invalidArgument(operation, 'stream', 'must be a TcpStream');
  if (core.stack !== stack)
    throw StackError.invalidArgument(operation, 'stream', 'belongs to a different stack');
  const conn = core.release();
  if (!conn)
    throw StackError.invalidState(
      'ERR_STREAM_CONSUMED',
      operation,
      'the stream was closed or already handed to a watcher',
      stream.id,
    );
  safetyNet.unregister(core);
  const handover = { conn, held: core.held, eof: core.eof, termination: core.termination };
  core.held = [];
  return handover;
}
