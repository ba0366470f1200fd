/**
 * Endpoints of the watcher API (seed 000, section 4.2): an already resolved
 * IP address and a port, as a tagged union. No name resolution happens
 * here or anywhere in src/watch.
 *
 * This module is the one place that converts between IpEndpoint and the
 * address forms the TCP layer speaks (address text plus port for
 * Stack.listen/connect, TcpEndpoint for what a connection reports). The IP
 * text parser and formatter are src/stack/address.ts's, reused.
 */
import { formatIp, tryParseIp, type IpAddress } from '../stack/address.js';
import { StackError } from '../stack/errors.js';
import type { TcpEndpoint } from '../tcp/endpoint.js';

/** An IPv4 endpoint. `ip` holds 4 bytes in network order; `port` is in host order. */
export interface IpEndpointV4 {
  readonly family: 'v4';
  readonly ip: Uint8Array;
  readonly port: number;
}

/** An IPv6 endpoint. `ip` holds 16 bytes; `scopeId` is the zone index (0: none). */
export interface IpEndpointV6 {
  readonly family: 'v6';
  readonly ip: Uint8Array;
  readonly port: number;
  readonly scopeId: number;
}

/** An IP address and port: branch on `family`. */
export type IpEndpoint = IpEndpointV4 | IpEndpointV6;

const PORT = /^\d{1,5}$/;

function bad(operation: string, field: string, problem: string): StackError {
  return StackError.invalidArgument(operation, field, problem);
}

function parsePort(text: string, operation: string, field: string): number {
  if (!PORT.test(text) || Number(text) > 65535)
    throw bad(operation, field, `has a bad port (0..65535): ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * Parses '1.2.3.4:80' or '[fd00::1]:80' / '[fe80::1%3]:80' (IPv6 in
 * brackets, an optional numeric zone after '%'). Port 0 is allowed (it
 * means "any" when binding). Throws StackError ERR_INVALID_ARGUMENT, kind
 * 'configuration', naming `field` (default 'endpoint').
 */
export function parseEndpoint(text: string, field = 'endpoint'): IpEndpoint {
  const op = 'parseEndpoint';
  if (typeof text !== 'string') throw bad(op, field, 'must be a string like "10.0.0.1:80"');
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':')
      throw bad(op, field, `must look like "[fd00::1]:80": ${JSON.stringify(text)}`);
    const ip = tryParseIp(text.slice(1, close));
    if (!ip || ip.family !== 6)
      throw bad(op, field, `has a bad IPv6 address: ${JSON.stringify(text)}`);
    const port = parsePort(text.slice(close + 2), op, field);
    return { family: 'v6', ip: ip.bytes, port, scopeId: ip.scopeId };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw bad(op, field, `has no port: ${JSON.stringify(text)}`);
  const host = text.slice(0, colon);
  if (host.includes(':'))
    throw bad(op, field, `needs brackets around an IPv6 address: ${JSON.stringify(text)}`);
  const ip = tryParseIp(host);
  if (!ip || ip.family !== 4)
    throw bad(op, field, `has a bad IPv4 address: ${JSON.stringify(text)}`);
  return { family: 'v4', ip: ip.bytes, port: parsePort(text.slice(colon + 1), op, field) };
}

/**
 * Builds an endpoint from address text ('10.0.0.1', 'fd00::1', 'fe80::1%3')
 * and a port. Throws like parseEndpoint, naming `field`.
 */
export function ipEndpoint(address: string, port: number, field = 'address'): IpEndpoint {
  const op = 'ipEndpoint';
  const ip = tryParseIp(address);
  if (!ip) throw bad(op, field, `is not an IP address: ${JSON.stringify(address)}`);
  checkPort(port, op, 'port', 0);
  return ip.family === 4
    ? { family: 'v4', ip: ip.bytes, port }
    : { family: 'v6', ip: ip.bytes, port, scopeId: ip.scopeId };
}

/** '1.2.3.4:80', '[fd00::1]:80', '[fe80::1%3]:80'. Throws on a malformed endpoint. */
export function formatEndpoint(endpoint: IpEndpoint): string {
  const ep = checkEndpoint(endpoint, 'formatEndpoint', 'endpoint');
  return ep.family === 'v4'
    ? `${formatIp(ep.ip)}:${ep.port}`
    : `[${formatIp(ep.ip, ep.scopeId)}]:${ep.port}`;
}

function checkPort(value: unknown, operation: string, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 65535)
    throw bad(operation, field, `must be an integer in ${min}..65535, got ${String(value)}`);
  return value;
}

/**
 * Validates an endpoint given by a caller and returns a private copy
 * (later changes to the caller's bytes do not reach us). `minPort` is 1
 * for connect targets, 0 where 0 means "pick one". Throws StackError
 * ERR_INVALID_ARGUMENT naming `field` (e.g. 'option.localBind.port').
 * @internal
 */
export function checkEndpoint(
  value: unknown,
  operation: string,
  field: string,
  minPort = 0,
): IpEndpoint {
  if (typeof value !== 'object' || value === null)
    throw bad(operation, field, 'must be an IpEndpoint object (see parseEndpoint)');
  const ep = value as { family?: unknown; ip?: unknown; port?: unknown; scopeId?: unknown };
  if (ep.family !== 'v4' && ep.family !== 'v6')
    throw bad(operation, `${field}.family`, `must be 'v4' or 'v6', got ${String(ep.family)}`);
  const len = ep.family === 'v4' ? 4 : 16;
  if (!(ep.ip instanceof Uint8Array) || ep.ip.length !== len)
    throw bad(operation, `${field}.ip`, `must be a Uint8Array of ${len} bytes`);
  const port = checkPort(ep.port, operation, `${field}.port`, minPort);
  if (ep.family === 'v4') return { family: 'v4', ip: ep.ip.slice(), port };
  const scopeId = ep.scopeId ?? 0;
  if (
    typeof scopeId !== 'number' ||
    !Number.isInteger(scopeId) ||
    scopeId < 0 ||
    scopeId > 0xffffffff
  )
    throw bad(operation, `${field}.scopeId`, 'must be an integer in 0..4294967295');
  return { family: 'v6', ip: ep.ip.slice(), port, scopeId };
}

// ---- conversions to and from the TCP layer's address forms ----

/** @internal The IpAddress (bytes + family number) of an endpoint. */
export function toIpAddress(ep: IpEndpoint): IpAddress {
  return ep.family === 'v4'
    ? { family: 4, bytes: ep.ip, scopeId: 0 }
    : { family: 6, bytes: ep.ip, scopeId: ep.scopeId };
}

/** @internal Address text as Stack.listen/connect take it. */
export function toAddressText(ep: IpEndpoint): string {
  return ep.family === 'v4' ? formatIp(ep.ip) : formatIp(ep.ip, ep.scopeId);
}

/** @internal An endpoint from what a TcpConnection or TcpListener reports. */
export function fromTcpEndpoint(te: TcpEndpoint): IpEndpoint | undefined {
  const ip = tryParseIp(te.address);
  if (!ip) return undefined;
  return ip.family === 4
    ? { family: 'v4', ip: ip.bytes, port: te.port }
    : { family: 'v6', ip: ip.bytes, port: te.port, scopeId: ip.scopeId };
}

/** @internal True for 0.0.0.0 and ::. */
export function isUnspecified(ep: IpEndpoint): boolean {
  return ep.ip.every((b) => b === 0);
}

/** True when both name the same family, address, port (and zone). */
export function endpointEquals(a: IpEndpoint, b: IpEndpoint): boolean {
  if (a.family !== b.family || a.port !== b.port || a.ip.length !== b.ip.length) return false;
  if (a.family === 'v6' && b.family === 'v6' && a.scopeId !== b.scopeId) return false;
  return a.ip.every((x, i) => x === b.ip[i]);
}
