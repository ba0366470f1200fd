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
import { bytes, concat, pair, sha256, until, type Pair } from '../helpers/net.js';
import { longReason, testUnless } from '../helpers/skip.js';
import { int, pick, seedRandom } from './wire.js';
import { Flows, generators, type Ctx } from './generators.js';

const TOTAL = Number(process.env.LWIP_WASM_FUZZ_PACKETS ?? 1_000_000);
const FIRST_SEED = Number(process.env.LWIP_WASM_FUZZ_SEED ?? 0x5eed) >>> 0;
let SEED = FIRST_SEED;
const BATCH = 1000;
const TRANSFER = 1 << 20;

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
