/**
 * The packet side of the JavaScript packet fuzzer (packets.test.ts): a
 * seeded random source, the addresses in play, and builders for IPv4/IPv6
 * packets, TCP segments with random options, fragments and truncations.
 * Everything random here draws from the one seeded source, so a run replays
 * exactly from its seed.
 */
import { tryParseIp } from '../../src/index.js';
import { internetChecksum, transportChecksum } from '../../src/packet/index.js';

// ---- a seeded random source (xorshift32) ----

let state = 1;

/** Restarts the random source at `seed` (0 counts as 1). */
export function seedRandom(seed: number): void {
  state = seed >>> 0 || 1;
}
export function rand(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 0x100000000;
}
export const int = (n: number) => Math.floor(rand() * n);
export const u32 = () => (int(0x10000) * 0x10000 + int(0x10000)) >>> 0;
export const chance = (p: number) => rand() < p;
export function pick<T>(items: readonly T[]): T {
  return items[int(items.length)]!;
}
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(256);
  return out;
}

// ---- addresses ----

export function ip(text: string): Uint8Array {
  const parsed = tryParseIp(text);
  if (!parsed) throw new Error(`bad address ${text}`);
  return parsed.bytes;
}

export const A4 = ip('10.0.0.1');
export const B4 = ip('10.0.0.2');
export const A6 = ip('fd00::1');
export const B6 = ip('fd00::2');
export const OTHER4 = [
  '10.0.0.9',
  '192.168.1.1',
  '255.255.255.255',
  '10.0.0.255',
  '224.0.0.1',
  '0.0.0.0',
  '127.0.0.1',
].map(ip);
export const OTHER6 = [
  'fd00::9',
  'fe80::1',
  'ff02::1',
  '::',
  '::1',
  '2001:db8::1',
  '::ffff:10.0.0.1',
].map(ip);

// ---- packet building ----

export interface IpExtras {
  ttl?: number;
  id?: number;
  /** IPv4 options (a multiple of 4 bytes) or IPv6 extension headers (each 8 bytes, chained). */
  options?: Uint8Array;
  /** IPv6: the next-header values of the extension headers in `options`. */
  extTypes?: number[];
}

export function ipPacket(
  v6: boolean,
  src: Uint8Array,
  dst: Uint8Array,
  proto: number,
  body: Uint8Array,
  x: IpExtras = {},
): Uint8Array {
  const opts = x.options ?? new Uint8Array(0);
  if (!v6) {
    const hl = 20 + opts.length;
    const out = new Uint8Array(hl + body.length);
    const dv = new DataView(out.buffer);
    out[0] = 0x40 | (hl / 4);
    dv.setUint16(2, out.length);
    dv.setUint16(4, x.id ?? int(0x10000));
    out[8] = x.ttl ?? 64;
    out[9] = proto;
    out.set(src, 12);
    out.set(dst, 16);
    out.set(opts, 20);
    dv.setUint16(10, internetChecksum(out.subarray(0, hl)));
    out.set(body, hl);
    return out;
  }
  const out = new Uint8Array(40 + opts.length + body.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x60;
  dv.setUint16(4, opts.length + body.length);
  const types = x.extTypes ?? [];
  out[6] = types.length ? types[0]! : proto;
  out[7] = x.ttl ?? 64;
  out.set(src, 8);
  out.set(dst, 24);
  out.set(opts, 40);
  for (let i = 0; i < types.length; i++) {
    out[40 + i * 8] = i + 1 < types.length ? types[i + 1]! : proto;
    out[41 + i * 8] = 0;
  }
  out.set(body, 40 + opts.length);
  return out;
}

export interface Segment {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: Uint8Array;
  payload: Uint8Array;
  /** A data offset that does not match the options (garbage). */
  dataOffset?: number;
  badChecksum?: boolean;
}

export function tcpSegment(v6: boolean, src: Uint8Array, dst: Uint8Array, s: Segment): Uint8Array {
  const optLen = (s.options.length + 3) & ~3;
  const seg = new Uint8Array(20 + optLen + s.payload.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, s.sport);
  dv.setUint16(2, s.dport);
  dv.setUint32(4, s.seq >>> 0);
  dv.setUint32(8, s.ack >>> 0);
  seg[12] = (s.dataOffset ?? 5 + optLen / 4) << 4;
  seg[13] = s.flags;
  dv.setUint16(14, s.window);
  seg.set(s.options, 20);
  seg.set(s.payload, 20 + optLen);
  const sum = transportChecksum(src, dst, 6, seg);
  dv.setUint16(16, s.badChecksum ? sum ^ (1 + int(0xfffe)) : sum);
  return seg;
}

/** Random TCP options: valid ones, odd lengths, unknown kinds, cut-off ones. */
export function randomOptions(): Uint8Array {
  const out: number[] = [];
  const n = int(5);
  for (let i = 0; i < n && out.length < 36; i++) {
    switch (int(9)) {
      case 0:
        out.push(2, 4, int(256), int(256));
        break; // MSS
      case 1:
        out.push(3, 3, int(20));
        break; // window scale, maybe > 14
      case 2:
        out.push(4, 2);
        break; // SACK permitted
      case 3:
        out.push(8, 10, ...randomBytes(8));
        break; // timestamps
      case 4:
        out.push(5, 2 + 8 * (1 + int(3)), ...randomBytes(8));
        break; // SACK, length lies
      case 5:
        out.push(1);
        break; // NOP
      case 6:
        out.push(0);
        break; // EOL
      case 7:
        out.push(int(256), int(6));
        break; // any kind, short length
      default:
        out.push(int(256));
        break; // a kind with no length
    }
  }
  return Uint8Array.from(out.slice(0, 40));
}

/** Splits an IPv4 datagram into fragments, or an IPv6 one with Fragment headers. */
export function fragments(packet: Uint8Array): Uint8Array[] {
  const v6 = packet[0]! >> 4 === 6;
  const unit = 8 * (1 + int(40));
  const out: Uint8Array[] = [];
  const id = u32();
  const hl = v6 ? 40 : (packet[0]! & 15) * 4;
  const body = packet.subarray(hl);
  for (let off = 0; off < body.length; off += unit) {
    const part = body.subarray(off, Math.min(body.length, off + unit));
    const more = off + unit < body.length;
    if (!v6) {
      const f = new Uint8Array(hl + part.length);
      f.set(packet.subarray(0, hl));
      f.set(part, hl);
      const dv = new DataView(f.buffer);
      dv.setUint16(2, f.length);
      dv.setUint16(4, id & 0xffff);
      dv.setUint16(6, (more ? 0x2000 : 0) | (off / 8));
      dv.setUint16(10, 0);
      dv.setUint16(10, internetChecksum(f.subarray(0, hl)));
      out.push(f);
    } else {
      const f = new Uint8Array(48 + part.length);
      f.set(packet.subarray(0, 40));
      const dv = new DataView(f.buffer);
      dv.setUint16(4, 8 + part.length);
      f[6] = 44;
      f[40] = packet[6]!;
      dv.setUint16(42, off | (more ? 1 : 0));
      dv.setUint32(44, id);
      f.set(part, 48);
      out.push(f);
    }
  }
  if (chance(0.3)) out.reverse();
  if (chance(0.2) && out.length > 1) out.splice(int(out.length), 1); // never completes
  if (chance(0.2)) out.push(out[int(out.length)]!); // a duplicate
  return out;
}

/** Cuts a packet short; with `fixLength` the IP length field says so too. */
export function truncate(packet: Uint8Array, fixLength: boolean): Uint8Array {
  const cut = packet.slice(0, Math.max(1, packet.length - 1 - int(Math.min(packet.length, 64))));
  if (fixLength && cut.length >= 20) {
    const dv = new DataView(cut.buffer);
    if (cut[0]! >> 4 === 4) {
      dv.setUint16(2, cut.length);
      const hl = Math.min(cut.length, (cut[0]! & 15) * 4);
      dv.setUint16(10, 0);
      dv.setUint16(10, internetChecksum(cut.subarray(0, hl)));
    } else if (cut.length >= 40) {
      dv.setUint16(4, cut.length - 40);
    }
  }
  return cut;
}
