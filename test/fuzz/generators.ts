/**
 * What the JavaScript packet fuzzer (packets.test.ts) feeds into a stack
 * that carries live transfers: the generators of its seven kinds of packet
 * and the tracking they aim with. Flows follows each live connection from
 * the packets on the other stack's interface (its addresses, ports and the
 * highest sequence and acknowledgment numbers each side sent), so that a
 * generator can forge a segment for it whose numbers lwIP must ignore, or
 * numbers right at the live values behind a checksum or length that must
 * fail. The rules these packets follow, and why, are in packets.test.ts.
 */
import { internetChecksum, parsePacket, transportChecksum } from '../../src/packet/index.js';
import { concat } from '../helpers/net.js';
import {
  A4,
  A6,
  B4,
  B6,
  OTHER4,
  OTHER6,
  chance,
  fragments,
  int,
  ipPacket,
  pick,
  randomBytes,
  randomOptions,
  tcpSegment,
  truncate,
  u32,
  type IpExtras,
  type Segment,
} from './wire.js';

// ---- what the live connections look like on the wire ----

const seqAfter = (a: number, b: number) => ((a - b) | 0) > 0;

/** One live connection as b sees it, from the packets on a's interface. */
export interface Flow {
  v6: boolean;
  a: Uint8Array;
  b: Uint8Array;
  aPort: number;
  bPort: number;
  /** Highest acknowledgment a sent: b's data a has. */
  ackFromA: number;
  /** Highest acknowledgment b sent: a's data b has. */
  ackFromB: number;
  /** Highest sequence number after b's data. */
  endFromB: number;
}

export class Flows {
  readonly byKey = new Map<string, Flow | undefined>();
  readonly live: Flow[] = [];
  readonly recent: Uint8Array[] = [];

  /** Taps a's interface: 'out' is a's real traffic to b, 'in' is b's. */
  observe(packet: Uint8Array, direction: 'in' | 'out'): void {
    if (direction === 'out') {
      if (this.recent.length < 4096) this.recent.push(packet.slice());
      else if (chance(0.05)) this.recent[int(this.recent.length)] = packet.slice();
    }
    const p = parsePacket(packet);
    const tcp = p?.tcp;
    if (!p || !tcp) return;
    const fromA = direction === 'out';
    const aPort = fromA ? tcp.srcPort : tcp.dstPort;
    const bPort = fromA ? tcp.dstPort : tcp.srcPort;
    const key = `${p.version}|${aPort}|${bPort}`;
    // a's own SYNs (only real traffic passes a's interface) open the connections to follow
    if (fromA && tcp.flags.syn && !tcp.flags.ack) this.byKey.set(key, undefined);
    if (!this.byKey.has(key)) return;
    let f = this.byKey.get(key);
    if (!f) {
      if (!tcp.flags.ack) return; // known once both sides spoke
      f = {
        v6: p.version === 6,
        a: fromA ? p.srcBytes : p.dstBytes,
        b: fromA ? p.dstBytes : p.srcBytes,
        aPort,
        bPort,
        ackFromA: fromA ? tcp.ack : tcp.seq,
        ackFromB: fromA ? tcp.seq : tcp.ack,
        endFromB: fromA ? tcp.ack : tcp.seq,
      };
      this.byKey.set(key, f);
      this.live.push(f);
    }
    if (fromA) {
      if (tcp.flags.ack && seqAfter(tcp.ack, f.ackFromA)) f.ackFromA = tcp.ack;
    } else {
      if (tcp.flags.ack && seqAfter(tcp.ack, f.ackFromB)) f.ackFromB = tcp.ack;
      const end =
        (tcp.seq + tcp.payloadLength + (tcp.flags.syn ? 1 : 0) + (tcp.flags.fin ? 1 : 0)) >>> 0;
      if (seqAfter(end, f.endFromB)) f.endFromB = end;
    }
  }

  isLive(v6: boolean, bPort: number, aPort: number): boolean {
    return this.byKey.has(`${v6 ? 6 : 4}|${aPort}|${bPort}`);
  }

  any(): Flow | undefined {
    return this.live.length ? pick(this.live) : undefined;
  }
}

/** A sequence number b must ignore: well behind everything it acknowledged. */
const oldSeq = (f: Flow, len: number) => (f.ackFromB - (1 << 17) - int(1 << 23) - len) >>> 0;
/** An acknowledgment that acknowledges nothing: well behind, or far ahead of b's data. */
const uselessAck = (f: Flow) =>
  chance(0.5)
    ? (f.ackFromA - (1 << 17) - int(1 << 23)) >>> 0
    : (f.endFromB + (1 << 26) + int(1 << 24)) >>> 0;
/** Numbers right at the live values, for packets that must fail a check anyway. */
const nearSeq = (f: Flow) => (f.ackFromB + int(4096) - 2048) >>> 0;
const nearAck = (f: Flow) => (f.ackFromA + int(4096) - 2048) >>> 0;

// ---- the generators ----

export interface Ctx {
  flows: Flows;
  /** Ports b listens on. */
  listening: number[];
}

function endpoints(ctx: Ctx): {
  v6: boolean;
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
} {
  const v6 = chance(0.5);
  const src = chance(0.6) ? (v6 ? A6 : A4) : pick(v6 ? OTHER6 : OTHER4);
  const dst = chance(0.85) ? (v6 ? B6 : B4) : pick(v6 ? OTHER6 : OTHER4);
  const dport = chance(0.5)
    ? pick(ctx.listening)
    : chance(0.5)
      ? int(0x10000)
      : pick([0, 1, 65535, 8080]);
  const sport = int(0x10000);
  return { v6, src, dst, sport, dport };
}

function randomSegmentFields(payloadMax: number): Omit<Segment, 'sport' | 'dport' | 'seq' | 'ack'> {
  return {
    flags: chance(0.7)
      ? pick([0x02, 0x10, 0x18, 0x11, 0x04, 0x14, 0x12, 0x01, 0x00, 0x3f])
      : int(256),
    window: chance(0.8) ? int(0x10000) : pick([0, 1, 65535]),
    options: chance(0.5) ? randomOptions() : new Uint8Array(0),
    payload: chance(0.5) ? randomBytes(int(payloadMax)) : new Uint8Array(0),
    dataOffset: chance(0.03) ? int(16) : undefined,
  };
}

/** Wraps a segment, then maybe fragments or truncates it. */
function deliverable(v6: boolean, src: Uint8Array, dst: Uint8Array, seg: Uint8Array): Uint8Array[] {
  let x: IpExtras = {};
  if (chance(0.05)) {
    if (v6) {
      const types = [pick([0, 60, 43])];
      if (chance(0.3)) types.push(60);
      x = { options: randomBytes(8 * types.length), extTypes: types };
      // the length byte of each header says 8 bytes
      for (let i = 0; i < types.length; i++) x.options![i * 8 + 1] = 0;
    } else {
      x = { options: randomBytes(4 * (1 + int(10))) };
    }
  }
  const packet = ipPacket(v6, src, dst, 6, seg, x);
  if (chance(0.05)) return fragments(packet);
  // Cut short, with the IP length fixed up or not (the TCP checksum is not).
  if (chance(0.05)) return [truncate(packet, chance(0.5))];
  return [packet];
}

/**
 * Options for segments that reach a live connection: well-formed, MSS among
 * them. lwIP's tcp_parseopt() used to apply the MSS option of ANY segment
 * that reached a pcb, without the MTU clamp it uses for SYNs, so a forged
 * segment that knew the 4-tuple could set a live connection's MSS to 1 or
 * to 65475 and stall the transfer for good; this test found it, lwIP patch
 * 0009 fixed it, and the MSS options here keep it fixed.
 */
function liveOptions(): Uint8Array {
  const out: number[] = [];
  const n = int(4);
  for (let i = 0; i < n && out.length < 28; i++) {
    switch (int(7)) {
      case 0:
        out.push(3, 3, int(20));
        break;
      case 1:
        out.push(4, 2);
        break;
      case 2:
        out.push(8, 10, ...randomBytes(8));
        break;
      case 3:
        out.push(5, 10, ...randomBytes(8));
        break;
      case 4:
        out.push(1);
        break;
      case 5:
        out.push(2, 4, int(256), int(256));
        break; // MSS, ignored without SYN
      default:
        out.push(pick([6, 7, 9, 30, 254]), 4, int(256), int(256));
        break;
    }
  }
  return Uint8Array.from(out);
}

/** 1. A segment aimed at a live connection, with numbers it must ignore. */
function liveSafe(ctx: Ctx): Uint8Array[] {
  const f = ctx.flows.any();
  if (!f) return randomTcp(ctx);
  const fields = { ...randomSegmentFields(1500), options: liveOptions(), dataOffset: undefined };
  const seg = tcpSegment(f.v6, f.a, f.b, {
    ...fields,
    sport: f.aPort,
    dport: f.bPort,
    seq: oldSeq(f, fields.payload.length + 2),
    ack: uselessAck(f),
    badChecksum: chance(0.2),
  });
  return deliverable(f.v6, f.a, f.b, seg);
}

/** 2. Right at the live numbers, but with a broken checksum or a cut datagram. */
function liveNear(ctx: Ctx): Uint8Array[] {
  const f = ctx.flows.any();
  if (!f) return randomTcp(ctx);
  const fields = randomSegmentFields(1500);
  const how = int(3);
  const seg = tcpSegment(f.v6, f.a, f.b, {
    ...fields,
    sport: f.aPort,
    dport: f.bPort,
    seq: nearSeq(f),
    ack: nearAck(f),
    badChecksum: how === 0,
  });
  const packet = ipPacket(f.v6, f.a, f.b, 6, seg);
  if (how === 1) {
    // The datagram claims at least one byte more than it has.
    return [packet.slice(0, packet.length - 1 - int(Math.min(16, packet.length - 40)))];
  }
  if (how === 2 && !f.v6) {
    packet[10]! ^= 1 + int(255); // IPv4 header checksum broken
    return [packet];
  }
  const dv = new DataView(packet.buffer);
  const at = (f.v6 ? 40 : 20) + 16;
  dv.setUint16(at, dv.getUint16(at) ^ (1 + int(0xfffe)));
  return [packet];
}

/** 3. Random TCP to listeners, closed ports, odd addresses. */
function randomTcp(ctx: Ctx): Uint8Array[] {
  const e = endpoints(ctx);
  if (ctx.flows.isLive(e.v6, e.dport, e.sport) && (e.src === A4 || e.src === A6)) return [];
  const seg = tcpSegment(e.v6, e.src, e.dst, {
    ...randomSegmentFields(600),
    sport: e.sport,
    dport: e.dport,
    seq: u32(),
    ack: u32(),
    badChecksum: chance(0.1),
  });
  return deliverable(e.v6, e.src, e.dst, seg);
}

/** 4. Real traffic, moved to a closed port, then byte-mutated, checksums fixed up or not. */
function mutated(ctx: Ctx): Uint8Array[] {
  if (ctx.flows.recent.length === 0) return garbage();
  const p = pick(ctx.flows.recent).slice();
  const hl = (q: Uint8Array) => (q[0]! >> 4 === 6 ? 40 : (q[0]! & 15) * 4);
  if (parsePacket(p)?.tcp) {
    // a port nobody listens on, so the copy can never reach a connection
    new DataView(p.buffer).setUint16(hl(p) + 2, 20000 + int(20000));
  }
  const flips = 1 + int(4);
  for (let i = 0; i < flips; i++) p[int(p.length)] = int(256);
  let out: Uint8Array = p;
  if (chance(0.3)) out = truncate(p, chance(0.5));
  else if (chance(0.2)) out = concat([p, randomBytes(1 + int(64))]);
  const parsed = parsePacket(out);
  if (chance(0.5) && parsed?.tcp && !ctx.listening.includes(parsed.tcp.dstPort)) {
    const at = parsed.length - parsed.tcp.headerLength - parsed.tcp.payloadLength;
    const dv = new DataView(out.buffer, out.byteOffset);
    dv.setUint16(at + 16, 0);
    dv.setUint16(
      at + 16,
      transportChecksum(parsed.srcBytes, parsed.dstBytes, 6, out.subarray(at, parsed.length)),
    );
    if (parsed.version === 4) {
      const ihl = (out[0]! & 15) * 4;
      dv.setUint16(10, 0);
      dv.setUint16(10, internetChecksum(out.subarray(0, ihl)));
    }
  }
  return [out];
}

/** 5. Exact copies of recent real packets (what a duplicating network does). */
function duplicate(ctx: Ctx): Uint8Array[] {
  return ctx.flows.recent.length ? [pick(ctx.flows.recent)] : garbage();
}

/** 6. ICMP and ICMPv6: echo, errors quoting a live connection, ND messages. */
function icmp(ctx: Ctx): Uint8Array[] {
  const v6 = chance(0.5);
  const src = chance(0.8) ? (v6 ? A6 : A4) : pick(v6 ? OTHER6 : OTHER4);
  const dst = v6 ? B6 : B4;
  const type = v6
    ? pick([128, 129, 1, 2, 3, 4, 133, 134, 135, 136, 137, int(256)])
    : pick([8, 0, 3, 4, 5, 11, 12, 13, int(256)]);
  let rest = randomBytes(int(64));
  const f = ctx.flows.any();
  if (f && f.v6 === v6 && (type === 1 || type === 2 || type === 3 || type === 11)) {
    // an error quoting a segment of a live connection, with its real numbers
    const quoted = ipPacket(
      v6,
      f.b,
      f.a,
      6,
      tcpSegment(v6, f.b, f.a, {
        sport: f.bPort,
        dport: f.aPort,
        seq: f.endFromB,
        ack: f.ackFromB,
        flags: 0x10,
        window: 1000,
        options: new Uint8Array(0),
        payload: new Uint8Array(0),
      }),
    );
    rest = concat([new Uint8Array(4), quoted.subarray(0, 48 + int(20))]);
  }
  const body = new Uint8Array(4 + rest.length);
  body[0] = type;
  body[1] = int(4);
  body.set(rest, 4);
  const sum = v6 ? transportChecksum(src, dst, 58, body) : internetChecksum(body);
  if (!chance(0.1)) new DataView(body.buffer).setUint16(2, sum);
  return [
    ipPacket(v6, src, dst, v6 ? 58 : 1, body, { ttl: v6 && type >= 133 && type <= 137 ? 255 : 64 }),
  ];
}

/** 7. Garbage: random bytes behind a plausible or random first byte. */
function garbage(): Uint8Array[] {
  const n = 1 + int(chance(0.9) ? 120 : 1500);
  const p = randomBytes(n);
  if (chance(0.7)) p[0] = pick([0x45, 0x46, 0x4f, 0x60, 0x6f, 0x40]);
  if (chance(0.5) && n >= 40) {
    // right lengths, random protocol
    const dv = new DataView(p.buffer);
    if (p[0]! >> 4 === 4) {
      p[0] = 0x45;
      dv.setUint16(2, n);
      dv.setUint16(6, 0);
      dv.setUint16(10, 0);
      dv.setUint16(10, internetChecksum(p.subarray(0, 20)));
    } else {
      p[0] = 0x60;
      dv.setUint16(4, n - 40);
    }
  }
  return [p];
}

export const generators = [
  liveSafe,
  liveSafe,
  liveSafe,
  liveNear,
  liveNear,
  randomTcp,
  randomTcp,
  mutated,
  mutated,
  duplicate,
  icmp,
  garbage,
];
