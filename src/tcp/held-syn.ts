/**
 * HeldSyn: a connection request whose SYN has not been answered yet.
 *
 * A listener with `onSyn` holds every SYN (lwIP patch 0003) so that a proxy
 * can first dial the real destination and then answer the client exactly as
 * that destination would have: accept() sends the SYN-ACK (the listener's
 * onConnection then receives the connection, with the same `id`), refuse()
 * sends RST ("connection refused"), drop() sends nothing (a timeout).
 * A held SYN counts against the listen backlog; lwIP gives up on it after
 * its SYN_RCVD timeout (about 20 s), and the peer may give up first: then
 * `expired` fires and the answer methods do nothing.
 */
import { Emitter } from '../util/emitter.js';
import { LwErr, LwEvent, LwInfo, LwSyn } from '../wasm/abi.js';
import { StackError } from '../stack/errors.js';
import type { HandleOwner, StackHost } from '../stack/host.js';
import { endpointsOf, type TcpEndpoint } from './endpoint.js';

export interface HeldSynEvents extends Record<string, unknown[]> {
  /** lwIP dropped the request before it was answered (peer RST or timeout). */
  expired: [];
}

export class HeldSyn extends Emitter<HeldSynEvents> implements HandleOwner {
  /** Equals the id of the TcpConnection that accept() leads to. */
  readonly id: number;
  /** The address and port the peer asked for (the original destination). */
  readonly local: TcpEndpoint;
  readonly peer: TcpEndpoint;
  readonly #host: StackHost;
  #state: 'held' | 'accepted' | 'refused' | 'dropped' | 'expired' = 'held';

  /** @internal Created by listeners with onSyn. */
  constructor(host: StackHost, handle: number) {
    super();
    this.#host = host;
    this.id = handle;
    const info = host.call('HeldSyn', (x, rt) =>
      rt.readWords(LwInfo.WORDS, (p) => x.lw_tcp_info(handle, p)),
    );
    const ends = info ? endpointsOf(info) : undefined;
    const none: TcpEndpoint = { family: 4, address: '0.0.0.0', port: 0 };
    this.local = ends?.local ?? none;
    this.peer = ends?.peer ?? none;
    host.register(handle, this);
  }

  /** 'held' until answered or expired. */
  get state(): 'held' | 'accepted' | 'refused' | 'dropped' | 'expired' {
    return this.#state;
  }

  /** Sends the SYN-ACK; the listener's onConnection follows when the handshake completes. */
  accept(): void {
    if (!this.#answer(LwSyn.ACCEPT, 'accepted'))
      throw StackError.fromErrno('ENOMEM', 'HeldSyn.accept', { connectionId: this.id });
  }

  /** Answers with RST: the peer sees "connection refused". */
  refuse(): void {
    this.#answer(LwSyn.REFUSE, 'refused');
  }

  /** Answers nothing: the peer's connect times out. */
  drop(): void {
    this.#answer(LwSyn.DROP, 'dropped');
  }

  #answer(action: number, next: 'accepted' | 'refused' | 'dropped'): boolean {
    if (this.#state !== 'held' || !this.#host.isOpen) return true;
    const rc = this.#host.call('HeldSyn', (x) => x.lw_tcp_syn_answer(this.id, action));
    if (rc === LwErr.STALE) return true; // expired meanwhile; the event follows
    if (rc < 0) return false;
    this.#state = next;
    if (next !== 'accepted') this.#host.unregister(this.id);
    return true;
  }

  /** @internal */
  handleEvent(kind: number): void {
    if (kind !== LwEvent.TERMINATED) return;
    this.#host.unregister(this.id);
    if (this.#state === 'held' || this.#state === 'accepted') {
      this.#state = 'expired';
      this.emit('expired');
    }
  }

  /** @internal */
  handleData(): void {}
}
