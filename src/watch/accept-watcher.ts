/**
 * The accept watcher (seed 000, section 4.4): owns a listener, takes the
 * connections lwIP completes into a bounded queue, and hands them to
 * onAccept as TcpStreams, at most maxAcceptPerTick per event-loop turn.
 *
 * Queued connections are "accepted but not yet taken" (the kernel's accept
 * queue): established, holding whatever the peer sends without reading it.
 * A connection leaves the queue when it is handed to onAccept and its
 * stream owns it; it is marked active (TcpConnection.markActive) only when
 * a connection watcher starts it. Until then it keeps its slot in lwIP's
 * listen backlog, so `backlog` bounds the handshakes completed and not yet
 * started, queued or handed out.
 */
import type { Stack } from '../tcp/stack.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpListener } from '../tcp/listener.js';
import { Errno, StackError } from '../stack/errors.js';
import { checkEndpoint, fromTcpEndpoint, isUnspecified, toAddressText } from './endpoint.js';
import type { IpEndpoint } from './endpoint.js';
import {
  applySocketOptions,
  OptionReader,
  OverflowPolicy,
  type SocketOptions,
  type TcpAcceptOption,
} from './options.js';
import { recordOf, type StackRecord } from './registry.js';
import { DISPOSE, TcpStream } from './stream.js';
import { invoke, onNextTurn, TurnBudget } from './turn.js';

/** Receives each accepted connection; the callee owns the stream. */
export type OnAccept = (stream: TcpStream) => void;
/** An errno number (see errorToString). */
export type OnWatchError = (err: number) => void;

const OP = 'createTcpAcceptWatcher';

/**
 * A listening socket with scheduled accepts. Create it with
 * createTcpAcceptWatcher; it listens from creation (connections queue up)
 * and delivers from start().
 *
 * Callbacks: onAccept(stream) per connection, in arrival order;
 * onError(ENOBUFS) with OverflowPolicy.CloseAndReport, once per overflow
 * episode. Both only between start() and stop(); none after stop().
 */
export class TcpAcceptWatcher implements Disposable {
  /** Where it listens (the chosen port when localBind.port was 0). */
  readonly local: IpEndpoint;
  readonly #stack: Stack;
  readonly #record: StackRecord;
  readonly #listener: TcpListener;
  readonly #onAccept: OnAccept;
  readonly #onError: OnWatchError | undefined;
  readonly #socket: SocketOptions;
  readonly #fill: boolean;
  readonly #capacity: number;
  readonly #overflow: OverflowPolicy;
  readonly #budget: TurnBudget;
  #queue: TcpConnection[] = [];
  #state: 'created' | 'running' | 'stopped' = 'created';
  #overflowing = false;
  #reportOwed = false;

  /** @internal Use createTcpAcceptWatcher. */
  constructor(stack: Stack, option: TcpAcceptOption, onAccept: OnAccept, onError?: OnWatchError) {
    if (typeof onAccept !== 'function')
      throw StackError.invalidArgument(OP, 'onAccept', 'must be a function');
    if (onError !== undefined && typeof onError !== 'function')
      throw StackError.invalidArgument(OP, 'onError', 'must be a function');
    const r = OptionReader.of(option, OP, true);
    const bind = checkEndpoint(r.source.localBind, OP, r.field('localBind'));
    const perTick = r.int('maxAcceptPerTick', 1, 0x7fffffff) ?? 64;
    this.#fill = r.bool('fillEndpoints') ?? true;
    this.#capacity = r.int('acceptedQueueCapacity', 1, 0x7fffffff) ?? 1024;
    this.#overflow = r.oneOf('overflow', Object.values(OverflowPolicy)) ?? OverflowPolicy.CloseNew;
    const backlog = r.int('backlog', 1, 255) ?? 255;
    this.#socket = r.socketOptions();
    this.#stack = stack;
    this.#record = recordOf(stack);
    this.#onAccept = onAccept;
    this.#onError = onError;
    this.#budget = new TurnBudget(stack.clock, perTick, () => this.#drain());
    this.#listener = stack.listen(
      {
        address: isUnspecified(bind) ? undefined : toAddressText(bind),
        port: bind.port,
        backlog,
      },
      (conn) => this.#arrived(conn),
    );
    const shown = fromTcpEndpoint(this.#listener.local);
    this.local =
      shown && (!isUnspecified(bind) || shown.family === bind.family)
        ? shown
        : { ...bind, port: this.#listener.local.port };
    this.#record.stoppables.add(this);
  }

  /** Connections waiting in the accepted queue. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Starts handing queued and new connections to onAccept. Calling it again does nothing; after stop() it throws ERR_WATCHER_STOPPED. */
  start(): void {
    if (this.#state === 'running') return;
    if (this.#state === 'stopped')
      throw StackError.invalidState('ERR_WATCHER_STOPPED', 'TcpAcceptWatcher.start', 'stopped');
    this.#state = 'running';
    if (this.#reportOwed) {
      this.#reportOwed = false;
      onNextTurn(this.#stack.clock, () => {
        if (this.#state === 'running') invoke(this.#onError, Errno.ENOBUFS);
      });
    }
    this.#drain();
  }

  /**
   * Closes the listener and aborts the connections still queued (their
   * peers see a reset, as when a listening socket closes). No callback
   * follows. Streams already handed out are not affected. Idempotent.
   */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#budget.dispose();
    this.#record.stoppables.delete(this);
    this.#listener.close();
    const queue = this.#queue;
    this.#queue = [];
    for (const conn of queue) conn.abort();
  }

  /** Same as stop(). */
  close(): void {
    this.stop();
  }

  /** Same as stop(), for `using`. */
  [DISPOSE](): void {
    this.stop();
  }

  #arrived(conn: TcpConnection): void {
    this.#record.track(conn);
    if (this.#state === 'stopped') {
      conn.abort();
      return;
    }
    this.#record.counters.optionsSkipped += applySocketOptions(conn, this.#socket).length;
    if (this.#queue.length >= this.#capacity) this.#queue = this.#queue.filter((c) => c.alive);
    if (this.#queue.length >= this.#capacity) {
      this.#turnAway(conn);
      return;
    }
    this.#queue.push(conn);
    if (this.#state === 'running') this.#drain();
  }

  #turnAway(conn: TcpConnection): void {
    this.#record.counters.acceptOverflows++;
    const first = !this.#overflowing;
    this.#overflowing = true;
    if (this.#overflow === OverflowPolicy.DropSilent) {
      conn.abort();
      return;
    }
    conn.gracefulClose();
    if (this.#overflow !== OverflowPolicy.CloseAndReport || !first) return;
    if (this.#state === 'running') invoke(this.#onError, Errno.ENOBUFS);
    else this.#reportOwed = true;
  }

  #drain(): void {
    while (this.#state === 'running' && this.#queue.length > 0 && this.#budget.remaining > 0) {
      const conn = this.#queue.shift()!;
      if (!conn.alive) continue;
      this.#budget.take(1);
      invoke(this.#onAccept, new TcpStream(this.#stack, conn, this.#fill));
    }
    if (this.#queue.length < this.#capacity) this.#overflowing = false;
  }
}

/**
 * Listens on option.localBind and returns a watcher that hands accepted
 * connections to `onAccept` once started. Listening starts here, so a taken
 * port fails at once: throws StackError EADDRINUSE (errno 98). Bad options
 * throw StackError ERR_INVALID_ARGUMENT (kind 'configuration') naming the
 * field. The watcher owns the listener; stop() closes it.
 */
export function createTcpAcceptWatcher(
  stack: Stack,
  option: TcpAcceptOption,
  onAccept: OnAccept,
  onError?: OnWatchError,
): TcpAcceptWatcher {
  return new TcpAcceptWatcher(stack, option, onAccept, onError);
}
