/**
 * pcap output: the writer's file format (read back by our reader and by
 * tshark), and capture() of a real transfer between two stacks on a memory
 * link, IPv4 and IPv6 side by side. The capture is written under
 * test-output/ so a failing run leaves something to open in Wireshark.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpConnection } from '../../src/index.js';
import { craftTcp, parsePacket } from '../../src/packet/index.js';
import { LINKTYPE_RAW, PcapWriter, capture, readPcap } from '../../src/pcap/index.js';
import { bytes, collect, pair, sha256, until, writeAll } from '../helpers/net.js';
import { testUnless } from '../helpers/skip.js';

const root = new URL('../..', import.meta.url).pathname;
const outDir = join(root, 'test-output');

const sample = (n = 0) =>
  craftTcp({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, seq: n, flags: 'S' });

// ---- the file format ----

const format = suite('PcapWriter format');

format('the global header is classic pcap 2.4, LINKTYPE_RAW, little-endian', () => {
  const w = new PcapWriter();
  const b = w.bytes();
  assert.is(b.length, 24);
  assert.equal(Array.from(b.subarray(0, 4)), [0xd4, 0xc3, 0xb2, 0xa1]);
  const dv = new DataView(b.buffer, b.byteOffset);
  assert.equal([dv.getUint16(4, true), dv.getUint16(6, true)], [2, 4]);
  assert.is(dv.getUint32(16, true), 65535);
  assert.is(dv.getUint32(20, true), 101);
  assert.is(LINKTYPE_RAW, 101);
});

format('timestamps in ms become seconds and microseconds', () => {
  const w = new PcapWriter();
  w.write(sample(), 1234.5678);
  w.write(sample(), 999.9996); // rounds up into the next second
  w.write(sample(), 0);
  const dv = new DataView(w.bytes().buffer);
  const rec = (off: number) => [dv.getUint32(off, true), dv.getUint32(off + 4, true)];
  const size = 16 + sample().length;
  assert.equal(rec(24), [1, 234568]);
  assert.equal(rec(24 + size), [1, 0]);
  assert.equal(rec(24 + 2 * size), [0, 0]);
});

format('timeOffsetMs dates the capture', () => {
  const w = new PcapWriter({ timeOffsetMs: 1_700_000_000_000 });
  w.write(sample(), 1500);
  assert.is(readPcap(w.bytes()).records[0]!.timeMs, 1_700_000_001_500);
});

format('round trip through readPcap keeps bytes, times and order', () => {
  const w = new PcapWriter();
  for (let i = 0; i < 10; i++) w.write(sample(i), i * 10.5);
  const f = readPcap(w.bytes());
  assert.equal([f.versionMajor, f.versionMinor, f.linkType, f.snaplen], [2, 4, 101, 65535]);
  assert.is(f.records.length, 10);
  assert.is(w.count, 10);
  f.records.forEach((r, i) => {
    assert.equal(r.data, sample(i));
    assert.is(r.originalLength, r.data.length);
    assert.is(r.timeMs, i * 10.5);
  });
});

format('snaplen cuts long packets but keeps their original length', () => {
  const w = new PcapWriter({ snaplen: 32 });
  w.write(sample(), 0);
  const r = readPcap(w.bytes()).records[0]!;
  assert.is(r.data.length, 32);
  assert.is(r.originalLength, 40);
});

format('readPcap reads big-endian files and rejects damaged ones', () => {
  const le = new PcapWriter();
  le.write(sample(7), 2000.25);
  const b = le.bytes();
  const be = b.slice();
  const swap = (off: number, n: number) => be.subarray(off, off + n).reverse();
  [0, 16, 20].forEach((o) => swap(o, 4));
  [4, 6].forEach((o) => swap(o, 2));
  [24, 28, 32, 36].forEach((o) => swap(o, 4));
  const f = readPcap(be);
  assert.not.ok(f.littleEndian);
  assert.equal(f.records[0]!.data, sample(7));
  assert.is(f.records[0]!.timeMs, 2000.25);
  assert.throws(() => readPcap(new Uint8Array(10)), /too short/);
  assert.throws(() => readPcap(new Uint8Array(24)), /bad magic/);
  assert.throws(() => readPcap(b.subarray(0, b.length - 1)), /ends first/);
});

format('toBlob gives the same bytes with the pcap media type', async () => {
  const w = new PcapWriter();
  w.write(sample(), 5);
  const blob = w.toBlob();
  assert.is(blob.type, 'application/vnd.tcpdump.pcap');
  assert.equal(new Uint8Array(await blob.arrayBuffer()), w.bytes());
});

format.run();

// ---- capturing a transfer ----

const FILE = join(outDir, 'packet-transfer.pcap');
const SIZE = 100_000;
/** A port no Wireshark dissector claims, so random payload is not parsed as a protocol. */
const PORT = 47001;

interface Transfer {
  file: string;
  packets: number;
}

/**
 * a (10.0.0.1, fd00::1) sends SIZE bytes to b over IPv4 and over IPv6 at
 * once, both sides close; ia is captured. Cached: the tshark test reuses it.
 */
let transfer: Promise<Transfer> | undefined;
function runTransfer(): Promise<Transfer> {
  transfer ??= (async () => {
    const p = await pair();
    try {
      const writer = new PcapWriter();
      const cap = capture(p.ia, writer);
      const received: ReturnType<typeof collect>[] = [];
      p.b.listen({ port: PORT }, (conn) => {
        received.push(collect(conn));
        conn.on('readEOF', () => conn.gracefulClose());
        conn.markActive();
      });
      const data = bytes(SIZE, 9);
      const conns: TcpConnection[] = ['10.0.0.2', 'fd00::2'].map((address) => {
        const c = p.a.connect({ address, port: PORT });
        writeAll(c, data, () => c.gracefulClose());
        return c;
      });
      const ended = () => conns.every((c) => !c.alive) && received.every((r) => r.eof());
      await until(p.clock, () => received.length === 2 && ended(), 'both transfers to finish');
      for (const r of received) assert.is(sha256(r.bytes()), sha256(data));
      await p.clock.advance(1000);
      cap.stop();
      await writer.toFile(FILE);
      return { file: FILE, packets: cap.packets };
    } finally {
      p.close();
    }
  })();
  return transfer;
}

const cap = suite('capture()');

cap('records both directions of a transfer; the link still delivers everything', async () => {
  const { file, packets } = await runTransfer();
  const f = readPcap(new Uint8Array(readFileSync(file)));
  assert.is(f.linkType, LINKTYPE_RAW);
  assert.is(f.records.length, packets);
  const parsed = f.records.map((r) => parsePacket(r.data));
  assert.ok(
    parsed.every((p) => p?.tcp?.checksumOk),
    'every record is a TCP segment with a good checksum',
  );
  const from = (src: string) => parsed.filter((p) => p!.src === src).length;
  assert.ok(from('10.0.0.1') > 0 && from('10.0.0.2') > 0, 'IPv4 both ways');
  assert.ok(from('fd00::1') > 0 && from('fd00::2') > 0, 'IPv6 both ways');
  const count = (pred: (p: NonNullable<(typeof parsed)[number]>) => boolean) =>
    parsed.filter((p) => pred(p!)).length;
  assert.is(
    count((p) => p.tcp!.flags.syn),
    4,
    'SYN and SYN-ACK per connection',
  );
  assert.is(
    count((p) => p.tcp!.flags.fin),
    4,
    'one FIN each way per connection',
  );
  assert.is(
    count((p) => p.tcp!.flags.rst),
    0,
  );
  const payload = parsed.reduce(
    (n, p) => n + (p!.src.endsWith('1') ? p!.tcp!.payloadLength : 0),
    0,
  );
  assert.is(payload, 2 * SIZE, 'every data byte appears once (no retransmission)');
  for (let i = 1; i < f.records.length; i++)
    assert.ok(f.records[i]!.timeMs >= f.records[i - 1]!.timeMs, 'timestamps never go back');
});

cap('stop() ends recording; filter and direction select packets', async () => {
  const p = await pair();
  try {
    const all = new PcapWriter();
    const outOnly = new PcapWriter();
    const synOnly = new PcapWriter();
    const c1 = capture(p.ia, all);
    const c2 = capture(p.ia, outOnly, { direction: 'out' });
    const c3 = capture(p.ia, synOnly, { filter: (b) => parsePacket(b)?.tcp?.flags.syn === true });
    p.b.listen({ port: 80 }, (c) => c.markActive());
    const conn = p.a.connect({ address: '10.0.0.2', port: 80 });
    await until(p.clock, () => conn.active, 'connect');
    await p.clock.settle();
    c1.stop();
    c1.stop();
    const before = c1.packets;
    conn.write(new Uint8Array(10));
    await p.clock.advance(1000);
    assert.is(before, 3, 'SYN, SYN-ACK, ACK');
    assert.is(c1.packets, before, 'nothing after stop()');
    assert.is(all.count, 3);
    assert.ok(c2.packets >= 3, 'SYN, ACK, data and more from a');
    assert.ok(
      readPcap(outOnly.bytes()).records.every((r) => parsePacket(r.data)!.src === '10.0.0.1'),
    );
    assert.is(c3.packets, 2);
  } finally {
    p.close();
  }
});

cap.run();

// ---- tshark ----

function hasTshark(): boolean {
  return spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Why the tshark test cannot run, after installing tshark when CI=true and root. */
function tsharkReason(): string | undefined {
  if (hasTshark()) return undefined;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (process.env.CI !== 'true' || !root)
    return 'tshark is not installed (Debian package tshark; installed automatically only when CI=true and root)';
  const sh = (cmd: string) =>
    spawnSync('sh', ['-c', cmd], {
      stdio: 'ignore',
      timeout: 10 * 60_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  sh(
    'echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections',
  );
  if (!sh('apt-get install -y -q tshark')) sh('apt-get update -q && apt-get install -y -q tshark');
  return hasTshark() ? undefined : 'tshark could not be installed with apt-get';
}

const shark = suite('tshark reads the capture');

testUnless(
  shark,
  tsharkReason(),
  'no malformed packets, good checksums, 4 SYNs, 4 FINs, 0 retransmissions',
  async () => {
    const { file, packets } = await runTransfer();
    const out = execFileSync(
      'tshark',
      [
        '-r',
        file,
        '-n',
        '-o',
        'tcp.check_checksum:TRUE',
        '-o',
        'ip.check_checksum:TRUE',
        '-T',
        'fields',
        '-E',
        'separator=|',
        '-e',
        'frame.number',
        '-e',
        'ip.version',
        '-e',
        'tcp.flags.syn',
        '-e',
        'tcp.flags.fin',
        '-e',
        'tcp.analysis.retransmission',
        '-e',
        '_ws.malformed',
        '-e',
        '_ws.expert.severity',
        '-e',
        'tcp.checksum.status',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const rows = out
      .trim()
      .split('\n')
      .map((line) => {
        const [frame, version, syn, fin, retrans, malformed, severity, checksum] = line.split('|');
        return { frame, version, syn, fin, retrans, malformed, severity, checksum };
      });
    assert.is(rows.length, packets, 'tshark sees every record as a frame');
    const count = (pred: (r: (typeof rows)[number]) => boolean) => rows.filter(pred).length;
    assert.is(count((r) => r.version === '4') + count((r) => r.version === '6'), packets);
    assert.ok(count((r) => r.version === '6') > 0, 'IPv6 frames are dissected as IPv6');
    assert.is(
      count((r) => r.malformed !== ''),
      0,
      'malformed frames',
    );
    assert.is(
      count((r) => r.checksum !== '1'),
      0,
      'TCP checksums not "Good"',
    );
    // Expert severities: chat 0x200000, note 0x400000, warn 0x600000, error 0x800000.
    const worst = (r: (typeof rows)[number]) =>
      Math.max(0, ...(r.severity ? r.severity.split(',').map(Number) : []));
    assert.is(
      count((r) => worst(r) >= 0x600000),
      0,
      'expert warnings or errors',
    );
    assert.is(
      count((r) => r.syn === '1'),
      4,
      'SYNs (SYN and SYN-ACK of two connections)',
    );
    assert.is(
      count((r) => r.fin === '1'),
      4,
      'FINs',
    );
    assert.is(
      count((r) => r.retrans !== ''),
      0,
      'retransmissions',
    );
  },
);

shark.run();
