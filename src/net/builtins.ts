/**
 * Node built-ins for the `net` adapter, loaded on first use with
 * process.getBuiltinModule, so that importing the package never pulls
 * node:stream into a browser bundle. Using the adapter outside Node throws
 * ERR_NODE_ONLY.
 */
import type * as events from 'node:events';
import type * as stream from 'node:stream';
import { StackError } from '../stack/errors.js';

interface Builtins {
  stream: typeof stream;
  events: typeof events;
}

let cached: Builtins | undefined;

export function nodeBuiltins(operation: string): Builtins {
  if (cached) return cached;
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  if (typeof get !== 'function') {
    throw StackError.invalidState(
      'ERR_NODE_ONLY',
      operation,
      'the net adapter needs Node.js (>= 20.16); in browsers use connection.readable / connection.writable',
    );
  }
  cached = {
    stream: get('node:stream') as typeof stream,
    events: get('node:events') as typeof events,
  };
  return cached;
}
