/**
 * Crafting raw packets for tests and simulations: IPv4/IPv6 headers around
 * any payload, TCP segments with options, and ICMP/ICMPv6 echo messages,
 * all with correct checksums unless asked otherwise. The IP version follows
 * the address family of `src` and `dst`.
 */
import { tryParseIp, type IpAddress } from '../stack/address.js';
import { internetChecksum, transportChecksum } from './checksum.js';
import { flagsOf, flagsToBits, type TcpFlagsSpec } from './flags.js';
import { IpProtocol, type TcpOptions } from './parse.js';

/** Fields of craftIp. */
export interface CraftIpOptions {
  src: string;
  dst: string;
  /** Upper-layer protocol (IPv6: next header). */
  protocol: number;
  payload?: Uint8Array;
  /** TTL / hop limit; default 64. */
  ttl?: number;
  /** IPv4 identification; default 0. */
  id?: number;
  /** IPv4 Don't Fragment bit; default false. */
  dontFragment?: boolean;
}

/** Fields of craftTcp. Sequence and acknowledgment numbers wrap modulo 2^32. */
export interface CraftTcpOptions {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  /** Acknowledgment field; default 0 (written even when the ACK flag is clear). */
  ack?: number;
  /** 'S', 'SA', 'A', 'PA', 'FA', 'R', 'RA'... or an object of booleans. */
  flags: TcpFlagsSpec;
  /** Raw 16-bit window field; default 65535. */
  window?: number;
  options?: TcpOptions;
  /** Bytes (or text, UTF-8 encoded) after the header. */
  payload?: Uint8Array | string;
  urgentPointer?: number;
  ttl?: number;
  /** IPv4 identification; default 0. */
  id?: number;
  /** Writes a wrong TCP checksum (the right one with its low bit flipped). */
  badChecksum?: boolean;
}

/** Fields of craftIcmpEcho. */
export interface CraftIcmpEchoOptions {
  src: string;
  dst: string;
  id: number;
  seq: number;
  payload?: Uint8Array | string;
  /** An echo reply instead of a request. */
  reply?: boolean;
  ttl?: number;
  badChecksum?: boolean;
}

function address(text: string, field: string): IpAddress {
  const ip = tryParseIp(text);
  if (!ip) throw new Error(`craft: ${field} is not an IP address: ${JSON.stringify(text)}`);
  return ip;
}

function addresses(src: string, dst: string): [IpAddress, IpAddress] {
  const s = address(src, 'src');
  const d = address(dst, 'dst');
  if (s.family !== d.family)
    throw new Error(`craft: src ${src} and dst ${dst} are not of the same IP version`);
  return [s, d];
}

function uint(value: number | undefined, fallback: number, bits: 8 | 16, field: string): number {
  const v = value ?? fallback;
  const max = bits === 8 ? 0xff : 0xffff;
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new Error(`craft: ${field} must be an integer in 0..${max}, got ${String(v)}`);
  return v;
}

function u32(value: number, field: string): number {
  if (!Number.isFinite(value) || !Number.isInteger(value))
    throw new Error(`craft: ${field} must be an integer, got ${String(value)}`);
  return value >>> 0;
}

function bytesOf(payload: Uint8Array | string | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
}

/** Wraps `payload` in an IPv4 or IPv6 header (no extension headers). Throws on bad fields. */
export function craftIp(options: CraftIpOptions): Uint8Array {
  const [src, dst] = addresses(options.src, options.dst);
  return ipPacket(src, dst, options, options.payload ?? new Uint8Array(0));
}

function ipPacket(
  src: IpAddress,
  dst: IpAddress,
  o: Omit<CraftIpOptions, 'src' | 'dst' | 'payload'>,
  payload: Uint8Array,
): Uint8Array {
  const protocol = uint(o.protocol, 0, 8, 'protocol');
  const ttl = uint(o.ttl, 64, 8, 'ttl');
  if (src.family === 4) {
    const length = 20 + payload.length;
    if (length > 0xffff) throw new Error(`craft: IPv4 packet of ${length} bytes is too long`);
    const out = new Uint8Array(length);
    const dv = new DataView(out.buffer);
    out[0] = 0x45;
    dv.setUint16(2, length);
    dv.setUint16(4, uint(o.id, 0, 16, 'id'));
    dv.setUint16(6, o.dontFragment ? 0x4000 : 0);
    out[8] = ttl;
    out[9] = protocol;
    out.set(src.bytes, 12);
    out.set(dst.bytes, 16);
    dv.setUint16(10, internetChecksum(out.subarray(0, 20)));
    out.set(payload, 20);
    return out;
  }
  if (payload.length > 0xffff)
    throw new Error(`craft: IPv6 payload of ${payload.length} bytes is too long`);
  const out = new Uint8Array(40 + payload.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x60;
  dv.setUint16(4, payload.length);
  out[6] = protocol;
  out[7] = ttl;
  out.set(src.bytes, 8);
  out.set(dst.bytes, 24);
  out.set(payload, 40);
  return out;
}

/** Encodes TCP options, each padded with NOPs to a 4-byte boundary. Throws past 40 bytes. */
export function encodeTcpOptions(options: TcpOptions = {}): Uint8Array {
  const out: number[] = [];
  if (options.mss !== undefined) {
    const mss = uint(options.mss, 0, 16, 'options.mss');
    out.push(2, 4, mss >> 8, mss & 0xff);
  }
  if (options.wscale !== undefined) out.push(1, 3, 3, uint(options.wscale, 0, 8, 'options.wscale'));
  if (options.sackPermitted) out.push(1, 1, 4, 2);
  if (options.timestamp) {
    const [val, ecr] = options.timestamp;
    out.push(1, 1, 8, 10, ...be32(u32(val, 'timestamp[0]')), ...be32(u32(ecr, 'timestamp[1]')));
  }
  if (options.sack && options.sack.length > 0) {
    out.push(1, 1, 5, 2 + 8 * options.sack.length);
    for (const [l, r] of options.sack) out.push(...be32(u32(l, 'sack')), ...be32(u32(r, 'sack')));
  }
  if (out.length > 40)
    throw new Error(`craft: TCP options take ${out.length} bytes, at most 40 fit`);
  return Uint8Array.from(out);
}

function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/**
 * Builds an IPv4 or IPv6 packet carrying one TCP segment, checksums filled
 * in (unless badChecksum). Throws an Error naming the field on bad input.
 */
export function craftTcp(options: CraftTcpOptions): Uint8Array {
  const [src, dst] = addresses(options.src, options.dst);
  const opts = encodeTcpOptions(options.options);
  const payload = bytesOf(options.payload);
  const headerLength = 20 + opts.length;
  const seg = new Uint8Array(headerLength + payload.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, uint(options.srcPort, 0, 16, 'srcPort'));
  dv.setUint16(2, uint(options.dstPort, 0, 16, 'dstPort'));
  dv.setUint32(4, u32(options.seq, 'seq'));
  dv.setUint32(8, u32(options.ack ?? 0, 'ack'));
  seg[12] = (headerLength / 4) << 4;
  seg[13] = flagsToBits(flagsOf(options.flags));
  dv.setUint16(14, uint(options.window, 65535, 16, 'window'));
  dv.setUint16(18, uint(options.urgentPointer, 0, 16, 'urgentPointer'));
  seg.set(opts, 20);
  seg.set(payload, headerLength);
  let sum = transportChecksum(src.bytes, dst.bytes, IpProtocol.TCP, seg);
  if (options.badChecksum) sum ^= 1;
  dv.setUint16(16, sum);
  return ipPacket(src, dst, { protocol: IpProtocol.TCP, ttl: options.ttl, id: options.id }, seg);
}

/** Builds an ICMP (IPv4) or ICMPv6 echo request, or reply with `reply: true`. */
export function craftIcmpEcho(options: CraftIcmpEchoOptions): Uint8Array {
  const [src, dst] = addresses(options.src, options.dst);
  const payload = bytesOf(options.payload);
  const body = new Uint8Array(8 + payload.length);
  const dv = new DataView(body.buffer);
  const v4 = src.family === 4;
  body[0] = v4 ? (options.reply ? 0 : 8) : options.reply ? 129 : 128;
  dv.setUint16(4, uint(options.id, 0, 16, 'id'));
  dv.setUint16(6, uint(options.seq, 0, 16, 'seq'));
  body.set(payload, 8);
  const protocol = v4 ? IpProtocol.ICMP : IpProtocol.ICMPV6;
  let sum = v4 ? internetChecksum(body) : transportChecksum(src.bytes, dst.bytes, protocol, body);
  if (options.badChecksum) sum ^= 1;
  dv.setUint16(2, sum);
  return ipPacket(src, dst, { protocol, ttl: options.ttl }, body);
}
