/**
 * StackSocket: a TcpConnection as a Node `Duplex`, shaped like net.Socket so
 * that node:http, node:tls and stream.pipeline work over a stack.
 *
 * Backpressure: when push() reports a full readable buffer the connection's
 * delivery is turned off (setRecvEnabled(false): lwIP keeps the data and the
 * peer's window closes) and back on in _read(). Writes wait for the
 * connection's `writable` edge. Half-close: the peer's FIN ends the readable
 * side; end() sends FIN (shutdownWrite). With allowHalfOpen false (the
 * default, as in node:net) the socket ends its writable side once the
 * readable side ended.
 */
import type { Duplex } from 'node:stream';
import type { StackError } from '../stack/errors.js';
import type { TcpConnection } from '../tcp/connection.js';
import { TerminationReason } from '../tcp/reason.js';
import { nodeBuiltins } from './builtins.js';

export interface StackSocketOptions {
  allowHalfOpen?: boolean;
  /** Readable buffer in bytes before delivery pauses (default 64 KiB, like node:net). */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

/** The Node-shaped socket type (a Duplex with net.Socket's accessors). */
export interface StackSocket extends Duplex {
  readonly connection: TcpConnection;
  readonly connecting: boolean;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: 'IPv4' | 'IPv6' | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number };
  setNoDelay(noDelay?: boolean): this;
  setKeepAlive(enable?: boolean, initialDelay?: number): this;
  setTimeout(ms: number, callback?: () => void): this;
  ref(): this;
  unref(): this;
}

type SocketClass = new (connection: TcpConnection, options?: StackSocketOptions) => StackSocket;
let socketClass: SocketClass | undefined;

/** Wraps a connection; for outgoing connections 'connect' fires on becameActive. */
export function createStackSocket(
  connection: TcpConnection,
  options?: StackSocketOptions,
): StackSocket {
  socketClass ??= defineSocketClass();
  return new socketClass(connection, options);
}

function defineSocketClass(): SocketClass {
  const { Duplex } = nodeBuiltins('StackSocket').stream;

  class Socket extends Duplex implements StackSocket {
    readonly connection: TcpConnection;
    #paused = false;
    #bytesRead = 0;
    #bytesWritten = 0;
    #idleMs = 0;
    #idleTimer: ReturnType<typeof setTimeout> | undefined;

    constructor(connection: TcpConnection, options: StackSocketOptions = {}) {
      super({
        allowHalfOpen: options.allowHalfOpen ?? false,
        readableHighWaterMark: options.readableHighWaterMark ?? 64 * 1024,
        writableHighWaterMark: options.writableHighWaterMark ?? 64 * 1024,
        decodeStrings: true,
      });
      this.connection = connection;
      connection.on('becameActive', () => {
        this.#touch();
        if (connection.direction === 'outgoing') {
          this.emit('connect');
          this.emit('ready');
        }
      });
      connection.on('readable', (data) => {
        this.#touch();
        this.#bytesRead += data.length;
        if (!this.push(Buffer.from(data.buffer, data.byteOffset, data.length)) && !this.#paused) {
          this.#paused = true;
          connection.setRecvEnabled(false, { pause: 'closeWindow' });
        }
      });
      connection.on('readEOF', () => {
        this.#touch();
        this.push(null);
      });
      connection.on('terminated', (reason, error) => this.#terminated(reason, error));
      if (!connection.alive) {
        queueMicrotask(() =>
          this.#terminated(connection.terminationReason ?? 'destroyed', connection.error),
        );
      }
    }

    get connecting(): boolean {
      return this.connection.alive && !this.connection.active;
    }
    get remoteAddress() {
      return this.connection.active || !this.connection.alive
        ? this.connection.peer.address
        : undefined;
    }
    get remotePort() {
      return this.connection.active || !this.connection.alive
        ? this.connection.peer.port
        : undefined;
    }
    get remoteFamily() {
      return this.remoteAddress === undefined ? undefined : family(this.connection.peer.family);
    }
    get localAddress() {
      return this.connection.local.address;
    }
    get localPort() {
      return this.connection.local.port;
    }
    get bytesRead() {
      return this.#bytesRead;
    }
    get bytesWritten() {
      return this.#bytesWritten;
    }

    address() {
      const l = this.connection.local;
      return { address: l.address, family: family(l.family), port: l.port };
    }

    setNoDelay(noDelay = true): this {
      this.connection.setNoDelay(noDelay);
      return this;
    }

    setKeepAlive(enable = false, initialDelay = 0): this {
      this.connection.setKeepAlive(enable, initialDelay);
      return this;
    }

    /** Emits 'timeout' after `ms` without activity (0 turns it off), as net.Socket does. */
    setTimeout(ms: number, callback?: () => void): this {
      this.#idleMs = ms;
      if (callback) this.once('timeout', callback);
      this.#touch();
      return this;
    }

    ref(): this {
      return this;
    }

    unref(): this {
      return this;
    }

    override _read(): void {
      if (this.#paused) {
        this.#paused = false;
        this.connection.setRecvEnabled(true);
      }
    }

    override _write(
      chunk: Buffer,
      _encoding: BufferEncoding,
      callback: (error?: Error | null) => void,
    ): void {
      const conn = this.connection;
      let offset = 0;
      const pump = () => {
        if (!conn.alive) {
          cleanup();
          callback(
            conn.error ??
              Object.assign(new Error('write after the connection ended'), { code: 'EPIPE' }),
          );
          return;
        }
        while (offset < chunk.length) {
          const n = conn.write(chunk.subarray(offset));
          if (n === 0) return; // wait for becameActive or writable
          offset += n;
          this.#bytesWritten += n;
        }
        this.#touch();
        cleanup();
        callback();
      };
      const cleanup = () => {
        conn.off('writable', pump);
        conn.off('becameActive', pump);
        conn.off('terminated', pump);
      };
      conn.on('writable', pump);
      conn.on('becameActive', pump);
      conn.on('terminated', pump);
      pump();
    }

    override _final(callback: (error?: Error | null) => void): void {
      const conn = this.connection;
      if (!conn.alive) return callback();
      if (conn.active) {
        conn.shutdownWrite();
        return callback();
      }
      conn.once('becameActive', () => {
        conn.shutdownWrite();
        callback();
      });
    }

    override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      this.#clearIdle();
      const conn = this.connection;
      if (conn.alive) {
        if (error || !conn.active) conn.abort();
        else conn.gracefulClose();
      }
      callback(error);
    }

    #terminated(reason: TerminationReason, error: StackError | undefined): void {
      this.#clearIdle();
      // Closing the stack is a local, deliberate act: the socket just closes.
      if (error && error.code !== 'ERR_STACK_CLOSED') {
        this.destroy(error);
        return;
      }
      if (reason === TerminationReason.Close) {
        // An orderly end: what is buffered is still read, then 'close'
        // once both sides are done (as net.Socket does).
        if (!this.readableEnded) this.push(null);
        const readDone = this.readableEnded
          ? Promise.resolve()
          : new Promise<void>((r) => this.once('end', () => r()));
        const writeDone =
          this.writableFinished || !this.writable
            ? Promise.resolve()
            : new Promise<void>((r) => this.once('finish', () => r()));
        void Promise.all([readDone, writeDone]).then(() => this.destroy());
        return;
      }
      this.destroy();
    }

    #touch(): void {
      if (!this.#idleMs) return this.#clearIdle();
      this.#clearIdle();
      this.#idleTimer = setTimeout(() => this.emit('timeout'), this.#idleMs);
    }

    #clearIdle(): void {
      if (this.#idleTimer) clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
  }
  return Socket;
}

function family(f: 4 | 6): 'IPv4' | 'IPv6' {
  return f === 6 ? 'IPv6' : 'IPv4';
}
