/**
 * TcpConnection: the connection model of seed 001 over lwIP's raw API.
 *
 * Lifecycle: New (accepted, not yet marked active; or outgoing, handshake in
 * flight) -> Active -> Closing -> Closed. One method, #terminate, ends it:
 * it emits `terminated` exactly once and after it no event of any kind is
 * emitted. Every method is a harmless no-op once the connection is not
 * alive; misuse on a live connection throws a StackError naming the problem.
 *
 * Events are delivered after the stack's WASM work returns, on a microtask,
 * in the order lwIP produced them. The object never holds a pcb pointer,
 * only a handle the C glue checks (wasm/abi.h).
 */
import { Emitter } from '../util/emitter.js';
import { LwErr, LwEvent, LwInfo, TCP_STATE_NAMES, type TcpStateName } from '../wasm/abi.js';
import type { Words } from '../wasm/runtime.js';
import { StackError } from '../stack/errors.js';
import type { HandleOwner, StackHost } from '../stack/host.js';
import { endpointsOf, type TcpEndpoint } from './endpoint.js';
import { reasonOf, terminationError, TerminationReason } from './reason.js';

/** Events of a TcpConnection (use with on/once/off). */
export interface TcpConnectionEvents extends Record<string, unknown[]> {
  /** Once: the handshake completed (outgoing) or markActive() ran (accepted). Writing works from here. */
  becameActive: [];
  /** A chunk of received bytes, already credited to the TCP window; the listener owns it. */
  readable: [data: Uint8Array];
  /** The peer sent FIN after its last byte. Writing still works until you close. */
  readEOF: [];
  /** The not-writable -> writable edge after a short write(). */
  writable: [];
  /** Exactly once, last. `error` is set for resets, refusals, timeouts and failures. */
  terminated: [reason: TerminationReason, error: StackError | undefined];
}

/** Live TCP figures of one connection. */
export interface TcpConnectionInfo {
  state: TcpStateName | 'TERMINATED';
  bytesIn: number;
  bytesOut: number;
  /** Current receive window we advertise. */
  receiveWindow: number;
  /** Peer's advertised window. */
  sendWindow: number;
  congestionWindow: number;
  mss: number;
  /** Free bytes in the send buffer. */
  sendBufferFree: number;
  /** Bytes sent and not acknowledged. */
  unacked: number;
  /** Segments this connection sent again, since it started. */
  retransmissions: number;
  /** Retransmission timeouts in a row for the oldest unacknowledged segment (lwIP's backoff). */
  backoff: number;
  /** TCP_NODELAY is set (Nagle's algorithm off); see setNoDelay. */
  noDelay: boolean;
  /** SO_KEEPALIVE is on; see setKeepAlive. */
  keepAlive: boolean;
  /** Keepalive idle time before the first probe, ms (lwIP's value even while keepalive is off). */
  keepAliveIdleMs: number;
  /** Keepalive interval between probes, ms. */
  keepAliveIntervalMs: number;
  /** Unanswered keepalive probes before the connection fails. */
  keepAliveCount: number;
  /** This connection's receive window size in bytes (the stack's tcp.window unless setBufferSizes changed it). */
  receiveWindowSize: number;
  /** This connection's send buffer size in bytes (the stack's tcp.sendBuffer unless setBufferSizes changed it). */
  sendBufferSize: number;
}

type Phase = 'new' | 'connecting' | 'active' | 'closing' | 'closed';

/** Per stack: its live connections, and the byte totals of all it ever had. */
interface Registry {
  live: Set<TcpConnection>;
  bytesIn: number;
  bytesOut: number;
  opened: number;
}
const registries = new WeakMap<StackHost, Registry>();

/** @internal The connection registry of a stack (Stack.connections, stats, shutdown). */
export function registryOf(host: StackHost): Registry {
  let r = registries.get(host);
  if (!r) {
    r = { live: new Set(), bytesIn: 0, bytesOut: 0, opened: 0 };
    registries.set(host, r);
  }
  return r;
}

const MAX_WRITE_COPY = 8 << 20;
const UNKNOWN: TcpEndpoint = { family: 4, address: '0.0.0.0', port: 0 };

export class TcpConnection extends Emitter<TcpConnectionEvents> implements HandleOwner {
  /** Stable id of this connection within its stack (its first handle). */
  readonly id: number;
  /** 'accepted' (from a listener) or 'outgoing' (from connect()). */
  readonly direction: 'accepted' | 'outgoing';
  readonly #host: StackHost;
  readonly #handle: number;
  #phase: Phase;
  #alive = true;
  #terminatedEmitted = false;
  #recvEnabled = true;
  #writable = false;
  #blocked = false;
  #writeShut = false;
  #readEOF = false;
  /** The last lw_tcp_info words, decoded into endpoints on first use. */
  #endWords: Words | undefined;
  #ends: { local: TcpEndpoint; peer: TcpEndpoint } | undefined;
  #reason: TerminationReason | undefined;
  #error: StackError | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  /**
   * Received chunks (and a FIN, as 'eof') that lwIP had already handed over
   * when delivery was paused from inside a callback of the same batch; they
   * are delivered first when delivery resumes.
   */
  #held: (Uint8Array | 'eof')[] | undefined;
  readonly #registry: Registry;

  /** @internal Created by Stack.connect and by listeners. */
  constructor(host: StackHost, handle: number, direction: 'accepted' | 'outgoing') {
    super();
    this.#host = host;
    this.#handle = handle;
    this.id = handle;
    this.direction = direction;
    this.#phase = direction === 'accepted' ? 'new' : 'connecting';
    this.#refreshEndpoints();
    this.#registry = registryOf(host);
    this.#registry.live.add(this);
    this.#registry.opened++;
    host.register(handle, this);
  }

  // ---- state ----

  /** False once terminated, aborted, or the stack closed. Methods are no-ops then. */
  get alive(): boolean {
    return this.#alive;
  }
  /** True after becameActive and until termination. */
  get active(): boolean {
    return this.#phase === 'active' || this.#phase === 'closing';
  }
  /** Whether a write() now would take bytes (false before active, after a short write, after shutdownWrite). */
  get writable(): boolean {
    return this.#alive && this.#writable && !this.#writeShut && this.#phase === 'active';
  }
  get recvEnabled(): boolean {
    return this.#recvEnabled;
  }
  /** True once readEOF was emitted. */
  get readEnded(): boolean {
    return this.#readEOF;
  }
  /** True after shutdownWrite() or gracefulClose(). */
  get writeEnded(): boolean {
    return this.#writeShut;
  }
  /** Our end. For accepted connections in transparent setups, the address the peer dialled. */
  get local(): TcpEndpoint {
    return this.#endpoints().local;
  }
  get peer(): TcpEndpoint {
    return this.#endpoints().peer;
  }
  /** Set when terminated. */
  get terminationReason(): TerminationReason | undefined {
    return this.#reason;
  }
  /** The error of the termination, if it had one. */
  get error(): StackError | undefined {
    return this.#error;
  }

  // ---- methods ----

  /**
   * Accept != established: the application is ready for this accepted
   * connection. Releases its listen-backlog slot, starts data delivery and
   * emits becameActive once. Throws ERR_ALREADY_ACTIVE if called twice and
   * ERR_NOT_ACCEPTED on an outgoing connection.
   */
  markActive(): void {
    if (!this.#alive) return;
    if (this.direction !== 'accepted')
      throw StackError.invalidState(
        'ERR_NOT_ACCEPTED',
        'markActive',
        'only accepted connections are marked active',
        this.id,
      );
    if (this.#phase !== 'new')
      throw StackError.invalidState(
        'ERR_ALREADY_ACTIVE',
        'markActive',
        'the connection is already active',
        this.id,
      );
    const rc = this.#call('markActive', (x) => x.lw_tcp_mark_active(this.#handle));
    if (rc === 0) this.#phase = 'active';
  }

  /**
   * Pauses (false) or resumes (true) delivery of received data.
   *
   * The default pause, `'refuse'` (seed 001), refuses delivery: lwIP keeps
   * the segment it has as refused data and drops later ones unacknowledged,
   * so the sender's buffer fills and it waits on its retransmission timer
   * (a very long pause can make a peer give up). `'closeWindow'` holds what
   * arrives uncredited instead: the advertised window closes, the sender
   * probes it and never times out, and nothing is dropped (memory: up to one
   * receive window). Resuming redelivers at once and tells the sender.
   * A pause takes effect at once, even inside a `readable` listener: chunks
   * lwIP had already handed over in the same batch are held and delivered
   * first, in order, on resume (and before the end of an orderly close).
   */
  setRecvEnabled(enabled: boolean, options: { pause?: 'refuse' | 'closeWindow' } = {}): void {
    if (typeof enabled !== 'boolean')
      throw StackError.invalidArgument('setRecvEnabled', 'enabled', 'must be a boolean');
    const pause = options.pause ?? 'refuse';
    if (pause !== 'refuse' && pause !== 'closeWindow')
      throw StackError.invalidArgument(
        'setRecvEnabled',
        'options.pause',
        "must be 'refuse' or 'closeWindow'",
      );
    if (!this.#alive || enabled === this.#recvEnabled) return;
    this.#recvEnabled = enabled;
    if (enabled && this.#held) queueMicrotask(() => this.#releaseHeld());
    const mode = enabled ? 1 : pause === 'closeWindow' ? 2 : 0;
    this.#call('setRecvEnabled', (x) => x.lw_tcp_set_recv_enabled(this.#handle, mode));
  }

  /**
   * Copies bytes into the send buffer and returns how many were taken
   * (possibly 0). When fewer than given were taken, `writable` is false and
   * a `writable` event follows once there is room. Before becameActive it
   * returns 0. Throws ERR_WRITE_AFTER_END after shutdownWrite()/gracefulClose().
   */
  write(data: Uint8Array): number {
    if (!(data instanceof Uint8Array))
      throw StackError.invalidArgument('write', 'data', 'must be a Uint8Array');
    if (!this.#alive) return 0;
    if (this.#writeShut || this.#phase === 'closing')
      throw StackError.invalidState(
        'ERR_WRITE_AFTER_END',
        'write',
        'the write side is already shut down',
        this.id,
      );
    if (this.#phase !== 'active') {
      this.#blocked = true;
      return 0;
    }
    if (data.length === 0) return 0;
    const len = Math.min(data.length, MAX_WRITE_COPY);
    const n = this.#call('write', (x, rt) => {
      const ptr = rt.copyIn(len === data.length ? data : data.subarray(0, len));
      return x.lw_tcp_write(this.#handle, ptr, len);
    });
    if (n < 0) {
      if (n === LwErr.STALE) return 0;
      this.#writable = false;
      this.#blocked = true;
      return 0;
    }
    this.#bytesOut += n;
    this.#registry.bytesOut += n;
    if (n < len) {
      this.#writable = false;
      this.#blocked = true;
    }
    return n;
  }

  /** Sends FIN (half-close); reading goes on. Calling it again does nothing. */
  shutdownWrite(): void {
    if (!this.#alive || this.#writeShut) return;
    if (this.#phase !== 'active')
      throw StackError.invalidState(
        'ERR_NOT_ACTIVE',
        'shutdownWrite',
        'the connection is not active yet',
        this.id,
      );
    const rc = this.#call('shutdownWrite', (x) => x.lw_tcp_shutdown_write(this.#handle));
    if (rc === 0) this.#writeShut = true;
  }

  /**
   * Orderly close (FIN both ways). No more data is delivered; `terminated`
   * with Close follows when the exchange finishes. If lwIP is short of
   * memory the close is retried from its poll timer.
   */
  gracefulClose(): void {
    if (!this.#alive || this.#phase === 'closing') return;
    this.#phase = 'closing';
    this.#writeShut = true;
    this.#held = undefined;
    this.#call('gracefulClose', (x) => x.lw_tcp_close(this.#handle));
  }

  /** Sends RST and ends the connection now; `terminated` with Abort follows. */
  abort(): void {
    if (!this.#alive) return;
    this.#call('abort', (x) => x.lw_tcp_abort(this.#handle));
    this.#alive = false;
  }

  /**
   * Sets this connection's receive window and/or send buffer in bytes
   * (1 KiB..8 MiB and 2 KiB..8 MiB; values are clamped). A larger window is
   * announced at once; shrinking takes back only credit not yet announced.
   */
  setBufferSizes(sizes: { receiveWindow?: number; sendBuffer?: number }): void {
    const check = (v: number | undefined, field: string) => {
      if (v !== undefined && (!Number.isInteger(v) || v <= 0))
        throw StackError.invalidArgument('setBufferSizes', field, 'must be a positive integer');
      return v ?? 0;
    };
    const wnd = check(sizes.receiveWindow, 'receiveWindow');
    const snd = check(sizes.sendBuffer, 'sendBuffer');
    if (!this.#alive) return;
    this.#call('setBufferSizes', (x) => x.lw_tcp_set_buffers(this.#handle, wnd, snd));
  }

  /**
   * For relays and other consumers that are done with each chunk soon
   * after it arrives: from now on, `readable` chunks are pooled copies that
   * the stack reuses once given back with releaseRead(chunk), so a bulk
   * transfer recycles a few slabs instead of leaving one fresh buffer per
   * segment to the garbage collector. A chunk must not be read after it is
   * given back; one never given back is simply collected. Off by default:
   * chunks are then the caller's to keep.
   */
  setTransientReads(enabled = true): void {
    if (typeof enabled !== 'boolean')
      throw StackError.invalidArgument('setTransientReads', 'enabled', 'must be a boolean');
    if (!this.#alive) return;
    this.#host.setTransientReads(this.#handle, enabled);
  }

  /**
   * Gives back a `readable` chunk received after setTransientReads(true),
   * once nothing reads it any more. Chunks that are not transient copies
   * are ignored. Give each chunk back once: a second release can let the
   * stack reuse memory that a later chunk still occupies.
   */
  releaseRead(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array))
      throw StackError.invalidArgument('releaseRead', 'chunk', 'must be a Uint8Array');
    this.#host.releaseRead(chunk);
  }

  /** Sets TCP_NODELAY (true disables Nagle's algorithm). */
  setNoDelay(on = true): void {
    if (!this.#alive) return;
    this.#call('setNoDelay', (x) => x.lw_tcp_set_nodelay(this.#handle, on ? 1 : 0));
  }

  /** Turns keepalive on (idle/interval in ms, count probes) or off. */
  setKeepAlive(on: boolean, idleMs = 0, intervalMs = 0, count = 0): void {
    if (!this.#alive) return;
    this.#call('setKeepAlive', (x) =>
      x.lw_tcp_set_keepalive(this.#handle, on ? 1 : 0, idleMs >>> 0, intervalMs >>> 0, count >>> 0),
    );
  }

  /** Live TCP figures (state 'TERMINATED' once it ended). */
  info(): TcpConnectionInfo {
    const w = this.#alive ? this.#readInfo() : undefined;
    const at = (i: number) => w?.[i] ?? 0;
    return {
      state: w ? (TCP_STATE_NAMES[at(LwInfo.STATE)] ?? 'CLOSED') : 'TERMINATED',
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      receiveWindow: at(LwInfo.RCV_WND),
      sendWindow: at(LwInfo.SND_WND),
      congestionWindow: at(LwInfo.CWND),
      mss: at(LwInfo.MSS),
      sendBufferFree: at(LwInfo.SNDBUF),
      unacked: at(LwInfo.UNACKED),
      retransmissions: at(LwInfo.RETRANSMITS),
      backoff: at(LwInfo.NRTX),
      noDelay: (at(LwInfo.OPTIONS) & 1) !== 0,
      keepAlive: (at(LwInfo.OPTIONS) & 2) !== 0,
      keepAliveIdleMs: at(LwInfo.KEEP_IDLE),
      keepAliveIntervalMs: at(LwInfo.KEEP_INTVL),
      keepAliveCount: at(LwInfo.KEEP_CNT),
      receiveWindowSize: at(LwInfo.WND_MAX),
      sendBufferSize: at(LwInfo.SNDBUF_MAX),
    };
  }

  // ---- HandleOwner: events from the stack ----

  /** @internal */
  handleEvent(kind: number, a: number, b: number): void {
    if (this.#terminatedEmitted) return;
    if (kind === LwEvent.TERMINATED) {
      // An orderly end loses nothing: what was held is delivered first.
      if (reasonOf(a) === TerminationReason.Close && this.#phase !== 'closing')
        this.#releaseHeld(true);
      this.#terminate(reasonOf(a), terminationError(b, this.#operation(), this.id));
      return;
    }
    if (!this.#alive) return;
    switch (kind) {
      case LwEvent.ACTIVE: {
        this.#phase = this.#phase === 'closing' ? 'closing' : 'active';
        this.#writable = true;
        this.emit('becameActive');
        if (this.#blocked && this.#alive && !this.#terminatedEmitted) {
          this.#blocked = false;
          this.emit('writable');
        }
        break;
      }
      case LwEvent.FIN:
        // A FIN queued in the same batch as a pause (or behind held chunks)
        // waits for the resume like the data before it.
        if (this.#held || !this.#recvEnabled) {
          (this.#held ??= []).push('eof');
          return;
        }
        if (this.#readEOF) return;
        this.#readEOF = true;
        this.emit('readEOF');
        break;
      case LwEvent.WRITABLE:
        if (this.#writable && !this.#blocked) return;
        this.#writable = true;
        this.#blocked = false;
        if (!this.#writeShut) this.emit('writable');
        break;
    }
  }

  /** @internal */
  handleData(bytes: Uint8Array): void {
    if (this.#terminatedEmitted || !this.#alive || this.#phase === 'closing') return;
    if (this.#held || !this.#recvEnabled) {
      (this.#held ??= []).push(bytes);
      return;
    }
    this.#emitData(bytes);
  }

  // ---- internals ----

  #emitData(bytes: Uint8Array): void {
    this.#bytesIn += bytes.length;
    this.#registry.bytesIn += bytes.length;
    this.emit('readable', bytes);
  }

  /** Delivers held chunks in order while delivery stays enabled (`force`: at an orderly end). */
  #releaseHeld(force = false): void {
    while (this.#held && this.#alive && (force || this.#recvEnabled)) {
      const item = this.#held.shift()!;
      if (this.#held.length === 0) this.#held = undefined;
      if (item !== 'eof') this.#emitData(item);
      else if (!this.#readEOF) {
        this.#readEOF = true;
        this.emit('readEOF');
      }
    }
  }

  #terminate(reason: TerminationReason, error: StackError | undefined): void {
    this.#terminatedEmitted = true;
    this.#alive = false;
    this.#phase = 'closed';
    this.#writable = false;
    this.#reason = reason;
    this.#error = error;
    this.#host.unregister(this.#handle);
    this.#registry.live.delete(this);
    this.emit('terminated', reason, error);
    this.removeAllListeners();
  }

  #operation(): string {
    return this.direction === 'outgoing' && !this.active ? 'connect' : 'connection';
  }

  #call<T extends number>(operation: string, fn: Parameters<StackHost['call']>[1]): T {
    if (!this.#host.isOpen) return LwErr.STALE as T;
    return this.#host.call(operation, fn) as T;
  }

  #readInfo(): Words | undefined {
    if (!this.#host.isOpen) return undefined;
    return this.#host.query('info', (x, rt) =>
      rt.readWords(LwInfo.WORDS, (p) => x.lw_tcp_info(this.#handle, p)),
    );
  }

  #refreshEndpoints(): void {
    const info = this.#readInfo();
    if (!info) return;
    this.#endWords = info;
    this.#ends = undefined;
  }

  #endpoints(): { local: TcpEndpoint; peer: TcpEndpoint } {
    this.#ends ??= this.#endWords ? endpointsOf(this.#endWords) : { local: UNKNOWN, peer: UNKNOWN };
    return this.#ends;
  }
}
