/**
 * `stack.net`: the node:net functions users already know, over one Stack:
 * createServer, connect / createConnection. Hosts are IP literals (the stack
 * has no resolver). AbortSignal cancels a connect.
 */
import { StackError } from '../stack/errors.js';
import type { Stack } from '../tcp/stack.js';
import { createStackServer, type StackServer, type StackServerOptions } from './server.js';
import { createStackSocket, type StackSocket } from './socket.js';

export interface StackConnectOptions {
  port: number;
  /** An IPv4 or IPv6 literal (no name resolution). */
  host?: string;
  localAddress?: string;
  localPort?: number;
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Idle timeout in ms ('timeout' event), as socket.setTimeout. */
  timeout?: number;
  /** Aborting destroys the socket with an AbortError (code ABORT_ERR). */
  signal?: AbortSignal;
}

export interface NetApi {
  createServer(listener?: (socket: StackSocket) => void): StackServer;
  createServer(options: StackServerOptions, listener?: (socket: StackSocket) => void): StackServer;
  connect(options: StackConnectOptions, connectListener?: () => void): StackSocket;
  connect(port: number, host?: string, connectListener?: () => void): StackSocket;
  createConnection(options: StackConnectOptions, connectListener?: () => void): StackSocket;
  createConnection(port: number, host?: string, connectListener?: () => void): StackSocket;
}

const apis = new WeakMap<Stack, NetApi>();

/** The net API of a stack (one object per stack). */
export function netApiOf(stack: Stack): NetApi {
  let api = apis.get(stack);
  if (!api) {
    api = makeApi(stack);
    apis.set(stack, api);
  }
  return api;
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), {
    name: 'AbortError',
    code: 'ABORT_ERR',
    cause: signal.reason,
  });
}

function makeApi(stack: Stack): NetApi {
  const connect = (...args: unknown[]): StackSocket => {
    let options: StackConnectOptions;
    let listener: (() => void) | undefined;
    if (typeof args.at(-1) === 'function') listener = args.pop() as () => void;
    if (typeof args[0] === 'object' && args[0] !== null) options = args[0] as StackConnectOptions;
    else options = { port: args[0] as number, host: args[1] as string | undefined };
    if (typeof options.port !== 'number')
      throw StackError.invalidArgument('net.connect', 'port', 'must be a number');
    const conn = stack.connect({
      address: options.host ?? '127.0.0.1',
      port: options.port,
      localAddress: options.localAddress,
      localPort: options.localPort,
    });
    const socket = createStackSocket(conn, { allowHalfOpen: options.allowHalfOpen ?? false });
    if (listener) socket.once('connect', listener);
    if (options.noDelay) socket.setNoDelay(true);
    if (options.keepAlive) socket.setKeepAlive(true, options.keepAliveInitialDelay ?? 0);
    if (options.timeout) socket.setTimeout(options.timeout);
    const signal = options.signal;
    if (signal) {
      const onAbort = () => socket.destroy(abortError(signal));
      if (signal.aborted) queueMicrotask(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return socket;
  };
  return {
    createServer(...args: unknown[]): StackServer {
      const listener =
        typeof args.at(-1) === 'function' ? (args.pop() as (s: StackSocket) => void) : undefined;
      const options = (args[0] as StackServerOptions | undefined) ?? {};
      return createStackServer(stack, options, listener);
    },
    connect: connect as NetApi['connect'],
    createConnection: connect as NetApi['createConnection'],
  };
}
