/**
 * The connect watcher (seed 000, section 4.5): one non-blocking connection
 * attempt to an already resolved endpoint. On success the established
 * connection is handed to onConnected as a TcpStream (ownership moves to
 * the stream); on failure onError gets the errno. Timeouts and retries are
 * the caller's (TcpClient in client.ts): a timer plus cancel().
 */
import type { Stack } from '../tcp/stack.js';
import type { TcpConnection } from '../tcp/connection.js';
import { Errno, StackError } from '../stack/errors.js';
import { checkEndpoint, toAddressText, type IpEndpoint } from './endpoint.js';
import {
  applySocketOptions,
  OptionReader,
  type SocketOptions,
  type TcpConnectOption,
} from './options.js';
import { recordOf, type StackRecord } from './registry.js';
import { DISPOSE, TcpStream } from './stream.js';
import { invoke, onNextTurn } from './turn.js';
import type { OnWatchError } from './accept-watcher.js';

/** Receives the established connection; the callee owns the stream. */
export type OnConnected = (stream: TcpStream) => void;

const OP = 'createTcpConnectWatcher';

/** @internal A TcpConnectOption after validation. */
export interface ConnectSettings {
  localBind: IpEndpoint | undefined;
  localPort: number;
  fillEndpoints: boolean;
  socket: SocketOptions;
  signal: AbortSignal | undefined;
}

/**
 * @internal Validates a TcpConnectOption; errors name `prefix`.field
 * (TcpClient passes 'option.connect').
 */
export function readConnectOption(
  option: unknown,
  operation: string,
  prefix: string,
): ConnectSettings {
  if (option !== undefined && (typeof option !== 'object' || option === null))
    throw StackError.invalidArgument(operation, prefix, 'must be an object');
  const r = new OptionReader((option ?? {}) as Record<string, unknown>, operation, prefix);
  const bind = r.source.localBind;
  const settings: ConnectSettings = {
    localBind:
      bind === undefined ? undefined : checkEndpoint(bind, operation, r.field('localBind')),
    localPort: r.int('localPort', 0, 65535) ?? 0,
    fillEndpoints: r.bool('fillEndpoints') ?? true,
    socket: r.socketOptions(),
    signal: undefined,
  };
  const signal = r.source.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw StackError.invalidArgument(operation, r.field('signal'), 'must be an AbortSignal');
  settings.signal = signal;
  r.int('connectedQueueCapacity', 1, 0x7fffffff);
  return settings;
}

/**
 * One connection attempt. start() sends the SYN; exactly one of
 * onConnected(stream) or onError(errno) follows, unless cancel()/stop()
 * came first, after which there is no callback at all.
 *
 * Errors: ECONNREFUSED (the peer answered RST), ETIMEDOUT (lwIP's SYN
 * retransmissions ran out), ENETUNREACH (no interface routes there),
 * EADDRINUSE (the local bind is taken), EMFILE (connection limit),
 * ENOMEM, ECONNABORTED (the stack closed, or the attempt was closed
 * from outside, e.g. by shutdownStack).
 */
export class TcpConnectWatcher implements Disposable {
  /** The endpoint this watcher connects to. */
  readonly remote: IpEndpoint;
  readonly #stack: Stack;
  readonly #record: StackRecord;
  readonly #onConnected: OnConnected;
  readonly #onError: OnWatchError | undefined;
  readonly #localBind: IpEndpoint | undefined;
  readonly #localPort: number;
  readonly #fill: boolean;
  readonly #socket: SocketOptions;
  #state: 'created' | 'connecting' | 'done' | 'cancelled' = 'created';
  #conn: TcpConnection | undefined;
  readonly #signal: AbortSignal | undefined;

  /** @internal Use createTcpConnectWatcher. */
  constructor(
    stack: Stack,
    remote: IpEndpoint,
    option: TcpConnectOption,
    onConnected: OnConnected,
    onError?: OnWatchError,
  ) {
    if (typeof onConnected !== 'function')
      throw StackError.invalidArgument(OP, 'onConnected', 'must be a function');
    if (onError !== undefined && typeof onError !== 'function')
      throw StackError.invalidArgument(OP, 'onError', 'must be a function');
    this.remote = checkEndpoint(remote, OP, 'remote', 1);
    const o = readConnectOption(option, OP, 'option');
    if (o.localBind && o.localBind.family !== this.remote.family)
      throw StackError.invalidArgument(
        OP,
        'option.localBind.family',
        `must match the remote's family (${this.remote.family})`,
      );
    this.#localBind = o.localBind;
    this.#localPort = o.localPort;
    this.#fill = o.fillEndpoints;
    this.#socket = o.socket;
    this.#stack = stack;
    this.#record = recordOf(stack);
    this.#onConnected = onConnected;
    this.#onError = onError;
    this.#signal = o.signal;
    if (o.signal?.aborted) this.#state = 'cancelled';
    else o.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => this.cancel();

  /** True from start() until the outcome was delivered or the attempt cancelled. */
  get pending(): boolean {
    return this.#state === 'connecting';
  }

  /**
   * Starts the attempt. Calling it again does nothing; after cancel()/stop()
   * it throws ERR_WATCHER_STOPPED, and on a closed stack ERR_STACK_CLOSED.
   * Connection failures never throw here: they arrive through onError on
   * a later turn.
   */
  start(): void {
    if (this.#state === 'cancelled')
      throw StackError.invalidState('ERR_WATCHER_STOPPED', 'TcpConnectWatcher.start', 'cancelled');
    if (this.#state !== 'created') return;
    this.#state = 'connecting';
    this.#record.stoppables.add(this);
    const bind = this.#localBind;
    let conn: TcpConnection;
    try {
      conn = this.#stack.connect({
        address: toAddressText(this.remote),
        port: this.remote.port,
        localAddress: bind ? toAddressText(bind) : undefined,
        localPort: bind ? bind.port : this.#localPort,
      });
    } catch (error) {
      // Misuse (the stack is closed) throws; a resource shortage is an outcome.
      if (!(error instanceof StackError) || error.kind === 'configuration' || !error.errno) {
        this.#state = 'done';
        this.#signal?.removeEventListener('abort', this.#onAbort);
        this.#record.stoppables.delete(this);
        throw error;
      }
      const errno = error.errno;
      onNextTurn(this.#stack.clock, () => this.#fail(errno));
      return;
    }
    this.#conn = conn;
    this.#record.track(conn);
    this.#record.counters.optionsSkipped += applySocketOptions(conn, this.#socket).length;
    conn.on('becameActive', this.#onActive);
    conn.on('terminated', this.#onTerminated);
  }

  /**
   * Abandons the attempt: the half-open connection is aborted at once and
   * no callback follows (not even onError). May be called any number of
   * times, before or after start(); after onConnected it does nothing (the
   * stream owns the connection).
   */
  cancel(): void {
    if (this.#state === 'done' || this.#state === 'cancelled') return;
    const wasConnecting = this.#state === 'connecting';
    this.#state = 'cancelled';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#record.stoppables.delete(this);
    const conn = this.#detach();
    if (wasConnecting) conn?.abort();
  }

  /** Same as cancel(). */
  stop(): void {
    this.cancel();
  }

  /** Same as cancel(), for `using`. */
  [DISPOSE](): void {
    this.cancel();
  }

  readonly #onActive = (): void => {
    if (this.#state !== 'connecting') return;
    this.#state = 'done';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#record.stoppables.delete(this);
    const conn = this.#detach()!;
    invoke(this.#onConnected, new TcpStream(this.#stack, conn, this.#fill));
  };

  readonly #onTerminated = (_reason: unknown, error: StackError | undefined): void => {
    this.#detach();
    this.#fail(error?.errno || Errno.ECONNABORTED);
  };

  #fail(errno: number): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'done';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#record.stoppables.delete(this);
    invoke(this.#onError, errno);
  }

  #detach(): TcpConnection | undefined {
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.off('becameActive', this.#onActive);
    conn?.off('terminated', this.#onTerminated);
    return conn;
  }
}

/**
 * Prepares a connection attempt to `remote` (an already resolved endpoint,
 * port 1..65535); start() begins it. option.localBind / option.localPort
 * bind first, and the resulting port shows in stream.local. Bad arguments
 * throw StackError ERR_INVALID_ARGUMENT (kind 'configuration') naming the
 * field; everything else is reported through onError.
 */
export function createTcpConnectWatcher(
  stack: Stack,
  remote: IpEndpoint,
  option: TcpConnectOption,
  onConnected: OnConnected,
  onError?: OnWatchError,
): TcpConnectWatcher {
  return new TcpConnectWatcher(stack, remote, option, onConnected, onError);
}
