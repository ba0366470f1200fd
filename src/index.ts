/**
 * lwip-wasm: a userspace TCP/IP stack for JavaScript. lwIP runs the TCP state
 * machine in WebAssembly; you feed it raw IP packets and get connections.
 *
 * Layers, bottom-up: src/wasm (loader, ABI) -> src/stack (stack core,
 * interfaces, clock, links) -> src/tcp (connection model, Stack). This file
 * is the whole public surface.
 */
export { Stack, type ListenOptions, type ConnectOptions } from './tcp/stack.js';
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
export { openTun, TunDevice, type TunOptions, type TunReceiver, type TunCounters } from './tun/device.js';
export { attachTun, type TunLink } from './tun/attach.js';
