/**
 * Relay: one proxied flow, a TcpConnection of the stack (the client's side)
 * piped to a net.Socket (the upstream side).
 *
 * Backpressure holds both ways, so a slow reader on either side costs a
 * bounded amount of memory here: when the upstream socket's buffer is full
 * (write() returned false) the connection stops delivering
 * (setRecvEnabled(false, closeWindow)) and the client's window closes, until 'drain';
 * when the connection takes fewer bytes than given, the socket is paused
 * (the kernel's window towards the upstream closes), until 'writable'.
 * What the relay itself holds is at most one socket chunk (down), and (up)
 * the socket's high-water mark plus what the stack had already received
 * when delivery was paused: at most one receive window.
 *
 * Half-close propagates both ways: the client's FIN becomes socket.end(),
 * the upstream's 'end' becomes shutdownWrite() once everything before it
 * was taken. A reset propagates as a reset (abort() / resetAndDestroy()).
 * The relay is over when the connection terminated and the socket closed;
 * then `closed` is emitted once, with the flow's summary.
 */
import type { Socket } from 'node:net';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpEndpoint } from '../tcp/endpoint.js';
import { Emitter } from '../util/emitter.js';
import { borrowedReads } from './dialer.js';
import { giveHold, takeHold } from './hold-pool.js';

/** 'up' is client -> upstream, 'down' is upstream -> client. */
export type RelayDirection = 'up' | 'down';

/** How a flow ended. */
export type RelayOutcome =
  /** Both sides closed in order (FIN both ways). */
  | 'closed'
  /** The client reset the connection; the upstream was reset too. */
  | 'client-reset'
  /** The upstream reset the connection or failed; the client was reset too. */
  | 'upstream-reset'
  /** Nothing moved for idleTimeoutMs; both sides were reset. */
  | 'idle'
  /** abort() (e.g. a shutdown that ran out of time); both sides were reset. */
  | 'aborted'
  /** The stack closed or dropped the connection; the upstream was reset. */
  | 'destroyed';

/** What a finished flow did. */
export interface RelaySummary {
  id: number;
  client: TcpEndpoint;
  /** The address and port the client dialled. */
  destination: TcpEndpoint;
  /** What the proxy dialled ('host port', after mapping). */
  target: string;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  outcome: RelayOutcome;
  /** The error code behind a reset outcome, when there was one. */
  error?: string;
}

/** Events of a Relay. */
export interface RelayEvents extends Record<string, unknown[]> {
  /** Backpressure engaged (true) or released (false) in one direction. */
  paused: [direction: RelayDirection, paused: boolean];
  /** Exactly once, last: the connection terminated and the socket closed. */
  closed: [summary: RelaySummary];
}

/** Options of a Relay. */
export interface RelayOptions {
  /** Reset both sides after this long without a byte either way (0: never). */
  idleTimeoutMs?: number;
  /** Shown in the summary: what was dialled. */
  target?: string;
}

/**
 * Pipes `connection` and `socket` until both are done. Takes ownership of
 * both: it adds listeners, resumes the socket, marks nothing active (the
 * caller marks the connection active, before or after), and ends both.
 * The socket must have been opened with allowHalfOpen: true.
 */
export class Relay extends Emitter<RelayEvents> {
  readonly id: number;
  readonly client: TcpEndpoint;
  readonly destination: TcpEndpoint;
  readonly target: string;
  readonly #conn: TcpConnection;
  readonly #socket: Socket;
  readonly #started = performance.now();
  readonly #idleMs: number;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastActivity = performance.now();
  #bytesUp = 0;
  #bytesDown = 0;
  /**
   * Client chunks handed to socket.write and not yet written, oldest first:
   * they are transient copies (setTransientReads), given back to the stack
   * as each write completes (write callbacks run in order).
   */
  readonly #inWrite: Uint8Array[] = [];
  #inWriteHead = 0;
  /** Upstream bytes the connection has not taken yet (at most one socket chunk). */
  #pendingDown: Uint8Array | undefined;
  /** The pooled buffer #pendingDown lies in, when it had to outlive a borrowed read. */
  #hold: Uint8Array | undefined;
  #upstreamEnded = false;
  #pausedUp = false;
  #pausedDown = false;
  #connDone = false;
  #socketDone = false;
  /** The socket is corked until the current batch of 'readable' events is over. */
  #corked = false;
  #outcome: RelayOutcome | undefined;
  #error: string | undefined;
  #closed = false;

  constructor(connection: TcpConnection, socket: Socket, options: RelayOptions = {}) {
    super();
    this.#conn = connection;
    this.#socket = socket;
    this.id = connection.id;
    this.client = connection.peer;
    this.destination = connection.local;
    this.target =
      options.target ?? `${socket.remoteAddress ?? '?'} port ${socket.remotePort ?? '?'}`;
    this.#idleMs = options.idleTimeoutMs ?? 0;

    connection.setTransientReads(true);
    connection.on('readable', (data) => this.#up(data));
    connection.on('readEOF', () => this.#clientEnded());
    connection.on('writable', () => this.#flushDown());
    connection.on('becameActive', () => this.#flushDown());
    connection.on('terminated', (reason, error) => {
      this.#connDone = true;
      if (reason !== 'close') {
        const outcome =
          reason === 'reset' ? 'client-reset' : reason === 'abort' ? 'aborted' : 'destroyed';
        this.#setOutcome(outcome, error?.code);
        this.#resetSocket();
      }
      this.#maybeClosed();
    });
    connection.setNoDelay(true);

    const reads = borrowedReads(socket);
    if (reads) {
      // The socket reads into a shared buffer: each chunk is valid during the call only.
      for (const chunk of reads.early.splice(0)) this.#down(chunk, false);
      reads.sink = (chunk) => this.#down(chunk, true);
    } else socket.on('data', (chunk: Buffer) => this.#down(chunk, false));
    socket.on('end', () => {
      this.#upstreamEnded = true;
      this.#flushDown();
    });
    socket.on('drain', () => this.#setPaused('up', false));
    socket.on('error', (error: Error & { code?: string }) => {
      this.#setOutcome('upstream-reset', error.code ?? 'EIO');
      this.#conn.abort();
    });
    socket.on('close', () => {
      this.#socketDone = true;
      // A socket that closed without 'end' (destroyed) leaves the client
      // nothing to wait for: reset it rather than leave it half-open.
      if (!this.#upstreamEnded && this.#conn.alive) {
        this.#setOutcome('upstream-reset', 'ECONNRESET');
        this.#conn.abort();
      }
      this.#maybeClosed();
    });
    if (socket.destroyed) queueMicrotask(() => socket.emit('close', false));
    socket.resume();
    this.#armIdle();
  }

  /** Client -> upstream bytes relayed so far. */
  get bytesUp(): number {
    return this.#bytesUp;
  }
  /** Upstream -> client bytes taken by the connection so far. */
  get bytesDown(): number {
    return this.#bytesDown;
  }
  /** Bytes held by this relay: the socket's unsent buffer plus pending upstream data. */
  get buffered(): number {
    return (this.#socket.writableLength ?? 0) + (this.#pendingDown?.length ?? 0);
  }
  /** True while the client's data waits for the upstream socket to drain. */
  get pausedUp(): boolean {
    return this.#pausedUp;
  }
  /** True while upstream data waits for the connection to become writable. */
  get pausedDown(): boolean {
    return this.#pausedDown;
  }
  /** True once `closed` was emitted. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Orderly end from our side: FIN to both (after what is already taken),
   * then wait for both peers to finish. Data either peer sends after it is
   * discarded. `closed` follows; pair it with a deadline and abort().
   */
  end(): void {
    if (this.#closed) return;
    this.#socket.end();
    this.#dropPending();
    // Both directions flow again, into the bin, so that each peer's FIN gets through.
    this.#setPaused('up', false);
    this.#setPaused('down', false);
    this.#upstreamEnded = true;
    this.#shutdownConn();
  }

  /** Resets both sides now; `closed` follows with the outcome given (default 'aborted'). */
  abort(outcome: RelayOutcome = 'aborted'): void {
    if (this.#closed) return;
    this.#setOutcome(outcome);
    this.#conn.abort();
    this.#resetSocket();
  }

  // ---- the two directions ----

  #up(data: Uint8Array): void {
    const socket = this.#socket;
    if (socket.writableEnded || socket.destroyed) {
      this.#conn.releaseRead(data); // after end(): discarded
      return;
    }
    this.#touch();
    this.#bytesUp += data.length;
    // One TUN batch brings many segments of a flow, each its own 'readable'
    // event, all in one turn: corked until the turn's ticks run, they leave
    // in one writev instead of a syscall each.
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(this.#uncork);
    }
    this.#inWrite.push(data);
    if (!socket.write(data, this.#written)) this.#setPaused('up', true);
  }

  /** A socket write completed (or failed): its chunk goes back to the stack. */
  readonly #written = (): void => {
    const queue = this.#inWrite;
    const chunk = queue[this.#inWriteHead];
    if (chunk === undefined) return;
    queue[this.#inWriteHead++] = undefined as never;
    if (this.#inWriteHead === queue.length || this.#inWriteHead >= 1024) {
      queue.splice(0, this.#inWriteHead);
      this.#inWriteHead = 0;
    }
    this.#conn.releaseRead(chunk);
  };

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  #clientEnded(): void {
    this.#touch();
    if (!this.#socket.destroyed) this.#socket.end();
    // The socket's 'close' also needs the upstream's FIN; nothing else to do here.
  }

  /** `borrowed`: the chunk is only valid during this call. */
  #down(chunk: Uint8Array, borrowed: boolean): void {
    this.#touch();
    if (this.#conn.writeEnded || !this.#conn.alive) return; // after end(): discarded
    if (this.#pendingDown) {
      // Only chunks already in flight inside the stream get here; keep order.
      this.#keepPending(this.#pendingDown, chunk);
      return;
    }
    this.#pendingDown = chunk;
    this.#flushDown();
    // What the connection did not take yet must outlive the borrowed chunk.
    if (borrowed && this.#pendingDown) this.#keepPending(this.#pendingDown);
  }

  /** Copies `a` (then `b`) into a pooled buffer as the new #pendingDown. */
  #keepPending(a: Uint8Array, b?: Uint8Array): void {
    const length = a.length + (b?.length ?? 0);
    const hold = takeHold(length);
    hold.set(a);
    if (b) hold.set(b, a.length);
    if (this.#hold) giveHold(this.#hold);
    this.#hold = hold;
    this.#pendingDown = hold.subarray(0, length);
  }

  #dropPending(): void {
    this.#pendingDown = undefined;
    if (this.#hold) giveHold(this.#hold);
    this.#hold = undefined;
  }

  #flushDown(): void {
    const pending = this.#pendingDown;
    if (pending) {
      if (!this.#conn.alive || this.#conn.writeEnded) {
        this.#dropPending();
      } else {
        const n = this.#conn.write(pending);
        this.#bytesDown += n;
        if (n < pending.length) {
          this.#pendingDown = pending.subarray(n);
          this.#setPaused('down', true);
          return;
        }
        this.#dropPending();
      }
    }
    this.#setPaused('down', false);
    if (this.#upstreamEnded) this.#shutdownConn();
  }

  #shutdownConn(): void {
    const c = this.#conn;
    if (!c.alive || c.writeEnded || this.#pendingDown) return;
    // Not active yet: becameActive calls #flushDown again, which lands here.
    if (!c.active) return;
    if (c.readEnded) c.gracefulClose();
    else c.shutdownWrite();
  }

  #setPaused(direction: RelayDirection, paused: boolean): void {
    if (direction === 'up') {
      if (this.#pausedUp === paused) return;
      this.#pausedUp = paused;
      this.#conn.setRecvEnabled(!paused, { pause: 'closeWindow' });
    } else {
      if (this.#pausedDown === paused) return;
      this.#pausedDown = paused;
      if (paused) this.#socket.pause();
      else if (!this.#socket.destroyed) this.#socket.resume();
    }
    if (!this.#closed) this.emit('paused', direction, paused);
  }

  // ---- endings ----

  #resetSocket(): void {
    const s = this.#socket;
    if (s.destroyed) return;
    // An RST, not a FIN: the upstream must not take a reset for an orderly end.
    if (typeof s.resetAndDestroy === 'function' && s.readyState !== 'opening') s.resetAndDestroy();
    else s.destroy();
  }

  #setOutcome(outcome: RelayOutcome, error?: string): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    this.#error = error;
  }

  #maybeClosed(): void {
    if (this.#closed || !this.#connDone || !this.#socketDone) return;
    this.#closed = true;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#dropPending();
    const summary: RelaySummary = {
      id: this.id,
      client: this.client,
      destination: this.destination,
      target: this.target,
      bytesUp: this.#bytesUp,
      bytesDown: this.#bytesDown,
      durationMs: performance.now() - this.#started,
      outcome: this.#outcome ?? 'closed',
    };
    if (this.#error !== undefined) summary.error = this.#error;
    this.emit('closed', summary);
    this.removeAllListeners();
  }

  // ---- idle timeout ----

  #touch(): void {
    this.#lastActivity = performance.now();
  }

  #armIdle(): void {
    if (this.#idleMs <= 0) return;
    const wait = Math.max(1, this.#lastActivity + this.#idleMs - performance.now());
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#closed) return;
      if (performance.now() - this.#lastActivity >= this.#idleMs) this.abort('idle');
      else this.#armIdle();
    }, wait);
    this.#idleTimer.unref?.();
  }
}
