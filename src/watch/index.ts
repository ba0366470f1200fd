/**
 * The watcher API (seed 000) and the policies above it (seed 002): the
 * public names of src/watch, for src/index.ts to re-export.
 *
 *   accept:  createTcpAcceptWatcher -> onAccept(TcpStream)
 *   connect: createTcpConnectWatcher / createTcpClient -> onConnected(TcpStream)
 *   I/O:     createTcpConnectionWatcher(stream) -> onRecv / onClose / onError / onSendReady, trySend
 *
 * Errors are errno numbers (Linux values, errorToString) in callbacks and
 * StackError (kind 'configuration', naming the field) for bad arguments.
 */
export {
  parseEndpoint,
  formatEndpoint,
  ipEndpoint,
  endpointEquals,
  type IpEndpoint,
  type IpEndpointV4,
  type IpEndpointV6,
} from './endpoint.js';
export {
  OverflowPolicy,
  type TcpSocketOptions,
  type TcpAcceptOption,
  type TcpConnectOption,
  type TcpConnectionOption,
} from './options.js';
export { TcpStream, TcpStreamKind } from './stream.js';
export {
  createTcpAcceptWatcher,
  TcpAcceptWatcher,
  type OnAccept,
  type OnWatchError,
} from './accept-watcher.js';
export { createTcpConnectWatcher, TcpConnectWatcher, type OnConnected } from './connect-watcher.js';
export {
  createTcpConnectionWatcher,
  TcpConnectionWatcher,
  type OnRecv,
  type OnClose,
  type OnSendReady,
  type TrySendResult,
} from './connection-watcher.js';
export {
  createTcpClient,
  TcpClient,
  type TcpClientOption,
  type ReconnectOption,
  type OnClientError,
} from './client.js';
export { watchStats, type WatchStats, type ConnectionFigures } from './stats.js';
export type { WatchCounters } from './registry.js';
export { shutdownStack, type ShutdownOptions, type ShutdownReport } from './shutdown.js';
