/**
 * TransparentProxy: takes every TCP connection that arrives on a stack's
 * transparent interfaces and relays it to its original destination (or the
 * address a Policy maps it to) through a Dialer.
 *
 * Flow setup follows the connection model and the held SYN: the client's
 * SYN stays unanswered while the proxy dials; the client then sees what the
 * destination did. Connected: accept() (SYN-ACK), and the connection that
 * follows is marked active and handed to a Relay. Refused: refuse() (RST,
 * ECONNREFUSED at the client, never a reset after a handshake). No answer or
 * unreachable within dialTimeoutMs: drop() (the client's own SYN
 * retransmissions, and finally its connect timeout, take over; each
 * retransmitted SYN is a new attempt). Policy denials and flows beyond
 * maxFlows are refused.
 *
 * The proxy uses the stack's public API only and owns nothing but its
 * listener, its dials and its relays: the stack, its interfaces and the
 * dialer's resources stay the caller's.
 */
import type { Socket } from 'node:net';
import type { HeldSyn } from '../tcp/held-syn.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpEndpoint } from '../tcp/endpoint.js';
import type { TcpListener } from '../tcp/listener.js';
import type { Stack } from '../tcp/stack.js';
import { StackError } from '../stack/errors.js';
import { Emitter } from '../util/emitter.js';
import {
  DialError,
  OPEN_SOCKET,
  directDialer,
  errorCode,
  synAnswerFor,
  type Dialer,
  type SocketOpener,
  type SynAnswer,
} from './dialer.js';
import { Policy, type PolicyOptions } from './policy.js';
import { Relay, type RelaySummary } from './relay.js';

/** Options of a TransparentProxy. */
export interface TransparentProxyOptions {
  /** How destinations are reached; default directDialer() (node:net). */
  dialer?: Dialer;
  /** Allow/deny/map rules; default: every destination, unmapped. */
  policy?: Policy | PolicyOptions;
  /** Flows at once (dialing or relaying); beyond it SYNs are refused. Default 1024. */
  maxFlows?: number;
  /** How long a dial may take before the client's SYN is dropped, in ms. Default 10 000. */
  dialTimeoutMs?: number;
  /** Reset a flow after this long without a byte either way, in ms; 0 (default) never. */
  idleTimeoutMs?: number;
}

/** Counters of a TransparentProxy; totals since it started. */
export interface ProxyStats {
  /** Flows relaying now. */
  flowsActive: number;
  /** SYNs held while their dial runs (or accepted, waiting for the handshake). */
  flowsDialing: number;
  /** Flows that reached the relay. */
  flowsTotal: number;
  /** Bytes client -> upstream and upstream -> client, over all flows. */
  bytesUp: number;
  bytesDown: number;
  /** SYNs answered with RST because the upstream refused (or the dialer said so). */
  refused: number;
  /** SYNs left unanswered because the upstream timed out or was unreachable. */
  dropped: number;
  /** SYNs refused by the policy. */
  denied: number;
  /** SYNs refused because maxFlows flows were running. */
  overLimit: number;
  /** SYNs the client (or lwIP) gave up on while the dial ran. */
  expired: number;
  /** Flows reset by the idle timeout. */
  idleClosed: number;
}

/** A SYN the proxy did not accept. */
export interface RejectedFlow {
  client: TcpEndpoint;
  destination: TcpEndpoint;
  /** 'refuse' (RST) or 'drop' (no answer). */
  answer: SynAnswer;
  /** Why: 'denied', 'over-limit', 'shutdown', or the dial's error code ('ECONNREFUSED'...). */
  why: string;
}

/** Events of a TransparentProxy. */
export interface ProxyEvents extends Record<string, unknown[]> {
  /** A flow is connected both ways and relaying; subscribe to the relay for its events. */
  flow: [relay: Relay];
  /** A relay finished (after its own `closed`). */
  flowClosed: [summary: RelaySummary];
  /** A SYN was refused or dropped. */
  rejected: [flow: RejectedFlow];
}

interface Dial {
  syn: HeldSyn;
  target: string;
  /** When the dial gives up (performance.now() ms). */
  deadline: number;
  settled: boolean;
  /** A dial through Dialer.dial(): its signal. */
  abort?: AbortController;
  /** A dial through the dialer's OPEN_SOCKET fast path: the socket connecting. */
  opening?: Socket;
  /** Set once the dial connected and the SYN was accepted. */
  socket?: Socket;
}

/** The dial a socket opened through OPEN_SOCKET belongs to. */
const DIAL = Symbol('lwip-wasm.dial');
type DialSocket = Socket & { [DIAL]?: Dial };

/** Until a relay owns a connected socket, an error only means the flow is lost. */
function ignoreError(): void {}

function checkCount(value: unknown, field: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw StackError.invalidArgument('TransparentProxy', field, `must be an integer >= ${min}`);
  return value;
}

const LISTEN_BACKLOG = 255;

/**
 * A transparent TCP proxy on one stack. Construct it on a stack whose
 * interfaces were added with `transparent: true`; it listens at once.
 * Throws StackError 'ERR_TRANSPARENT_LISTENER_EXISTS' when the stack
 * already has a transparent listener, 'ERR_INVALID_ARGUMENT' for bad
 * options or rules.
 */
export class TransparentProxy extends Emitter<ProxyEvents> {
  readonly dialer: Dialer;
  readonly policy: Policy;
  readonly maxFlows: number;
  readonly dialTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly #listener: TcpListener;
  readonly #dials = new Map<number, Dial>();
  readonly #relays = new Set<Relay>();
  readonly #counts = {
    flowsTotal: 0,
    refused: 0,
    dropped: 0,
    denied: 0,
    overLimit: 0,
    expired: 0,
    idleClosed: 0,
  };
  #closedBytesUp = 0;
  #closedBytesDown = 0;
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  #stopping: Promise<void> | undefined;
  /** The dialer's OPEN_SOCKET fast path, if it has one. */
  readonly #open: SocketOpener[typeof OPEN_SOCKET];
  /** One timer for every dial's deadline: they expire in the order they started. */
  #dialTimer: ReturnType<typeof setTimeout> | undefined;
  /** Listeners of sockets opened through #open ('this' is the socket). */
  readonly #onOpenConnect: (this: DialSocket) => void;
  readonly #onOpenError: (this: DialSocket, error: Error) => void;

  constructor(stack: Stack, options: TransparentProxyOptions = {}) {
    super();
    this.dialer = options.dialer ?? directDialer();
    if (typeof this.dialer?.dial !== 'function')
      throw StackError.invalidArgument('TransparentProxy', 'dialer', 'must have a dial() method');
    this.policy = options.policy instanceof Policy ? options.policy : new Policy(options.policy);
    this.maxFlows = checkCount(options.maxFlows, 'maxFlows', 1, 1024);
    this.dialTimeoutMs = checkCount(options.dialTimeoutMs, 'dialTimeoutMs', 1, 10_000);
    this.idleTimeoutMs = checkCount(options.idleTimeoutMs, 'idleTimeoutMs', 0, 0);
    this.#open = (this.dialer as SocketOpener)[OPEN_SOCKET];
    const proxy = this;
    this.#onOpenConnect = function () {
      this.off('connect', proxy.#onOpenConnect);
      proxy.#connected(this[DIAL]!, this);
    };
    this.#onOpenError = function (error) {
      const dial = this[DIAL]!;
      if (!dial.settled) proxy.#failed(dial, error);
    };
    this.#listener = stack.listen(
      { port: 0, transparent: true, backlog: LISTEN_BACKLOG, onSyn: (syn) => this.#onSyn(syn) },
      (conn) => this.#onConnection(conn),
    );
  }

  /** 'running', then 'stopping' during shutdown(), then 'stopped'. */
  get state(): 'running' | 'stopping' | 'stopped' {
    return this.#state;
  }

  /** The flows relaying now. */
  flows(): Relay[] {
    return [...this.#relays];
  }

  /**
   * Flows in progress, dialing or relaying (stats()' flowsDialing +
   * flowsActive, without adding up every relay's byte counters).
   */
  get flowCount(): number {
    return this.#dials.size + this.#relays.size;
  }

  /** A snapshot of the counters (cheap: fine for a status line every second). */
  stats(): ProxyStats {
    let up = this.#closedBytesUp;
    let down = this.#closedBytesDown;
    for (const r of this.#relays) {
      up += r.bytesUp;
      down += r.bytesDown;
    }
    return {
      flowsActive: this.#relays.size,
      flowsDialing: this.#dials.size,
      ...this.#counts,
      bytesUp: up,
      bytesDown: down,
    };
  }

  /**
   * Stops: new SYNs are refused, running dials are abandoned (their SYNs
   * refused), and every relay ends in order (FIN both ways, see Relay.end);
   * relays still open after `timeoutMs` (default 5000) are reset. Resolves
   * when every flow is gone and the listener is closed. The stack stays
   * open. Calling it again returns the same promise.
   */
  shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#shutdown(options.timeoutMs ?? 5000);
    return this.#stopping;
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    clearTimeout(this.#dialTimer);
    this.#dialTimer = undefined;
    for (const dial of [...this.#dials.values()]) {
      if (dial.socket) {
        // Accepted, handshake not complete: the connection will be aborted on arrival.
        dial.socket.destroy();
      } else this.#answer(dial, 'refuse', 'shutdown');
      this.#cancel(dial, new DialError('ECANCELED', 'proxy shutting down', 'refuse'));
    }
    const relays = [...this.#relays];
    const closed = relays.map(
      (r) => new Promise<void>((resolve) => r.once('closed', () => resolve())),
    );
    for (const r of relays) r.end();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(closed), deadline]);
    clearTimeout(timer);
    for (const r of relays) r.abort('aborted');
    await Promise.all(closed);
    this.#listener.close();
    this.#state = 'stopped';
  }

  // ---- flow setup ----

  #onSyn(syn: HeldSyn): void {
    if (this.#state !== 'running') return this.#reject(syn, 'refuse', 'shutdown');
    const destination = syn.local;
    const decision = this.policy.decide(destination.address, destination.port);
    if (decision.action === 'deny') {
      this.#counts.denied++;
      return this.#reject(syn, 'refuse', 'denied');
    }
    if (this.#dials.size + this.#relays.size >= this.maxFlows) {
      this.#counts.overLimit++;
      return this.#reject(syn, 'refuse', 'over-limit');
    }
    const target = { host: decision.host, port: decision.port };
    const dial: Dial = {
      syn,
      target: `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`,
      deadline: performance.now() + this.dialTimeoutMs,
      settled: false,
    };
    this.#dials.set(syn.id, dial);
    this.#armDialTimer();
    syn.on('expired', () => {
      if (this.#dials.get(syn.id) !== dial) return;
      this.#counts.expired++;
      dial.settled = true;
      this.#dials.delete(syn.id);
      dial.socket?.destroy();
      this.#cancel(dial, new DialError('ECANCELED', 'the client gave up', 'drop'));
    });
    const socket: DialSocket | undefined = this.#open?.(target);
    if (socket) {
      socket[DIAL] = dial;
      dial.opening = socket;
      socket.on('connect', this.#onOpenConnect);
      socket.on('error', this.#onOpenError);
      return;
    }
    const abort = (dial.abort = new AbortController());
    let promise: Promise<Socket>;
    try {
      promise = this.dialer.dial(target, abort.signal);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (socket) => this.#connected(dial, socket),
      (error: unknown) => this.#failed(dial, error),
    );
  }

  /** Answers a SYN the proxy will not dial for. */
  #reject(syn: HeldSyn, answer: SynAnswer, why: string): void {
    if (answer === 'refuse') syn.refuse();
    else syn.drop();
    this.emit('rejected', { client: syn.peer, destination: syn.local, answer, why });
  }

  /** Stops a running dial: aborts its signal, or destroys the socket it opened. */
  #cancel(dial: Dial, reason: DialError): void {
    dial.abort?.abort(reason);
    if (dial.opening && dial.opening !== dial.socket) dial.opening.destroy();
  }

  #armDialTimer(): void {
    if (this.#dialTimer !== undefined) return;
    for (const dial of this.#dials.values()) {
      if (dial.settled) continue;
      const wait = Math.max(1, Math.ceil(dial.deadline - performance.now()));
      this.#dialTimer = setTimeout(this.#onDialTimer, wait);
      return;
    }
  }

  readonly #onDialTimer = (): void => {
    this.#dialTimer = undefined;
    const now = performance.now();
    for (const dial of this.#dials.values()) {
      if (dial.settled) continue;
      if (dial.deadline > now) break;
      const error = new DialError(
        'ETIMEDOUT',
        `dial ${dial.target}: no answer in ${this.dialTimeoutMs} ms`,
        'drop',
      );
      this.#cancel(dial, error);
      this.#failed(dial, error);
    }
    if (this.#state === 'running') this.#armDialTimer();
  };

  #connected(dial: Dial, socket: Socket): void {
    // Until a relay owns it, an error only means the flow is lost (#onOpenError
    // ignores errors of a settled dial).
    if (!dial.opening) socket.on('error', ignoreError);
    if (dial.settled || this.#state !== 'running') {
      socket.destroy();
      return;
    }
    dial.settled = true;
    try {
      dial.syn.accept();
    } catch {
      // lwIP is out of memory: the client is better off retrying its SYN.
      socket.destroy();
      this.#answer(dial, 'drop', 'ENOMEM');
      return;
    }
    if (dial.syn.state !== 'accepted') {
      // It expired between the dial and now.
      socket.destroy();
      this.#dials.delete(dial.syn.id);
      return;
    }
    dial.socket = socket;
  }

  #failed(dial: Dial, error: unknown): void {
    if (dial.settled) return;
    dial.settled = true;
    this.#answer(dial, synAnswerFor(error), errorCode(error));
  }

  /** Answers a held SYN negatively and forgets the dial. */
  #answer(dial: Dial, answer: SynAnswer, why: string): void {
    dial.settled = true;
    this.#dials.delete(dial.syn.id);
    const { syn } = dial;
    if (syn.state !== 'held') return;
    if (answer === 'refuse') syn.refuse();
    else syn.drop();
    if (why !== 'shutdown') {
      if (answer === 'refuse') this.#counts.refused++;
      else this.#counts.dropped++;
    }
    this.emit('rejected', { client: syn.peer, destination: syn.local, answer, why });
  }

  #onConnection(conn: TcpConnection): void {
    const dial = this.#dials.get(conn.id);
    this.#dials.delete(conn.id);
    const socket = dial?.socket;
    if (!socket || socket.destroyed || this.#state !== 'running') {
      socket?.destroy();
      conn.abort();
      return;
    }
    socket.removeAllListeners('error');
    (socket as DialSocket)[DIAL] = undefined;
    const relay = new Relay(conn, socket, {
      idleTimeoutMs: this.idleTimeoutMs,
      target: dial.target,
    });
    this.#relays.add(relay);
    this.#counts.flowsTotal++;
    relay.once('closed', (summary) => {
      this.#relays.delete(relay);
      this.#closedBytesUp += summary.bytesUp;
      this.#closedBytesDown += summary.bytesDown;
      if (summary.outcome === 'idle') this.#counts.idleClosed++;
      this.emit('flowClosed', summary);
    });
    conn.markActive();
    this.emit('flow', relay);
  }
}
