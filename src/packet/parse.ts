/**
 * Parsing raw IPv4/IPv6 packets (as an interface emits or takes them) into
 * plain objects: the IP header, then TCP or ICMP/ICMPv6 when present. It
 * reads, never trusts: any byte string gives a ParsedPacket or undefined,
 * never an exception, so it can sit in packet filters and fuzz tests.
 */
import { formatIp } from '../stack/address.js';
import { transportChecksum, internetChecksum } from './checksum.js';
import { flagsFromBits, type TcpFlags } from './flags.js';

/** IP protocol numbers this library knows by name. */
export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

/** TCP options this library reads and writes. */
export interface TcpOptions {
  /** Maximum segment size (kind 2). */
  mss?: number;
  /** Window scale shift count (kind 3). */
  wscale?: number;
  /** SACK permitted (kind 4). */
  sackPermitted?: boolean;
  /** SACK blocks as [left, right) sequence numbers (kind 5). */
  sack?: [number, number][];
  /** Timestamps [TSval, TSecr] (kind 8). */
  timestamp?: [number, number];
}

/** A parsed TCP header. Sequence numbers are unsigned 32-bit. */
export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: TcpFlags;
  /** The raw window field (not scaled). */
  window: number;
  urgentPointer: number;
  options: TcpOptions;
  /** Bytes of header including options. */
  headerLength: number;
  payloadLength: number;
  checksum: number;
  /** Whether the checksum over the pseudo-header and segment is right. */
  checksumOk: boolean;
}

/** A parsed ICMP (IPv4) or ICMPv6 header. id and seq are set for echo request/reply. */
export interface IcmpHeader {
  type: number;
  code: number;
  id?: number;
  seq?: number;
  checksum: number;
  checksumOk: boolean;
}

/** Fragment fields (IPv4 header or IPv6 Fragment header); offset in bytes. */
export interface FragmentInfo {
  id: number;
  offset: number;
  more: boolean;
}

/**
 * One parsed IP packet. `protocol` is the upper-layer protocol (after IPv6
 * extension headers); `ttl` is the hop limit for IPv6; `length` is the IP
 * packet length its header declares (trailing bytes beyond it are ignored).
 * `payload` is what follows the TCP or ICMP header, or the whole IP payload
 * for other protocols and fragments; it is a view into the given bytes.
 */
export interface ParsedPacket {
  version: 4 | 6;
  src: string;
  dst: string;
  srcBytes: Uint8Array;
  dstBytes: Uint8Array;
  protocol: number;
  ttl: number;
  length: number;
  /** IPv4 header checksum check; always true for IPv6, which has none. */
  ipChecksumOk: boolean;
  /** Set for fragments; transport headers are only parsed in unfragmented packets. */
  fragment?: FragmentInfo;
  tcp?: TcpHeader;
  icmp?: IcmpHeader;
  payload: Uint8Array;
}

const IPV6_EXTENSIONS = new Set([0, 43, 44, 60]);

/**
 * Parses one raw IP packet. Returns undefined for anything that is not a
 * well-formed IPv4/IPv6 packet, or whose TCP/ICMP header does not fit.
 * Checksums are reported (checksumOk), not enforced. Never throws.
 */
export function parsePacket(bytes: Uint8Array): ParsedPacket | undefined {
  try {
    if (!(bytes instanceof Uint8Array) || bytes.length < 1) return undefined;
    const version = bytes[0]! >> 4;
    if (version === 4) return parseV4(bytes);
    if (version === 6) return parseV6(bytes);
    return undefined;
  } catch {
    // Defensive: the parsers check bounds, but a filter must never throw.
    return undefined;
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function parseV4(bytes: Uint8Array): ParsedPacket | undefined {
  if (bytes.length < 20) return undefined;
  const dv = view(bytes);
  const ihl = (bytes[0]! & 0x0f) * 4;
  const length = dv.getUint16(2);
  if (ihl < 20 || length < ihl || length > bytes.length) return undefined;
  const fragWord = dv.getUint16(6);
  const more = (fragWord & 0x2000) !== 0;
  const offset = (fragWord & 0x1fff) * 8;
  const srcBytes = bytes.slice(12, 16);
  const dstBytes = bytes.slice(16, 20);
  const base = {
    version: 4 as const,
    src: formatIp(srcBytes),
    dst: formatIp(dstBytes),
    srcBytes,
    dstBytes,
    protocol: bytes[9]!,
    ttl: bytes[8]!,
    length,
    ipChecksumOk: internetChecksum(bytes.subarray(0, ihl)) === 0,
  };
  const body = bytes.subarray(ihl, length);
  if (more || offset > 0)
    return { ...base, fragment: { id: dv.getUint16(4), offset, more }, payload: body };
  return withTransport(base, body);
}

function parseV6(bytes: Uint8Array): ParsedPacket | undefined {
  if (bytes.length < 40) return undefined;
  const dv = view(bytes);
  const length = 40 + dv.getUint16(4);
  // A zero payload length with a Hop-by-Hop header would be a jumbogram; not supported.
  if (length > bytes.length) return undefined;
  const srcBytes = bytes.slice(8, 24);
  const dstBytes = bytes.slice(24, 40);
  let next = bytes[6]!;
  let off = 40;
  let fragment: FragmentInfo | undefined;
  for (let hops = 0; IPV6_EXTENSIONS.has(next); hops++) {
    if (hops >= 16 || off + 8 > length) return undefined;
    const nextNext = bytes[off]!;
    if (next === 44) {
      const word = dv.getUint16(off + 2);
      fragment = { id: dv.getUint32(off + 4), offset: word & 0xfff8, more: (word & 1) !== 0 };
      off += 8;
    } else {
      off += 8 + bytes[off + 1]! * 8;
      if (off > length) return undefined;
    }
    next = nextNext;
    if (fragment && (fragment.more || fragment.offset > 0)) break;
  }
  const base = {
    version: 6 as const,
    src: formatIp(srcBytes),
    dst: formatIp(dstBytes),
    srcBytes,
    dstBytes,
    protocol: next,
    ttl: bytes[7]!,
    length,
    ipChecksumOk: true,
  };
  const body = bytes.subarray(off, length);
  if (fragment && (fragment.more || fragment.offset > 0))
    return { ...base, fragment, payload: body };
  return withTransport(fragment ? { ...base, fragment } : base, body);
}

type IpPart = Omit<ParsedPacket, 'payload' | 'tcp' | 'icmp'>;

function withTransport(ip: IpPart, body: Uint8Array): ParsedPacket | undefined {
  if (ip.protocol === IpProtocol.TCP) {
    const tcp = parseTcp(ip, body);
    if (!tcp) return undefined;
    return { ...ip, tcp, payload: body.subarray(tcp.headerLength) };
  }
  const isIcmp =
    (ip.version === 4 && ip.protocol === IpProtocol.ICMP) ||
    (ip.version === 6 && ip.protocol === IpProtocol.ICMPV6);
  if (isIcmp) {
    if (body.length < 8) return undefined;
    return { ...ip, icmp: parseIcmp(ip, body), payload: body.subarray(8) };
  }
  return { ...ip, payload: body };
}

function parseTcp(ip: IpPart, seg: Uint8Array): TcpHeader | undefined {
  if (seg.length < 20) return undefined;
  const dv = view(seg);
  const headerLength = (seg[12]! >> 4) * 4;
  if (headerLength < 20 || headerLength > seg.length) return undefined;
  return {
    srcPort: dv.getUint16(0),
    dstPort: dv.getUint16(2),
    seq: dv.getUint32(4),
    ack: dv.getUint32(8),
    flags: flagsFromBits(seg[13]!),
    window: dv.getUint16(14),
    checksum: dv.getUint16(16),
    urgentPointer: dv.getUint16(18),
    options: parseTcpOptions(seg.subarray(20, headerLength)),
    headerLength,
    payloadLength: seg.length - headerLength,
    checksumOk: transportChecksum(ip.srcBytes, ip.dstBytes, IpProtocol.TCP, seg) === 0,
  };
}

/** Reads TCP options; stops quietly at a malformed one (what was read so far is kept). */
export function parseTcpOptions(opts: Uint8Array): TcpOptions {
  const out: TcpOptions = {};
  const dv = view(opts);
  let i = 0;
  while (i < opts.length) {
    const kind = opts[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= opts.length) break;
    const len = opts[i + 1]!;
    if (len < 2 || i + len > opts.length) break;
    if (kind === 2 && len === 4) out.mss = dv.getUint16(i + 2);
    else if (kind === 3 && len === 3) out.wscale = opts[i + 2]!;
    else if (kind === 4 && len === 2) out.sackPermitted = true;
    else if (kind === 5 && (len - 2) % 8 === 0) {
      const blocks: [number, number][] = [];
      for (let b = i + 2; b < i + len; b += 8) blocks.push([dv.getUint32(b), dv.getUint32(b + 4)]);
      out.sack = blocks;
    } else if (kind === 8 && len === 10) out.timestamp = [dv.getUint32(i + 2), dv.getUint32(i + 6)];
    i += len;
  }
  return out;
}

function parseIcmp(ip: IpPart, body: Uint8Array): IcmpHeader {
  const dv = view(body);
  const type = body[0]!;
  const checksumOk =
    ip.version === 4
      ? internetChecksum(body) === 0
      : transportChecksum(ip.srcBytes, ip.dstBytes, IpProtocol.ICMPV6, body) === 0;
  const echo = ip.version === 4 ? type === 0 || type === 8 : type === 128 || type === 129;
  const header: IcmpHeader = { type, code: body[1]!, checksum: dv.getUint16(2), checksumOk };
  if (echo) {
    header.id = dv.getUint16(4);
    header.seq = dv.getUint16(6);
  }
  return header;
}
