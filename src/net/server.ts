/**
 * StackServer: net.Server's shape over Stack.listen. Every accepted
 * connection is marked active at once (the net API has no "accept but not
 * yet ready" step) and handed out as a StackSocket through 'connection'.
 */
import type { EventEmitter } from 'node:events';
import { StackError } from '../stack/errors.js';
import type { TcpListener } from '../tcp/listener.js';
import type { Stack } from '../tcp/stack.js';
import { nodeBuiltins } from './builtins.js';
import { createStackSocket, type StackSocket, type StackSocketOptions } from './socket.js';

export interface StackServerOptions {
  allowHalfOpen?: boolean;
  /** Pause reading of new sockets until resumed (as in node:net). */
  pauseOnConnect?: boolean;
}

export interface StackListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
}

export interface StackServer extends EventEmitter {
  readonly listening: boolean;
  listen(port?: number, host?: string, backlog?: number, callback?: () => void): this;
  listen(port?: number, host?: string, callback?: () => void): this;
  listen(port?: number, callback?: () => void): this;
  listen(options: StackListenOptions, callback?: () => void): this;
  close(callback?: (error?: Error) => void): this;
  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number } | null;
  getConnections(callback: (error: Error | null, count: number) => void): this;
}

type ServerClass = new (
  stack: Stack,
  options: StackServerOptions,
  listener?: (socket: StackSocket) => void,
) => StackServer;
let serverClass: ServerClass | undefined;

export function createStackServer(
  stack: Stack,
  options: StackServerOptions = {},
  listener?: (socket: StackSocket) => void,
): StackServer {
  serverClass ??= defineServerClass();
  return new serverClass(stack, options, listener);
}

function defineServerClass(): ServerClass {
  const { EventEmitter } = nodeBuiltins('StackServer').events;

  class Server extends EventEmitter implements StackServer {
    readonly #stack: Stack;
    readonly #options: StackServerOptions;
    #listener: TcpListener | undefined;
    readonly #sockets = new Set<StackSocket>();
    #closing: ((error?: Error) => void)[] | undefined;

    constructor(
      stack: Stack,
      options: StackServerOptions,
      listener?: (socket: StackSocket) => void,
    ) {
      super();
      this.#stack = stack;
      this.#options = options;
      if (listener) this.on('connection', listener);
    }

    get listening(): boolean {
      return this.#listener?.listening ?? false;
    }

    listen(...args: unknown[]): this {
      let options: StackListenOptions = {};
      let callback: (() => void) | undefined;
      if (typeof args.at(-1) === 'function') callback = args.pop() as () => void;
      if (typeof args[0] === 'object' && args[0] !== null) options = args[0] as StackListenOptions;
      else {
        options.port = args[0] as number | undefined;
        if (typeof args[1] === 'string') options.host = args[1];
        if (typeof args[2] === 'number') options.backlog = args[2];
      }
      if (this.#listener?.listening)
        throw StackError.invalidState(
          'ERR_SERVER_ALREADY_LISTEN',
          'server.listen',
          'the server is already listening',
        );
      const socketOptions: StackSocketOptions = {
        allowHalfOpen: this.#options.allowHalfOpen ?? false,
      };
      try {
        this.#listener = this.#stack.listen(
          {
            port: options.port ?? 0,
            address: options.host,
            backlog: Math.min(options.backlog ?? 128, 255),
          },
          (conn) => {
            const socket = createStackSocket(conn, socketOptions);
            this.#sockets.add(socket);
            socket.once('close', () => {
              this.#sockets.delete(socket);
              this.#maybeClosed();
            });
            if (this.#options.pauseOnConnect) socket.pause();
            conn.markActive();
            this.emit('connection', socket);
          },
        );
      } catch (error) {
        queueMicrotask(() => this.emit('error', error));
        return this;
      }
      if (callback) this.once('listening', callback);
      queueMicrotask(() => this.emit('listening'));
      return this;
    }

    address() {
      if (!this.#listener?.listening) return null;
      const l = this.#listener.local;
      return {
        address: l.address,
        family: l.family === 6 ? ('IPv6' as const) : ('IPv4' as const),
        port: l.port,
      };
    }

    /** Stops accepting; 'close' follows once every accepted socket has closed. */
    close(callback?: (error?: Error) => void): this {
      if (!this.#listener?.listening) {
        if (callback)
          queueMicrotask(() =>
            callback(
              Object.assign(new Error('Server is not running.'), {
                code: 'ERR_SERVER_NOT_RUNNING',
              }),
            ),
          );
        return this;
      }
      this.#listener.close();
      this.#closing = callback ? [callback] : [];
      this.#maybeClosed();
      return this;
    }

    getConnections(callback: (error: Error | null, count: number) => void): this {
      queueMicrotask(() => callback(null, this.#sockets.size));
      return this;
    }

    #maybeClosed(): void {
      if (!this.#closing || this.#sockets.size > 0) return;
      const callbacks = this.#closing;
      this.#closing = undefined;
      queueMicrotask(() => {
        this.emit('close');
        for (const cb of callbacks) cb();
      });
    }
  }
  return Server;
}
