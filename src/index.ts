/**
 * lwip-wasm: a userspace TCP/IP stack for JavaScript. lwIP runs the TCP state
 * machine in WebAssembly; you feed it raw IP packets and get connections.
 *
 * Layers, bottom-up: src/wasm (loader, ABI) -> src/stack (stack core,
 * interfaces, clock, links) -> src/tcp (connection model, Stack). This file
 * is the whole public surface.
 */
import { netApiOf, type NetApi } from './net/api.js';
import { streamsOf, type ConnectionStreams } from './streams/connection-streams.js';
import { TcpConnection } from './tcp/connection.js';
import { Stack } from './tcp/stack.js';

// Adapters are attached here, at the top of the layers, so that the stack
// and connection model below never depend on them.
declare module './tcp/stack.js' {
  interface Stack {
    /** node:net-shaped API over this stack (Node.js only). */
    readonly net: NetApi;
  }
}
declare module './tcp/connection.js' {
  interface TcpConnection {
    /**
     * The connection as web streams, `{ readable, writable }` (the shape of
     * WebSocketStream/WebTransport): `readable` pauses delivery when its
     * queue is full; `writable.close()` sends FIN, `abort()` resets. (They
     * are not `connection.readable/writable` themselves: `writable` is the
     * connection model's boolean and `readable` its event.)
     */
    readonly streams: ConnectionStreams;
  }
}
Object.defineProperty(Stack.prototype, 'net', {
  get(this: Stack) {
    return netApiOf(this);
  },
});
Object.defineProperty(TcpConnection.prototype, 'streams', {
  get(this: TcpConnection) {
    return streamsOf(this);
  },
});

export {
  Stack,
  type ListenOptions,
  type ConnectOptions,
  type ConnectionFigures,
  type TcpStackStats,
  type StackShutdownReport,
} from './tcp/stack.js';
export type { NetApi, StackConnectOptions } from './net/api.js';
export type { StackServer, StackServerOptions, StackListenOptions } from './net/server.js';
export type { StackSocket, StackSocketOptions } from './net/socket.js';
export type { ConnectionStreams } from './streams/connection-streams.js';
export type { StackOptions, StackStats } from './stack/core.js';
export {
  NetInterface,
  type InterfaceOptions,
  type InterfaceCounters,
  type OutputReceiver,
} from './stack/interface.js';
export { linkInterfaces, type Link, type LinkOptions } from './stack/link.js';
export { RealClock, VirtualClock, type Clock, type TimerClient } from './stack/clock.js';
export {
  StackError,
  Errno,
  errorToString,
  errnoName,
  type ErrorKind,
  type ErrnoName,
} from './stack/errors.js';
export { tryParseIp, formatIp, type IpAddress } from './stack/address.js';
export {
  TcpConnection,
  type TcpConnectionEvents,
  type TcpConnectionInfo,
} from './tcp/connection.js';
export { TcpListener, type ConnectionHandler, type SynHandler } from './tcp/listener.js';
export { HeldSyn, type HeldSynEvents } from './tcp/held-syn.js';
export { TerminationReason } from './tcp/reason.js';
export type { TcpEndpoint } from './tcp/endpoint.js';
export type { WasmSource } from './wasm/loader.js';
export * from './packet/index.js';
export * from './pcap/index.js';
export type { PacketTap } from './stack/interface.js';
export {
  openTun,
  TunDevice,
  type TunOptions,
  type TunReceiver,
  type TunReceiveOptions,
  type TunCounters,
} from './tun/device.js';
export { attachTun, type TunLink } from './tun/attach.js';
export * from './watch/index.js';
export * from './sim/index.js';
export * from './proxy/index.js';
