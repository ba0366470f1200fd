/**
 * TcpClient: connect and reconnect policy over the connect watcher (seed
 * 002; the seed 000 "upper layer"). It adds what the watcher leaves out on
 * purpose: a connect timeout (a timer plus cancel()), retries with
 * exponential backoff and jitter drawn from the stack's seeded random
 * source, an option to give up on ECONNREFUSED, and Happy Eyeballs over
 * several candidate endpoints (RFC 8305: IPv6 first, the next family after
 * a short delay, the first to connect wins, the others are cancelled).
 *
 * All timing runs on the stack's Clock, so a VirtualClock replays it
 * exactly.
 */
import type { Stack } from '../tcp/stack.js';
import { Errno, errnoName, errorToString, StackError } from '../stack/errors.js';
import { checkEndpoint, type IpEndpoint } from './endpoint.js';
import {
  createTcpConnectWatcher,
  readConnectOption,
  type TcpConnectWatcher,
} from './connect-watcher.js';
import { OptionReader, type TcpConnectOption } from './options.js';
import { recordOf } from './registry.js';
import { DISPOSE, type TcpStream } from './stream.js';
import { ClockTimer, invoke } from './turn.js';

/** Retry policy of a TcpClient. */
export interface ReconnectOption {
  /** Delay before the first retry, in ms (default 100). */
  initialDelayMs?: number;
  /** Upper bound of the delay, in ms (default 30 000). */
  maxDelayMs?: number;
  /** Growth factor per failed round (default 2). */
  multiplier?: number;
  /** Spread as a fraction: a delay d becomes d * (1 ± jitter), still at most maxDelayMs (0..1, default 0.2). */
  jitter?: number;
  /** Rounds before giving up; 0 means no limit (default 0). */
  maxAttempts?: number;
  /** Give up at once when every candidate refused (ECONNREFUSED). Default false. */
  stopOnRefused?: boolean;
}

/** Options of createTcpClient. */
export interface TcpClientOption {
  /** Options of each connection attempt (local bind, socket options, fillEndpoints); its `signal` stops the client. */
  connect?: TcpConnectOption;
  /** Deadline of one round (all candidates) in ms; ETIMEDOUT when it passes. Default: none (lwIP's SYN retries decide). */
  connectTimeoutMs?: number;
  /** Happy Eyeballs "connection attempt delay" between starting candidates, in ms (default 250). */
  attemptDelayMs?: number;
  /** Retry policy; false makes a single round. Default: retry with the defaults above. */
  reconnect?: ReconnectOption | false;
}

/**
 * A failed round. `error.errno`/`error.code` say why (for several
 * candidates: ETIMEDOUT on the round deadline, otherwise the last
 * candidate's error); `error.retryDelay` is the wait before the next round
 * when `willRetry`. A closed stack ends the client with its
 * ERR_STACK_CLOSED error and willRetry false.
 */
export type OnClientError = (error: StackError, willRetry: boolean) => void;

const OP = 'createTcpClient';

/** Orders candidates as RFC 8305 section 4 does: families interleaved, IPv6 first. */
function interleave(candidates: readonly IpEndpoint[]): IpEndpoint[] {
  const v6 = candidates.filter((c) => c.family === 'v6');
  const v4 = candidates.filter((c) => c.family === 'v4');
  const out: IpEndpoint[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (i < v6.length) out.push(v6[i]!);
    if (i < v4.length) out.push(v4[i]!);
  }
  return out;
}

function roundError(errno: number, retryDelay: number | undefined): StackError {
  const name = errnoName(errno);
  const op = 'TcpClient.connect';
  if (name) return StackError.fromErrno(name, op, { retryDelay });
  return new StackError('ERR_CONNECT', `${op}: ${errorToString(errno)}`, {
    errno,
    kind: 'connection',
    retryable: true,
    operation: op,
    retryDelay,
  });
}

/**
 * Connects to one of several endpoints, retrying as configured.
 *
 * Callbacks: onConnected(stream) once per successful round (the callee
 * owns the stream); onError(error, willRetry) once per failed round. After
 * stop(), and after onError(..., false), nothing more is called until
 * reconnect(). The client never watches the connection it delivered: call
 * reconnect() when that connection ends to get a new one after the
 * initial backoff delay.
 */
export class TcpClient implements Disposable {
  readonly #stack: Stack;
  readonly #candidates: IpEndpoint[];
  readonly #connect: TcpConnectOption;
  readonly #timeoutMs: number | undefined;
  readonly #attemptDelayMs: number;
  readonly #retry: Required<ReconnectOption> | undefined;
  readonly #onConnected: (stream: TcpStream) => void;
  readonly #onError: OnClientError | undefined;
  readonly #roundTimer: ClockTimer;
  readonly #staggerTimer: ClockTimer;
  readonly #backoffTimer: ClockTimer;
  #state: 'idle' | 'connecting' | 'waiting' | 'connected' | 'failed' | 'stopped' = 'idle';
  #attempts: TcpConnectWatcher[] = [];
  #next = 0;
  #failures: number[] = [];
  #failedRounds = 0;
  #rounds = 0;
  readonly #signal: AbortSignal | undefined;

  /** @internal Use createTcpClient. */
  constructor(
    stack: Stack,
    remote: IpEndpoint | readonly IpEndpoint[],
    option: TcpClientOption,
    onConnected: (stream: TcpStream) => void,
    onError?: OnClientError,
  ) {
    if (typeof onConnected !== 'function')
      throw StackError.invalidArgument(OP, 'onConnected', 'must be a function');
    if (onError !== undefined && typeof onError !== 'function')
      throw StackError.invalidArgument(OP, 'onError', 'must be a function');
    const list = Array.isArray(remote) ? (remote as readonly IpEndpoint[]) : [remote as IpEndpoint];
    if (list.length === 0)
      throw StackError.invalidArgument(OP, 'remote', 'must name at least one endpoint');
    this.#candidates = interleave(list.map((e, i) => checkEndpoint(e, OP, `remote[${i}]`, 1)));
    const r = OptionReader.of(option, OP, false);
    const settings = readConnectOption(r.source.connect, OP, 'option.connect');
    // The signal belongs to the client (abort = stop()), not to each attempt.
    const { signal: _signal, ...connect } =
      (r.source.connect as TcpConnectOption | undefined) ?? {};
    this.#connect = connect;
    this.#signal = settings.signal;
    const bind = settings.localBind;
    if (bind && this.#candidates.some((c) => c.family !== bind.family))
      throw StackError.invalidArgument(
        OP,
        'option.connect.localBind.family',
        `must match every remote's family (${bind.family})`,
      );
    this.#timeoutMs = r.int('connectTimeoutMs', 1, 0x7fffffff);
    this.#attemptDelayMs = r.int('attemptDelayMs', 0, 0x7fffffff) ?? 250;
    this.#retry = readRetry(r.source.reconnect);
    this.#stack = stack;
    this.#onConnected = onConnected;
    this.#onError = onError;
    this.#roundTimer = new ClockTimer(stack.clock);
    this.#staggerTimer = new ClockTimer(stack.clock);
    this.#backoffTimer = new ClockTimer(stack.clock);
    if (this.#signal?.aborted) this.#state = 'stopped';
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => this.stop();

  /** Rounds started so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /** Starts the first round. Calling it again does nothing; after stop() it throws ERR_WATCHER_STOPPED. */
  start(): void {
    this.#checkNotStopped('start');
    if (this.#state !== 'idle') return;
    recordOf(this.#stack).stoppables.add(this);
    this.#round();
  }

  /**
   * Asks for a new connection, typically after the delivered one ended:
   * a round starts after the backoff delay (the initial delay after a
   * success). Does nothing while a round is running or scheduled.
   */
  reconnect(): void {
    this.#checkNotStopped('reconnect');
    if (this.#state === 'connecting' || this.#state === 'waiting') return;
    if (this.#state === 'idle') return this.start();
    if (this.#state === 'failed') this.#failedRounds = 0;
    recordOf(this.#stack).stoppables.add(this);
    this.#state = 'waiting';
    this.#backoffTimer.start(this.#delay(this.#failedRounds + 1), () => this.#round());
  }

  /** Cancels any attempt in flight and every timer; no callback follows. Idempotent. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    recordOf(this.#stack).stoppables.delete(this);
    this.#endRound();
    this.#backoffTimer.cancel();
  }

  /** Same as stop(), for `using`. */
  [DISPOSE](): void {
    this.stop();
  }

  #checkNotStopped(method: string): void {
    if (this.#state === 'stopped')
      throw StackError.invalidState('ERR_WATCHER_STOPPED', `TcpClient.${method}`, 'stopped');
  }

  #round(): void {
    this.#state = 'connecting';
    this.#rounds++;
    this.#next = 0;
    this.#failures = [];
    if (this.#timeoutMs !== undefined)
      this.#roundTimer.start(this.#timeoutMs, () => this.#roundFailed(Errno.ETIMEDOUT, false));
    this.#launchNext();
  }

  /** Starts the next candidate and arms the stagger timer for the one after. */
  #launchNext(): void {
    this.#staggerTimer.cancel();
    if (this.#state !== 'connecting' || this.#next >= this.#candidates.length) return;
    const remote = this.#candidates[this.#next++]!;
    const watcher: TcpConnectWatcher = createTcpConnectWatcher(
      this.#stack,
      remote,
      this.#connect,
      (stream) => this.#won(watcher, stream),
      (err) => this.#lost(watcher, err),
    );
    this.#attempts.push(watcher);
    try {
      watcher.start();
    } catch (error) {
      // The stack closed or failed: no round can succeed any more.
      if (!(error instanceof StackError)) throw error;
      this.#endRound();
      this.#state = 'failed';
      recordOf(this.#stack).stoppables.delete(this);
      invoke(this.#onError, error, false);
      return;
    }
    if (this.#next < this.#candidates.length)
      this.#staggerTimer.start(this.#attemptDelayMs, () => this.#launchNext());
  }

  #won(winner: TcpConnectWatcher, stream: TcpStream): void {
    if (this.#state !== 'connecting') {
      stream.close();
      return;
    }
    this.#attempts = this.#attempts.filter((w) => w !== winner);
    this.#endRound();
    this.#state = 'connected';
    this.#failedRounds = 0;
    recordOf(this.#stack).stoppables.delete(this);
    invoke(this.#onConnected, stream);
  }

  #lost(loser: TcpConnectWatcher, err: number): void {
    if (this.#state !== 'connecting') return;
    this.#attempts = this.#attempts.filter((w) => w !== loser);
    this.#failures.push(err);
    if (this.#next < this.#candidates.length) {
      this.#launchNext();
      return;
    }
    if (this.#attempts.length > 0) return;
    const refusedOnly = this.#failures.every((e) => e === Errno.ECONNREFUSED);
    this.#roundFailed(err, refusedOnly);
  }

  #roundFailed(errno: number, refusedOnly: boolean): void {
    if (this.#state !== 'connecting') return;
    this.#endRound();
    this.#failedRounds++;
    const retry = this.#retry;
    const giveUp =
      !retry ||
      (retry.stopOnRefused && refusedOnly) ||
      (retry.maxAttempts > 0 && this.#failedRounds >= retry.maxAttempts);
    if (giveUp) {
      this.#state = 'failed';
      recordOf(this.#stack).stoppables.delete(this);
      invoke(this.#onError, roundError(errno, undefined), false);
      return;
    }
    const delay = this.#delay(this.#failedRounds);
    this.#state = 'waiting';
    this.#backoffTimer.start(delay, () => this.#round());
    invoke(this.#onError, roundError(errno, delay), true);
  }

  #endRound(): void {
    this.#roundTimer.cancel();
    this.#staggerTimer.cancel();
    const attempts = this.#attempts;
    this.#attempts = [];
    for (const w of attempts) w.cancel();
  }

  /** Backoff before round n+1 after n consecutive failed rounds (n >= 1). */
  #delay(n: number): number {
    const retry = this.#retry ?? DEFAULT_RETRY;
    const base = Math.min(
      retry.maxDelayMs,
      retry.initialDelayMs * Math.pow(retry.multiplier, Math.max(0, n - 1)),
    );
    const spread = retry.jitter > 0 ? base * retry.jitter * (2 * this.#stack.random() - 1) : 0;
    return Math.round(Math.min(retry.maxDelayMs, Math.max(0, base + spread)));
  }
}

const DEFAULT_RETRY: Required<ReconnectOption> = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
  maxAttempts: 0,
  stopOnRefused: false,
};

function readRetry(value: unknown): Required<ReconnectOption> | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null))
    throw StackError.invalidArgument(OP, 'option.reconnect', 'must be an object or false');
  const r = new OptionReader((value ?? {}) as Record<string, unknown>, OP, 'option.reconnect');
  const initialDelayMs = r.int('initialDelayMs', 0, 0x7fffffff) ?? DEFAULT_RETRY.initialDelayMs;
  const maxDelayMs = r.int('maxDelayMs', 0, 0x7fffffff) ?? Math.max(initialDelayMs, 30_000);
  if (maxDelayMs < initialDelayMs)
    throw StackError.invalidArgument(
      OP,
      'option.reconnect.maxDelayMs',
      'must be >= initialDelayMs',
    );
  const number = (key: string, min: number, max: number, fallback: number): number => {
    const v = r.source[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v >= min && v <= max))
      throw StackError.invalidArgument(OP, r.field(key), `must be a number in ${min}..${max}`);
    return v;
  };
  return {
    initialDelayMs,
    maxDelayMs,
    multiplier: number('multiplier', 1, 1000, DEFAULT_RETRY.multiplier),
    jitter: number('jitter', 0, 1, DEFAULT_RETRY.jitter),
    maxAttempts: r.int('maxAttempts', 0, 0x7fffffff) ?? 0,
    stopOnRefused: r.bool('stopOnRefused') ?? false,
  };
}

/**
 * Creates a client for `remote` (one endpoint, or candidates raced Happy
 * Eyeballs style); start() begins. Bad arguments throw StackError
 * ERR_INVALID_ARGUMENT (kind 'configuration') naming the field.
 */
export function createTcpClient(
  stack: Stack,
  remote: IpEndpoint | readonly IpEndpoint[],
  option: TcpClientOption,
  onConnected: (stream: TcpStream) => void,
  onError?: OnClientError,
): TcpClient {
  return new TcpClient(stack, remote, option, onConnected, onError);
}
