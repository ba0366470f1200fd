/**
 * TcpListener: a listening socket. Each completed handshake becomes a
 * TcpConnection handed to the callback; it stays on hold (no data, backlog
 * slot kept) until the application calls markActive().
 */
import { LwEvent } from '../wasm/abi.js';
import type { HandleOwner, StackHost } from '../stack/host.js';
import { TcpConnection } from './connection.js';
import type { TcpEndpoint } from './endpoint.js';
import { HeldSyn } from './held-syn.js';

export type ConnectionHandler = (connection: TcpConnection) => void;
export type SynHandler = (syn: HeldSyn) => void;

export class TcpListener implements HandleOwner {
  readonly #host: StackHost;
  readonly #handle: number;
  readonly #onConnection: ConnectionHandler;
  readonly #onSyn: SynHandler | undefined;
  #open = true;
  /** The address and port listened on (the chosen port when 0 was asked for). */
  readonly local: TcpEndpoint;

  /** @internal Created by Stack.listen. */
  constructor(
    host: StackHost,
    handle: number,
    local: TcpEndpoint,
    onConnection: ConnectionHandler,
    onSyn?: SynHandler,
  ) {
    this.#host = host;
    this.#handle = handle;
    this.local = local;
    this.#onConnection = onConnection;
    this.#onSyn = onSyn;
    host.register(handle, this);
  }

  get listening(): boolean {
    return this.#open;
  }

  /** Stops listening. Connections already accepted live on. Calling it again does nothing. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#host.unregister(this.#handle);
    if (this.#host.isOpen)
      this.#host.call('TcpListener.close', (x) => x.lw_tcp_listener_close(this.#handle));
  }

  /** @internal */
  handleEvent(kind: number, a: number): void {
    if (kind === LwEvent.TERMINATED) {
      this.#open = false;
      this.#host.unregister(this.#handle);
      return;
    }
    if (!this.#open) return;
    if (kind === LwEvent.SYN) {
      const syn = new HeldSyn(this.#host, a);
      if (this.#onSyn) this.#onSyn(syn);
      else syn.accept();
      return;
    }
    if (kind !== LwEvent.ACCEPT) return;
    // For a held SYN the same handle now belongs to its connection.
    this.#onConnection(new TcpConnection(this.#host, a, 'accepted'));
  }

  /** @internal */
  handleData(): void {}
}
