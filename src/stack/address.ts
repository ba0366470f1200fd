/**
 * IP addresses as text and as bytes. The stack passes addresses to WASM as
 * network-order bytes; users write them as text ('10.0.0.1', 'fd00::1',
 * 'fe80::1%3'). This is the one place that converts between the two.
 */
import { StackError } from './errors.js';

/** An IP address in bytes: 4 for IPv4, 16 for IPv6. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  /** IPv6 zone (scope id), 0 when none. */
  readonly scopeId: number;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(text: string): Uint8Array | undefined {
  const m = V4.exec(text);
  if (!m) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1]!;
    if (part.length > 1 && part[0] === '0') return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address (IPv6 may carry '%zone', a number). */
export function tryParseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = parseV4(text);
  if (v4) return { family: 4, bytes: v4, scopeId: 0 };
  let scopeId = 0;
  let body = text;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    const zone = text.slice(pct + 1);
    if (!/^\d+$/.test(zone) || Number(zone) > 0xffffffff) return undefined;
    scopeId = Number(zone);
    body = text.slice(0, pct);
  }
  const v6 = parseV6(body);
  return v6 ? { family: 6, bytes: v6, scopeId } : undefined;
}

/** Like tryParseIp, but throws a StackError naming `field` on bad text. */
export function parseIp(text: string, operation: string, field: string): IpAddress {
  const ip = tryParseIp(text);
  if (!ip)
    throw StackError.invalidArgument(
      operation,
      field,
      `is not an IP address: ${JSON.stringify(text)}`,
    );
  return ip;
}

/** Formats address bytes as text (RFC 5952 for IPv6: lowercase, longest zero run as '::'). */
export function formatIp(bytes: Uint8Array, scopeId = 0): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  const text =
    bestStart < 0 ? hex(g) : `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
  return scopeId ? `${text}%${scopeId}` : text;
}

/** An address with a prefix length, e.g. '10.0.0.1/24'. */
export interface Cidr {
  readonly ip: IpAddress;
  readonly prefix: number;
}

/** Parses 'address/prefix' (prefix defaults to 32 or 128). */
export function parseCidr(text: string, operation: string, field: string): Cidr {
  if (typeof text !== 'string')
    throw StackError.invalidArgument(operation, field, 'must be a string like "10.0.0.1/24"');
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash), operation, field);
  const max = ip.family === 4 ? 32 : 128;
  if (slash < 0) return { ip, prefix: max };
  const p = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max)
    throw StackError.invalidArgument(
      operation,
      field,
      `has a bad prefix length: ${JSON.stringify(text)}`,
    );
  return { ip, prefix: Number(p) };
}

/** True when `ip` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.ip.family !== ip.family) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.ip.bytes[i]! & mask) !== (ip.bytes[i]! & mask)) return false;
  }
  return true;
}
