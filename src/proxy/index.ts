/**
 * The transparent proxy layer: a TransparentProxy on a stack's transparent
 * interfaces relays each TCP flow to its destination through a Dialer
 * (direct node:net sockets or a SOCKS5 server), under a Policy (allow,
 * deny, map). Node only (node:net). src/index.ts re-exports this file.
 */
export {
  TransparentProxy,
  type TransparentProxyOptions,
  type ProxyStats,
  type ProxyEvents,
  type RejectedFlow,
} from './proxy.js';
export {
  Relay,
  type RelayEvents,
  type RelayOptions,
  type RelaySummary,
  type RelayOutcome,
  type RelayDirection,
} from './relay.js';
export { Policy, type PolicyOptions, type PolicyDecision } from './policy.js';
export {
  DialError,
  directDialer,
  synAnswerFor,
  type Dialer,
  type DialTarget,
  type SynAnswer,
} from './dialer.js';
export { socks5Dialer, parseSocks5Url, type Socks5Options } from './socks5.js';
