/**
 * The connection watcher (seed 000, section 4.6): drives one established
 * connection taken from a TcpStream. Reading is pushed to onRecv within a
 * per-turn byte budget; writing is the trySend model (no write queue in
 * the watcher: the caller keeps what was not taken and waits for
 * onSendReady).
 *
 * Backpressure on the read side is lwIP's own: before start() the bytes
 * wait in lwIP (or, for outgoing connections, up to 64 KiB in the stream)
 * and the advertised window closes. Bytes the read budget
 * holds back for later turns wait in the watcher, up to four turns' worth;
 * beyond that delivery from lwIP is turned off until the watcher catches up.
 */
import type { Stack } from '../tcp/stack.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TerminationReason } from '../tcp/reason.js';
import { Errno, StackError } from '../stack/errors.js';
import { applySocketOptions, OptionReader, type TcpConnectionOption } from './options.js';
import { recordOf } from './registry.js';
import { DISPOSE, takeStream, type TcpStream, type Termination } from './stream.js';
import { ClockTimer, invoke, onNextTurn, TurnBudget } from './turn.js';
import type { OnWatchError } from './accept-watcher.js';

/** Received bytes, in order; the callee owns the chunk. */
export type OnRecv = (chunk: Uint8Array) => void;
/** The peer finished sending (see TcpConnectionWatcher for exactly when). */
export type OnClose = () => void;
/** The not-writable -> writable edge after trySend reported wouldBlock. */
export type OnSendReady = () => void;

/** Outcome of trySend. */
export interface TrySendResult {
  /** Bytes taken from the front of the given data (0..length). Resend from data[n]. */
  n: number;
  /** True when not everything was taken: wait for onSendReady before trying again. */
  wouldBlock: boolean;
  /** 0, or an errno: EPIPE after shutdownWrite(), EBADF after close(), the connection's error (ECONNRESET, ...) after it failed. */
  err: number;
}

const OP = 'createTcpConnectionWatcher';
const DEFAULT_BUDGET = 256 * 1024;
/**
 * Bytes the read budget holds back stay in JavaScript up to this many
 * turns' worth (at least MIN_HOLD); only beyond that is lwIP delivery
 * turned off. Turning it off is a last resort: lwIP then keeps one refused
 * segment and drops the following ones, which costs retransmissions.
 */
const HOLD_TURNS = 4;
const MIN_HOLD = 64 * 1024;

/**
 * Drives an established connection. Created with
 * createTcpConnectionWatcher, which takes ownership of the stream's
 * connection; callbacks flow from start().
 *
 * The end-of-stream rule. The peer's FIN reaches the user as onClose, and
 * only after every byte sent before it went through onRecv (including
 * bytes the read budget held back for later turns). onClose means "the
 * peer will send nothing more"; it does not end the connection: trySend
 * and shutdownWrite keep working until the application calls close(). An
 * orderly termination counts as the peer's FIN if none was seen. After
 * onClose only onSendReady and onError can follow.
 *
 * Errors. onError(errno) reports that the connection failed: ECONNRESET
 * (peer reset), ETIMEDOUT (retransmissions or keepalive ran out),
 * ECONNABORTED (aborted by lwIP, by shutdownStack(), or the stack closed).
 * It is the last callback; bytes the read budget still held are dropped,
 * as a socket drops its receive queue on a reset. onClose and onError each
 * fire at most once.
 *
 * Silence. No callback runs after close() or stop(), nor before start().
 * Callbacks run on the stack's event delivery or on a later event-loop
 * turn, never inside trySend/shutdownWrite/close/start.
 */
export class TcpConnectionWatcher implements Disposable {
  /** The connection's id within its stack. */
  readonly id: number;
  readonly #stack: Stack;
  readonly #conn: TcpConnection;
  readonly #onRecv: OnRecv;
  readonly #onClose: OnClose | undefined;
  readonly #onError: OnWatchError | undefined;
  readonly #onSendReady: OnSendReady | undefined;
  readonly #linger: number | undefined;
  readonly #readBudget: TurnBudget;
  readonly #writeBudget: TurnBudget;
  readonly #lingerTimer: ClockTimer;
  #state: 'created' | 'running' | 'closed' = 'created';
  /** Bytes lwIP delivered that onRecv has not had yet. */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  /** Above this many held bytes, lwIP delivery is turned off. */
  readonly #holdLimit: number;
  /** The peer's end of stream is known but onClose is not delivered yet. */
  #eofPending = false;
  #closeDelivered = false;
  /** The connection ended; `error` set when it failed. */
  #ended: Termination | undefined;
  #errorDelivered = false;
  #sendBlocked = false;
  #writeShut = false;

  /** @internal Use createTcpConnectionWatcher. */
  constructor(
    stack: Stack,
    option: TcpConnectionOption,
    stream: TcpStream,
    onRecv: OnRecv,
    onClose?: OnClose,
    onError?: OnWatchError,
    onSendReady?: OnSendReady,
  ) {
    const fn = (name: string, f: unknown, required: boolean) => {
      if ((required || f !== undefined) && typeof f !== 'function')
        throw StackError.invalidArgument(OP, name, 'must be a function');
    };
    fn('onRecv', onRecv, true);
    fn('onClose', onClose, false);
    fn('onError', onError, false);
    fn('onSendReady', onSendReady, false);
    const r = OptionReader.of(option, OP, false);
    const socket = r.socketOptions();
    this.#linger = r.int('lingerSec', 0, 0x7fffffff);
    const readMax = r.int('maxReadBytesPerTick', 1, 0x7fffffff) ?? DEFAULT_BUDGET;
    const writeMax = r.int('maxWriteBytesPerTick', 1, 0x7fffffff) ?? DEFAULT_BUDGET;
    const { conn, held, eof, termination } = takeStream(stream, stack, OP);
    this.id = conn.id;
    this.#held = held;
    this.#heldBytes = held.reduce((n, c) => n + c.length, 0);
    this.#eofPending = eof;
    this.#stack = stack;
    this.#conn = conn;
    this.#onRecv = onRecv;
    this.#onClose = onClose;
    this.#onError = onError;
    this.#onSendReady = onSendReady;
    this.#readBudget = new TurnBudget(stack.clock, readMax, () => this.#pump());
    this.#holdLimit = Math.max(HOLD_TURNS * readMax, MIN_HOLD);
    this.#writeBudget = new TurnBudget(stack.clock, writeMax, () => this.#maybeSendReady());
    this.#lingerTimer = new ClockTimer(stack.clock);
    recordOf(stack).counters.optionsSkipped += applySocketOptions(conn, socket).length;
    if (termination) this.#ended = termination;
    else {
      conn.on('readable', this.#onReadable);
      conn.on('readEOF', this.#onReadEOF);
      conn.on('writable', this.#onWritable);
      conn.on('terminated', this.#onTerminated);
    }
  }

  /** Starts delivery: received bytes flow to onRecv, and the other callbacks may follow. Calling it again does nothing; after close()/stop() it throws ERR_WATCHER_STOPPED. */
  start(): void {
    if (this.#state === 'running') return;
    if (this.#state === 'closed')
      throw StackError.invalidState(
        'ERR_WATCHER_STOPPED',
        'TcpConnectionWatcher.start',
        'closed',
        this.id,
      );
    this.#state = 'running';
    const conn = this.#conn;
    if (conn.direction === 'accepted' && conn.alive && !conn.active && !this.#ended) {
      // Accept != established: lwIP delivers the bytes it held from here on.
      conn.markActive();
      if (this.#writeShut && conn.active) conn.shutdownWrite();
    }
    // Whatever is already known (an end while the stream held the
    // connection, a send-ready edge) is delivered on a later turn, not
    // inside start().
    onNextTurn(this.#stack.clock, () => {
      this.#pump();
      this.#maybeSendReady();
    });
  }

  /**
   * Offers bytes to the connection without blocking. Takes up to the
   * room in lwIP's send buffer and what is left of this turn's write
   * budget; exactly `n` bytes (the first n) were taken and will be sent in
   * order. When wouldBlock is true, onSendReady fires once when there is
   * room again. Throws ERR_INVALID_ARGUMENT if `data` is not a Uint8Array;
   * every other problem is an errno in `err`.
   */
  trySend(data: Uint8Array): TrySendResult {
    if (!(data instanceof Uint8Array))
      throw StackError.invalidArgument(
        'TcpConnectionWatcher.trySend',
        'data',
        'must be a Uint8Array',
      );
    const err = this.#sendError();
    if (err) return { n: 0, wouldBlock: false, err };
    if (data.length === 0) return { n: 0, wouldBlock: false, err: 0 };
    const allowed = Math.min(data.length, this.#writeBudget.remaining);
    let n = 0;
    if (allowed > 0) {
      try {
        n = this.#conn.write(allowed === data.length ? data : data.subarray(0, allowed));
      } catch (error) {
        if (error instanceof StackError) return { n: 0, wouldBlock: false, err: Errno.EPIPE };
        throw error;
      }
      this.#writeBudget.take(n);
    }
    if (n === data.length) return { n, wouldBlock: false, err: 0 };
    this.#sendBlocked = true;
    if (this.#writeBudget.remaining === 0) this.#writeBudget.renewSoon();
    return { n, wouldBlock: true, err: 0 };
  }

  /** Sends FIN (half-close); reading goes on and onClose still follows the peer's FIN. trySend then gives EPIPE. Idempotent. */
  shutdownWrite(): void {
    if (this.#state === 'closed' || this.#writeShut) return;
    this.#writeShut = true;
    this.#sendBlocked = false;
    // An accepted connection is marked active by start(), which sends the FIN then.
    if (this.#conn.alive && this.#conn.active && !this.#ended) this.#conn.shutdownWrite();
  }

  /**
   * Closes the connection and silences the watcher: no callback after
   * this call returns. Orderly (FIN) by default; with lingerSec 0 it
   * aborts (RST); with lingerSec n > 0 an orderly close that has not
   * finished after n seconds is aborted. Bytes not yet delivered to
   * onRecv are dropped. Idempotent.
   */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#held = [];
    this.#heldBytes = 0;
    this.#readBudget.dispose();
    this.#writeBudget.dispose();
    const conn = this.#conn;
    conn.off('readable', this.#onReadable);
    conn.off('readEOF', this.#onReadEOF);
    conn.off('writable', this.#onWritable);
    conn.off('terminated', this.#onTerminated);
    if (!conn.alive || this.#ended) return;
    if (this.#linger === 0) {
      conn.abort();
      return;
    }
    conn.gracefulClose();
    if (this.#linger !== undefined && conn.alive) {
      const onEnd = () => this.#lingerTimer.cancel();
      conn.once('terminated', onEnd);
      this.#lingerTimer.start(this.#linger * 1000, () => {
        conn.off('terminated', onEnd);
        conn.abort();
      });
    }
  }

  /** Same as close() (the seed's stop() releases the connection). */
  stop(): void {
    this.close();
  }

  /** Same as close(), for `using`. */
  [DISPOSE](): void {
    this.close();
  }

  // ---- events from the connection ----

  readonly #onReadable = (chunk: Uint8Array): void => {
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    this.#pump();
  };

  readonly #onReadEOF = (): void => {
    this.#eofPending = true;
    this.#pump();
  };

  readonly #onWritable = (): void => {
    this.#maybeSendReady();
  };

  readonly #onTerminated = (reason: TerminationReason, error: StackError | undefined): void => {
    this.#ended = { reason, error };
    this.#pump();
  };

  // ---- delivery ----

  /** Delivers held bytes within the budget, then the end of stream or the error. */
  #pump(): void {
    if (this.#state !== 'running') {
      if (this.#state === 'created' && this.#heldBytes > this.#holdLimit)
        this.#conn.setRecvEnabled(false);
      return;
    }
    const ended = this.#ended;
    if (ended && this.#failed(ended)) {
      this.#held = [];
      this.#heldBytes = 0;
      if (this.#errorDelivered) return;
      this.#errorDelivered = true;
      invoke(this.#onError, ended.error?.errno || Errno.ECONNABORTED);
      return;
    }
    while (this.#held.length > 0 && this.#readBudget.remaining > 0) {
      const chunk = this.#held[0]!;
      const n = Math.min(chunk.length, this.#readBudget.remaining);
      if (n === chunk.length) this.#held.shift();
      else this.#held[0] = chunk.subarray(n);
      this.#heldBytes -= n;
      this.#readBudget.take(n);
      invoke(this.#onRecv, n === chunk.length ? chunk : chunk.subarray(0, n));
      if (this.#state !== 'running') return;
    }
    // Bytes left over wait for the budget's next turn (it is scheduled).
    if (this.#held.length > 0) {
      this.#conn.setRecvEnabled(this.#heldBytes <= this.#holdLimit);
      return;
    }
    if (ended) this.#eofPending = true;
    if (this.#eofPending) {
      if (this.#closeDelivered) return;
      this.#closeDelivered = true;
      invoke(this.#onClose);
      return;
    }
    this.#conn.setRecvEnabled(true);
  }

  /** An end counts as a failure unless it was orderly. */
  #failed(ended: Termination): boolean {
    return ended.error !== undefined || ended.reason !== 'close';
  }

  #maybeSendReady(): void {
    if (this.#state !== 'running' || !this.#sendBlocked) return;
    if (this.#sendError() || this.#writeShut) {
      this.#sendBlocked = false;
      return;
    }
    if (!this.#conn.writable || this.#writeBudget.remaining === 0) return;
    this.#sendBlocked = false;
    invoke(this.#onSendReady);
  }

  #sendError(): number {
    if (this.#state === 'closed') return Errno.EBADF;
    if (this.#writeShut) return Errno.EPIPE;
    if (this.#ended) return this.#ended.error?.errno || Errno.EPIPE;
    if (!this.#conn.alive) return Errno.EPIPE;
    return 0;
  }
}

/**
 * Takes ownership of `stream`'s connection and returns a watcher that
 * drives it from start() (see TcpConnectionWatcher for the callback
 * rules). The stream is empty afterwards. Throws StackError
 * ERR_STREAM_CONSUMED if the stream was closed or already taken, and
 * ERR_INVALID_ARGUMENT (kind 'configuration') naming the field for bad
 * options or callbacks. Socket options are applied here, best-effort.
 */
export function createTcpConnectionWatcher(
  stack: Stack,
  option: TcpConnectionOption,
  stream: TcpStream,
  onRecv: OnRecv,
  onClose?: OnClose,
  onError?: OnWatchError,
  onSendReady?: OnSendReady,
): TcpConnectionWatcher {
  return new TcpConnectionWatcher(stack, option, stream, onRecv, onClose, onError, onSendReady);
}
