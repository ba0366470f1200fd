/**
 * Packet fuzzing from JavaScript: two stacks on a memory link carry four
 * live transfers (IPv4 and IPv6, both directions, one echo) while random and
 * mutated packets are fed into b's interface in batches (inputMany):
 * well-formed IPv4/IPv6/TCP with random fields and options, segments aimed at
 * the live connections with sequence and acknowledgment numbers near theirs,
 * truncations, checksums fixed up and not, fragments, ICMP/ICMPv6, copies
 * and byte-mutations of real traffic, and plain garbage.
 *
 * TCP itself cannot tell a forged segment with acceptable numbers from a real
 * one, so every injected segment that reaches a live connection with correct
 * checksums carries numbers lwIP must not act on: a sequence number well
 * behind what b has acknowledged (too old to carry data, a FIN, an RST or a
 * window update) and an acknowledgment well behind or far ahead of b's
 * (acknowledging nothing). Numbers right at the live values go in only with a
 * broken checksum or a truncated datagram. Within those rules nothing may
 * change a stream:
 *
 * - no trap ('fatal' on either stack);
 * - every transfer completes and its sha256 matches;
 * - after everything closed and TIME_WAIT, reassembly and SYN_RCVD timers ran
 *   out (virtual clock), both stacks hold no handle and lwIP's heap is back
 *   at its baseline.
 *
 * One million packets by default (about 80 s on two shared cores; set
 * LWIP_WASM_FUZZ_PACKETS for another count). LWIP_WASM_FUZZ_SEED picks the
 * seed, so a failure replays exactly; LWIP_WASM_LONG=1 adds four more seeds.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Stack,
  type StackError,
  type TcpConnection,
  type TcpListener,
} from '../../src/index.js';
import { internetChecksum, parsePacket, transportChecksum } from '../../src/packet/index.js';
import { bytes, concat, pair, sha256, until, type Pair } from '../helpers/net.js';
import { longReason, testUnless } from '../helpers/skip.js';
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
  seedRandom,
  tcpSegment,
  truncate,
  u32,
  type IpExtras,
  type Segment,
} from './wire.js';

const TOTAL = Number(process.env.LWIP_WASM_FUZZ_PACKETS ?? 1_000_000);
const FIRST_SEED = Number(process.env.LWIP_WASM_FUZZ_SEED ?? 0x5eed) >>> 0;
let SEED = FIRST_SEED;
const BATCH = 1000;
const TRANSFER = 1 << 20;

// ---- what the live connections look like on the wire ----

const seqAfter = (a: number, b: number) => ((a - b) | 0) > 0;

/** One live connection as b sees it, from the packets on a's interface. */
interface Flow {
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

class Flows {
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

interface Ctx {
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

const generators = [
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

// ---- transfers ----

interface Transfer {
  name: string;
  sent: Uint8Array;
  /** Bytes written so far by the sending side. */
  offset: number;
  sender?: TcpConnection;
  received: () => Uint8Array;
  done: () => boolean;
}

/** b: port 80 collects into `sinks`, port 81 sends `sources[port]`, port 82 echoes. */
function serve(
  b: Stack,
  sinks: Map<string, Uint8Array[]>,
  sources: Map<number, Transfer>,
): TcpListener[] {
  const sink = b.listen({ port: 80 }, (c) => {
    const chunks: Uint8Array[] = [];
    c.on('readable', (d) => chunks.push(d));
    c.on('readEOF', () => {
      sinks.set(String(c.peer.port), chunks);
      c.gracefulClose();
    });
    c.markActive();
  });
  const source = b.listen({ port: 81 }, (c) => {
    c.on('becameActive', () => {
      const t = sources.get(c.peer.port);
      if (t) t.sender = c;
    });
    c.on('readEOF', () => c.gracefulClose());
    c.markActive();
  });
  const echo = b.listen({ port: 82 }, (c) => {
    c.on('readable', (d) => {
      if (c.write(d) < d.length)
        throw new Error('echo: send buffer full (window too large for the test)');
    });
    c.on('readEOF', () => c.gracefulClose());
    c.markActive();
  });
  return [sink, source, echo];
}

function pumpTransfer(t: Transfer, upTo: number): void {
  const c = t.sender;
  if (!c || !c.active || !c.alive) return;
  if (c.writeEnded && t.offset < t.sent.length)
    throw new Error(`seed ${SEED}: ${t.name}: write side ended after ${t.offset} bytes`);
  const end = Math.min(upTo, t.sent.length);
  while (t.offset < end) {
    const n = c.write(t.sent.subarray(t.offset, end));
    if (n === 0) return;
    t.offset += n;
  }
  if (t.offset === t.sent.length && !c.writeEnded) c.shutdownWrite();
}

const test = suite('packet fuzzing into a stack with live transfers');

async function fuzzRun(seed: number): Promise<void> {
  SEED = seed;
  seedRandom(seed);
  const started = Date.now();
  const p: Pair = await pair();
  const fatal: StackError[] = [];
  p.a.on('fatal', (e) => fatal.push(e));
  p.b.on('fatal', (e) => fatal.push(e));
  const baseline = { a: p.a.stats().heap.lwipBytes, b: p.b.stats().heap.lwipBytes };

  const flows = new Flows();
  const untap = p.ia.addTap((packet, direction) => flows.observe(packet, direction));
  const sinks = new Map<string, Uint8Array[]>();
  const sources = new Map<number, Transfer>();
  const listeners = serve(p.b, sinks, sources);

  // Four transfers: a->b over IPv4 and IPv6, b->a over IPv6, an IPv4 echo.
  const transfers: Transfer[] = [];
  const toB = (name: string, address: string, seed: number) => {
    const c = p.a.connect({ address, port: 80 });
    const t: Transfer = {
      name,
      sent: bytes(TRANSFER, seed),
      offset: 0,
      sender: c,
      received: () => concat(sinks.get(String(c.local.port)) ?? []),
      done: () => sinks.has(String(c.local.port)) && !c.alive,
    };
    c.on('readEOF', () => c.gracefulClose());
    transfers.push(t);
  };
  toB('a->b IPv4', '10.0.0.2', 11);
  toB('a->b IPv6', 'fd00::2', 12);
  {
    const c = p.a.connect({ address: 'fd00::2', port: 81 });
    const got: Uint8Array[] = [];
    let eof = false;
    c.on('readable', (d) => got.push(d));
    c.on('readEOF', () => {
      eof = true;
      c.gracefulClose();
    });
    const t: Transfer = {
      name: 'b->a IPv6',
      sent: bytes(TRANSFER, 13),
      offset: 0,
      received: () => concat(got),
      done: () => eof && !c.alive,
    };
    c.on('becameActive', () => sources.set(c.local.port, t));
    transfers.push(t);
  }
  {
    const c = p.a.connect({ address: '10.0.0.2', port: 82 });
    const got: Uint8Array[] = [];
    let eof = false;
    c.on('readable', (d) => got.push(d));
    c.on('readEOF', () => {
      eof = true;
      c.gracefulClose();
    });
    transfers.push({
      name: 'echo IPv4',
      sent: bytes(TRANSFER / 2, 14),
      offset: 0,
      sender: c,
      received: () => concat(got),
      done: () => eof && !c.alive,
    });
  }
  await until(p.clock, () => transfers.every((t) => t.sender?.active), 'transfers connected');
  await until(p.clock, () => flows.live.length === 4, 'all four connections seen on the wire');

  // Inject in batches; between batches each transfer sends its next share.
  const ctx: Ctx = { flows, listening: [80, 81, 82] };
  const steps = Math.ceil(TOTAL / BATCH);
  let injected = 0;
  for (let step = 1; injected < TOTAL; step++) {
    const batch: Uint8Array[] = [];
    while (batch.length < BATCH && injected + batch.length < TOTAL) {
      for (const packet of pick(generators)(ctx)) batch.push(packet);
    }
    batch.length = Math.min(batch.length, TOTAL - injected);
    p.ib.inputMany(batch);
    injected += batch.length;
    for (const t of transfers) pumpTransfer(t, Math.ceil((t.sent.length * step) / steps));
    await p.clock.advance(1 + int(20));
    if (fatal.length) break;
  }
  const injectMs = Date.now() - started;

  // Let every transfer finish, then everything close.
  for (const t of transfers) pumpTransfer(t, t.sent.length);
  const finished = await p.clock.advanceUntil(() => {
    for (const t of transfers) pumpTransfer(t, t.sent.length);
    return fatal.length > 0 || transfers.every((t) => t.done());
  }, 3_600_000);
  assert.ok(
    finished,
    `seed ${SEED}: transfers stuck:\n` +
      transfers
        .map(
          (t) =>
            `  ${t.name}: sent ${t.offset}/${t.sent.length}, received ${t.received().length}, ` +
            `sender ${t.sender ? JSON.stringify(t.sender.info()) : '-'}`,
        )
        .join('\n'),
  );
  assert.equal(
    fatal.map((e) => e.message),
    [],
    `seed ${SEED}: a stack failed`,
  );
  for (const t of transfers) {
    const got = t.received();
    assert.is(
      got.length,
      t.sent.length,
      `seed ${SEED}: ${t.name}: ${got.length} of ${t.sent.length} bytes`,
    );
    assert.is(sha256(got), sha256(t.sent), `seed ${SEED}: ${t.name}: bytes differ`);
  }
  untap();
  for (const l of listeners) l.close();
  const settled = await p.clock.advanceUntil(() => {
    const a = p.a.stats();
    const b = p.b.stats();
    return (
      a.handles === 0 &&
      b.handles === 0 &&
      a.heap.lwipBytes === baseline.a &&
      b.heap.lwipBytes === baseline.b
    );
  }, 3_600_000);
  const after = { a: p.a.stats(), b: p.b.stats() };
  assert.ok(
    settled,
    `seed ${SEED}: not back to the baseline: handles a ${after.a.handles} b ${after.b.handles}, ` +
      `lwIP heap a ${after.a.heap.lwipBytes} (was ${baseline.a}) b ${after.b.heap.lwipBytes} ` +
      `(was ${baseline.b}), pcbs a ${JSON.stringify(after.a.tcp)} b ${JSON.stringify(after.b.tcp)}`,
  );
  assert.ok(after.b.packets.in >= injected, `b saw ${after.b.packets.in} packets`);
  const b = after.b;
  console.log(
    `  seed ${SEED}: ${injected.toLocaleString('en')} packets in ${(injectMs / 1000).toFixed(1)} s ` +
      `(${Math.round(injected / (injectMs / 1000)).toLocaleString('en')}/s), ` +
      `b dropped ${b.packets.inDropped.toLocaleString('en')} before lwIP, sent ${b.packets.out.toLocaleString('en')}; ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s in all`,
  );
  assert.equal(fatal, []);
  p.close();
}

for (let i = 0; i < 5; i++) {
  const seed = (FIRST_SEED + i) >>> 0;
  const name = `seed ${seed}: ${TOTAL.toLocaleString('en')} injected packets: no trap, transfers intact, heap back to baseline`;
  testUnless(test, i === 0 ? undefined : longReason, name, () => fuzzRun(seed));
}

test.run();
