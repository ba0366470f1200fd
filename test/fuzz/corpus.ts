/**
 * Seed programs for the native fuzzer (test/fuzz/ops.c), from real
 * captures: two stacks from test/helpers/net.ts pair() run handshakes,
 * echoes, bulk transfers, refusals, resets and half-closes over IPv4 and
 * IPv6 while capture() records b's interface into a pcap file. Each capture
 * becomes two programs for the fuzzer's single stack, which plays b (its
 * interface 0 is 10.0.0.2 / fd00::2):
 *
 * - a raw replay: a's packets go in as recorded (payloads cut short, lengths
 *   and checksums fixed), so the parsers see real headers;
 * - a tracked replay: a's packets become OP_TCP segments aimed at the live
 *   pcb, seq/ack relative to it, and b's recorded behaviour (markActive,
 *   writes, close) becomes the calls that produce it, so the conversation
 *   goes as deep as the capture did although the ISNs differ.
 *
 * Hand-written programs add what captures cannot show: the stack talking to
 * itself (connect to its own addresses), held SYNs, the transparent
 * listener, limits, batch input, interfaces coming and going, bad calls.
 *
 *   node --import tsx test/fuzz/corpus.ts [dir]   writes dir/*.in (default build/fuzz/corpus)
 *                                                 and the captures to dir/../captures
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TcpConnection } from '../../src/index.js';
import { craftIcmpEcho, craftTcp, parsePacket, type ParsedPacket } from '../../src/packet/index.js';
import { PcapWriter, capture, readPcap } from '../../src/pcap/index.js';
import { bytes, pair, until, writeAll, type Pair } from '../helpers/net.js';
import { Family, Fix, H, NULL_ADDR, Op, Program, V4, V6, type TcpFields } from './program.js';

// ---- captures ----

interface Recorded {
  timeMs: number;
  packet: ParsedPacket;
  bytes: Uint8Array;
}

async function recordScenario(
  dir: string,
  name: string,
  run: (p: Pair) => Promise<void>,
  options: Parameters<typeof pair>[0] = {},
): Promise<Recorded[]> {
  const p = await pair(options);
  const writer = new PcapWriter();
  const cap = capture(p.ib, writer);
  await run(p);
  cap.stop();
  p.close();
  const file = writer.bytes();
  writeFileSync(join(dir, `${name}.pcap`), file);
  const out: Recorded[] = [];
  for (const r of readPcap(file).records) {
    const packet = parsePacket(r.data);
    if (packet) out.push({ timeMs: r.timeMs, packet, bytes: r.data });
  }
  return out;
}

const A_ADDRS = new Set(['10.0.0.1', 'fd00::1']);
const fromA = (r: Recorded) => A_ADDRS.has(r.packet.src);

const SYN = 0x02;
const FIN = 0x01;
const RST = 0x04;
const ACK = 0x10;

function flagBits(p: ParsedPacket): number {
  const f = p.tcp!.flags;
  return (
    (f.fin ? FIN : 0) |
    (f.syn ? SYN : 0) |
    (f.rst ? RST : 0) |
    (f.psh ? 0x08 : 0) |
    (f.ack ? ACK : 0) |
    (f.urg ? 0x20 : 0)
  );
}

function tcpOptionBytes(r: Recorded): Uint8Array {
  const ipHeader = r.packet.version === 4 ? (r.bytes[0]! & 15) * 4 : 40;
  return r.bytes.subarray(ipHeader + 20, ipHeader + r.packet.tcp!.headerLength);
}

/** a's packets as recorded (cut to 64 payload bytes, fixed up), time between them. */
function rawReplay(records: Recorded[], listenPort: number | undefined): Program {
  const prog = new Program();
  if (listenPort !== undefined) prog.listen(Family.ANY, NULL_ADDR, listenPort);
  let t = records[0]?.timeMs ?? 0;
  for (const r of records) {
    if (!fromA(r)) continue;
    if (r.timeMs > t) prog.advance(r.timeMs - t);
    t = r.timeMs;
    const cut = Math.min(r.bytes.length, r.bytes.length - r.packet.payload.length + 64);
    prog.input(0, r.bytes.slice(0, cut), cut < r.bytes.length ? Fix.ALL : 0);
  }
  return prog.advance(1000);
}

/**
 * a's packets as OP_TCP aimed at b's pcb, seq/ack relative to b's state as
 * the capture shows it; b's writes and FIN as the calls that made them.
 */
function trackedReplay(records: Recorded[], listenPort: number | undefined): Program {
  const prog = new Program();
  if (listenPort !== undefined) prog.listen(Family.ANY, NULL_ADDR, listenPort);
  let bRcvNxt = 0; // what b expects next from a
  let bSndNxt = 0; // what b sent so far
  let activated = false;
  let bFin = false;
  let t = records[0]?.timeMs ?? 0;
  for (const r of records) {
    const tcp = r.packet.tcp;
    if (!tcp) continue;
    if (r.timeMs > t) prog.advance(r.timeMs - t);
    t = r.timeMs;
    const flags = flagBits(r.packet);
    const len = tcp.payloadLength + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    if (fromA(r)) {
      const syn = (flags & (SYN | ACK)) === SYN;
      if (syn) bRcvNxt = tcp.seq;
      prog.tcp({
        v6: r.packet.version === 6,
        aim: true,
        relSeq: !syn,
        relAck: !syn,
        src: r.packet.src,
        dst: r.packet.dst,
        sport: tcp.srcPort,
        dport: tcp.dstPort,
        seq: syn ? tcp.seq : tcp.seq - bRcvNxt,
        ack: syn ? tcp.ack : tcp.ack - bSndNxt,
        flags,
        window: tcp.window,
        options: tcpOptionBytes(r),
        payload: tcp.payloadLength,
      });
      if (tcp.seq === bRcvNxt || syn) bRcvNxt = (tcp.seq + len) >>> 0;
      if (!activated && listenPort !== undefined && !syn && flags & ACK) {
        prog.call(Op.ACTIVE, H.second);
        activated = true;
      }
      continue;
    }
    // b's own packet: reproduce what its application did to send it.
    const end = (tcp.seq + len) >>> 0;
    const fresh = bSndNxt === 0 || ((end - bSndNxt) | 0) > 0;
    if (flags & SYN) bSndNxt = end;
    if (!fresh || flags & (SYN | RST)) continue;
    if (tcp.payloadLength > 0) prog.write(H.second, tcp.payloadLength);
    if (flags & FIN && !bFin) {
      prog.call(Op.CLOSE, H.second);
      bFin = true;
    }
    bSndNxt = end;
  }
  return prog.advance(1000);
}

async function echo(p: Pair, v6: boolean, rounds: number): Promise<void> {
  p.b.listen({ port: 80 }, (c) => {
    c.markActive();
    c.on('readable', (d) => c.write(d));
    c.on('readEOF', () => c.gracefulClose());
  });
  const c = p.a.connect({ address: v6 ? 'fd00::2' : '10.0.0.2', port: 80 });
  let got = 0;
  c.on('readable', (d) => (got += d.length));
  await until(p.clock, () => c.active, 'connected');
  for (let i = 0; i < rounds; i++) {
    c.write(new TextEncoder().encode(`hello ${i}`));
    const want = got + `hello ${i}`.length;
    await until(p.clock, () => got >= want, 'echo');
  }
  c.gracefulClose();
  await until(p.clock, () => !c.alive, 'closed');
  await p.clock.advance(1000);
}

async function bulk(p: Pair, v6: boolean, toB: number, toA: number): Promise<void> {
  let server: TcpConnection | undefined;
  p.b.listen({ port: 80 }, (c) => {
    server = c;
    c.markActive();
    if (toA) writeAll(c, bytes(toA, 3), () => c.gracefulClose());
    c.on('readEOF', () => {
      if (!toA) c.gracefulClose();
    });
  });
  const c = p.a.connect({ address: v6 ? 'fd00::2' : '10.0.0.2', port: 80 });
  let got = 0;
  c.on('readable', (d) => (got += d.length));
  c.on('readEOF', () => c.gracefulClose());
  writeAll(c, bytes(toB, 5), () => c.shutdownWrite());
  await until(p.clock, () => !c.alive && (!server || !server.alive), 'transfer done');
}

async function refused(p: Pair, v6: boolean): Promise<void> {
  const c = p.a.connect({ address: v6 ? 'fd00::2' : '10.0.0.2', port: 81 });
  await until(p.clock, () => !c.alive, 'refused');
}

async function aborted(p: Pair): Promise<void> {
  p.b.listen({ port: 80 }, (c) => c.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => c.active, 'connected');
  c.write(bytes(3000));
  await p.clock.advance(5);
  c.abort();
  await p.clock.advance(1000);
}

async function pings(p: Pair): Promise<void> {
  p.ib.input(craftIcmpEcho({ src: '10.0.0.1', dst: '10.0.0.2', id: 7, seq: 1, payload: 'ping' }));
  p.ib.input(craftIcmpEcho({ src: 'fd00::1', dst: 'fd00::2', id: 7, seq: 2, payload: 'ping6' }));
  await p.clock.advance(10);
}

async function seedsFromCaptures(out: string, captures: string): Promise<number> {
  const scenarios: [string, (p: Pair) => Promise<void>, number | undefined, object?][] = [
    ['echo-v4', (p) => echo(p, false, 3), 80],
    ['echo-v6', (p) => echo(p, true, 3), 80],
    ['bulk-a-to-b-v4', (p) => bulk(p, false, 40_000, 0), 80],
    ['bulk-b-to-a-v6', (p) => bulk(p, true, 100, 40_000), 80],
    ['bulk-small-window', (p) => bulk(p, false, 20_000, 0), 80, { b: { tcp: { window: 2048 } } }],
    ['bulk-mtu-9000', (p) => bulk(p, true, 30_000, 30_000), 80, { mtu: 9000 }],
    ['refused-v4', (p) => refused(p, false), undefined],
    ['refused-v6', (p) => refused(p, true), undefined],
    ['abort', aborted, 80],
    ['icmp-echo', pings, undefined],
  ];
  let n = 0;
  for (const [name, run, port, options] of scenarios) {
    const records = await recordScenario(captures, name, run, options);
    writeFileSync(join(out, `capture-${name}-raw.in`), rawReplay(records, port).bytes());
    n++;
    if (records.some((r) => r.packet.tcp)) {
      writeFileSync(join(out, `capture-${name}-tracked.in`), trackedReplay(records, port).bytes());
      n++;
    }
  }
  return n;
}

// ---- hand-written programs: the stack talking to itself ----

function selfTalk(): Record<string, Program> {
  const P = () => new Program();
  // pool: listener (0), connection (1), accepted (2)
  const conversation = (p: Program, v6: boolean, addr: number, port: number) =>
    p
      .listen(Family.ANY, NULL_ADDR, port)
      .connect(v6 ? Family.V6 : Family.V4, addr, port)
      .advance(5)
      .call(Op.ACTIVE, H.third)
      .write(H.second, 3000)
      .advance(20)
      .write(H.third, 500)
      .advance(20);
  return {
    'self-v4-close': conversation(P(), false, 1, 80)
      .call(Op.CLOSE, H.second)
      .advance(50)
      .call(Op.CLOSE, H.third)
      .advance(130_000),
    'self-v6-jumbo': conversation(P(), true, 2, 8080)
      .write(H.second, 4000, 1)
      .advance(200)
      .call(Op.SHUTDOWN, H.second)
      .advance(50)
      .write(H.third, 100)
      .call(Op.CLOSE, H.third)
      .advance(1000),
    'self-abort': conversation(P(), false, 2, 80).call(Op.ABORT, H.third).advance(100),
    'self-recv-off': conversation(P(), false, 1, 80)
      .call(Op.RECV, H.third, 0)
      .write(H.second, 4000, 1)
      .advance(500)
      .call(Op.RECV, H.third, 1)
      .advance(500),
    'self-faults': P()
      .listen(Family.ANY, NULL_ADDR, 80)
      .connect(Family.V4, 1, 80)
      .pump(0)
      .pump(0)
      .call(Op.ACTIVE, H.third)
      .write(H.second, 6000)
      .pump(0x01)
      .pump(0x02)
      .pump(0x04)
      .pump(0x08)
      .pump(0x18)
      .pump(0x40)
      .advance(3000)
      .advance(10_000),
    transparent: P()
      .listen(Family.ANY, NULL_ADDR, 0, 1)
      .connect(Family.V4, 4, 443)
      .advance(5)
      .call(Op.ACTIVE, H.third)
      .write(H.second, 100)
      .advance(20)
      .connect(Family.V6, 4, 443)
      .advance(20)
      .call(Op.INFO, H.third, 0)
      .advance(100),
    'held-syn-accept': P()
      .listen(Family.ANY, NULL_ADDR, 80, 2)
      .connect(Family.V4, 1, 80)
      .advance(5)
      .call(Op.SYN, H.third, 1)
      .advance(5)
      .call(Op.ACTIVE, H.third)
      .write(H.third, 100)
      .advance(100),
    'held-syn-refuse': P()
      .listen(Family.ANY, NULL_ADDR, 80, 2)
      .connect(Family.V4, 1, 80)
      .advance(5)
      .call(Op.SYN, H.third, 2)
      .advance(100),
    'held-syn-drop': P()
      .listen(Family.ANY, NULL_ADDR, 80, 3)
      .connect(Family.V6, 1, 80)
      .advance(5)
      .call(Op.SYN, H.third, 3)
      .advance(30_000),
    'held-syn-timeout': P()
      .listen(Family.ANY, NULL_ADDR, 80, 2)
      .connect(Family.V4, 1, 80)
      .advance(60_000),
    'refused-self': P().connect(Family.V4, 1, 9).advance(10).call(Op.INFO, H.first, 0),
    'limit-connections': P()
      .u8(Op.LIMITS)
      .u8(1)
      .u32(1)
      .listen(Family.ANY, NULL_ADDR, 80)
      .connect(Family.V4, 1, 80)
      .connect(Family.V4, 1, 80)
      .advance(100),
    'limit-memory': P()
      .listen(Family.ANY, NULL_ADDR, 80)
      .connect(Family.V4, 1, 80)
      .advance(5)
      .call(Op.ACTIVE, H.third)
      .u8(Op.LIMITS)
      .u8(0)
      .u32(2000)
      .write(H.second, 30_000, 1)
      .advance(2000)
      .call(Op.CLOSE, H.second)
      .u8(Op.LIMITS)
      .u8(0)
      .u32(0x80000000)
      .advance(5000),
    keepalive: conversation(P(), false, 1, 80)
      .u8(Op.OPTS)
      .u8(H.second)
      .u8(0)
      .u32(0x301)
      .u32(1000)
      .u32(500)
      .u8(Op.OPTS)
      .u8(H.third)
      .u8(1)
      .u32(1)
      .u32(0)
      .u32(0)
      .advance(3 << 20)
      .advance(20_000),
    'netif-remove-live': conversation(P(), false, 1, 80)
      .u8(Op.NETIF)
      .u8(1)
      .u8(2) // id 0
      .advance(100)
      .u8(Op.NETIF)
      .u8(0)
      .u32(0x0a000b0a)
      .u8(32)
      .u8(1)
      .u8(72)
      .u16(1500)
      .advance(100),
    'bad-calls': P()
      .listen(Family.V4, 0xff, 80)
      .raw(Uint8Array.of(10, 0, 0, 2))
      .write(0xe0, 10)
      .write(0xe3, 10, 3)
      .call(Op.CLOSE, 0xe1)
      .call(Op.ABORT, 0xe4)
      .call(Op.LCLOSE, H.first)
      .call(Op.LCLOSE, H.first)
      .call(Op.INFO, 0xe6)
      .u32(0x00100001)
      .u8(1)
      .u8(Op.BUF)
      .u8(0)
      .u32(100)
      .u8(Op.BUF)
      .u8(1)
      .u32(100)
      .u8(Op.BUF)
      .u8(2)
      .u32(0x1234)
      .u8(Op.STATS)
      .u8(3),
  };
}

/** Batch input (reserve/commit) of captured-looking packets. */
function reservePrograms(): Record<string, Program> {
  const syn = craftTcp({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 4000,
    dstPort: 80,
    seq: 1000,
    flags: 'S',
    options: { mss: 1460, wscale: 7 },
  });
  const syn6 = craftTcp({
    src: 'fd00::1',
    dst: 'fd00::2',
    srcPort: 4001,
    dstPort: 80,
    seq: 5,
    flags: 'S',
  });
  const ping = craftIcmpEcho({ src: '10.0.0.1', dst: '10.0.0.2', id: 1, seq: 1, payload: 'x' });
  const batch = (packets: Uint8Array[]) => {
    const p = new Program().listen(Family.ANY, NULL_ADDR, 80).u8(Op.RESERVE).u8(packets.length);
    for (const q of packets) p.u16(q.length);
    for (const q of packets) p.u8(0).raw(q);
    return p.u8(0).u8(0).advance(100);
  };
  return {
    'reserve-batch': batch([syn, syn6, ping, syn]),
    'reserve-uncommitted': new Program()
      .u8(Op.RESERVE)
      .u8(2)
      .u16(syn.length)
      .u16(0)
      .u8(0)
      .raw(syn)
      .u8(0)
      .u8(0)
      .u8(0xef),
    'reserve-mismatch': new Program()
      .u8(Op.RESERVE)
      .u8(1)
      .u16(20)
      .u8(7)
      .raw(new Uint8Array(20))
      .u8(0)
      .u8(0xf9),
    'fragments-v4': new Program()
      .listen(Family.ANY, NULL_ADDR, 80)
      .tcp({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        sport: 5000,
        dport: 80,
        seq: 1,
        ack: 0,
        flags: SYN,
        payload: 200,
        fragment: 2,
      })
      .advance(20_000),
    'fragments-v6-reversed': new Program()
      .listen(Family.ANY, NULL_ADDR, 80)
      .tcp({
        v6: true,
        src: 'fd00::1',
        dst: 'fd00::2',
        sport: 5000,
        dport: 80,
        seq: 1,
        ack: 0,
        flags: SYN,
        payload: 300,
        fragment: 0x80 | 4,
      })
      .advance(70_000),
  };
}

/** Writes every seed program into `out` (emptied first) and the captures into `captures`. */
export async function writeCorpus(
  out: string,
  captures = join(out, '../captures'),
): Promise<number> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  mkdirSync(captures, { recursive: true });
  let n = await seedsFromCaptures(out, captures);
  for (const [name, prog] of Object.entries({ ...selfTalk(), ...reservePrograms() })) {
    writeFileSync(join(out, `${name}.in`), prog.bytes());
    n++;
  }
  return n;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const out = resolve(process.argv[2] ?? join(here, '../../build/fuzz/corpus'));
  const n = await writeCorpus(out);
  console.log(`corpus: ${n} seed programs in ${out}`);
}
