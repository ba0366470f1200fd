/**
 * The packet library on its own (no stack): checksums, crafting and parsing
 * round trips, tcpdump-like descriptions, matchers and their messages, and
 * garbage that must never make the parser throw.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PacketMismatchError,
  craftIcmpEcho,
  craftIp,
  craftTcp,
  describePacket,
  expectPacket,
  icmpEcho,
  internetChecksum,
  ipv4,
  ipv6,
  matches,
  mismatches,
  packetFilter,
  parsePacket,
  tcp,
  transportChecksum,
  IpProtocol,
} from '../../src/packet/index.js';

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const syn4 = () =>
  craftTcp({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1234,
    dstPort: 80,
    seq: 1,
    flags: 'S',
    options: { mss: 1460, wscale: 7 },
  });

// ---- checksums ----

const checksum = suite('checksum');

checksum('RFC 1071 worked example: 0001 f203 f4f5 f6f7 sums to ddf2, checksum 220d', () => {
  assert.is(internetChecksum(hex('0001f203f4f5f6f7')), 0x220d);
});

checksum('an odd trailing byte is padded with zero', () => {
  assert.is(
    internetChecksum(hex('0001f203f4f5f6f7ab')),
    internetChecksum(hex('0001f203f4f5f6f7ab00')),
  );
});

checksum('a crafted IPv4 header checks to zero', () => {
  const p = syn4();
  assert.is(internetChecksum(p.subarray(0, 20)), 0);
});

checksum('a crafted TCP segment checks to zero with its pseudo-header, both IP versions', () => {
  for (const [src, dst, off] of [
    ['10.0.0.1', '10.0.0.2', 20],
    ['fd00::1', 'fd00::2', 40],
  ] as const) {
    const p = craftTcp({ src, dst, srcPort: 1, dstPort: 2, seq: 3, flags: 'PA', payload: 'abc' });
    const s = parsePacket(p)!;
    assert.is(transportChecksum(s.srcBytes, s.dstBytes, IpProtocol.TCP, p.subarray(off)), 0);
  }
});

checksum('a wrong source address breaks the TCP checksum (the pseudo-header is covered)', () => {
  const p = syn4();
  p[15] = p[15]! ^ 1; // last byte of the source address
  p[11] = p[10] = 0; // fix the IP header checksum so only TCP is wrong
  const sum = internetChecksum(p.subarray(0, 20));
  p[10] = sum >> 8;
  p[11] = sum & 0xff;
  const s = parsePacket(p)!;
  assert.ok(s.ipChecksumOk);
  assert.is(s.tcp!.checksumOk, false);
});

checksum.run();

// ---- crafting and parsing ----

const codec = suite('craft and parse');

codec('IPv4 TCP round trip keeps every field and option', () => {
  const p = craftTcp({
    src: '192.168.1.10',
    dst: '10.0.0.2',
    srcPort: 40000,
    dstPort: 443,
    seq: 0xfffffff0,
    ack: 77,
    flags: 'PA',
    window: 1234,
    ttl: 17,
    options: { mss: 1400, wscale: 3, sackPermitted: true, timestamp: [5, 6], sack: [[1, 2]] },
    payload: 'hello',
  });
  const s = parsePacket(p)!;
  assert.is(s.version, 4);
  assert.is(s.src, '192.168.1.10');
  assert.is(s.dst, '10.0.0.2');
  assert.is(s.protocol, 6);
  assert.is(s.ttl, 17);
  assert.is(s.length, p.length);
  const t = s.tcp!;
  assert.equal([t.srcPort, t.dstPort, t.seq, t.ack, t.window], [40000, 443, 0xfffffff0, 77, 1234]);
  assert.equal(t.flags, { syn: false, ack: true, fin: false, rst: false, psh: true, urg: false });
  assert.equal(t.options, {
    mss: 1400,
    wscale: 3,
    sackPermitted: true,
    timestamp: [5, 6],
    sack: [[1, 2]],
  });
  assert.is(t.headerLength % 4, 0);
  assert.is(t.payloadLength, 5);
  assert.ok(t.checksumOk);
  assert.is(new TextDecoder().decode(s.payload), 'hello');
});

codec('IPv6 TCP round trip, addresses in RFC 5952 text', () => {
  const p = craftTcp({
    src: 'FD00:0:0::0001',
    dst: 'fd00::2',
    srcPort: 1,
    dstPort: 2,
    seq: 9,
    flags: 'FA',
  });
  const s = parsePacket(p)!;
  assert.is(s.version, 6);
  assert.is(s.src, 'fd00::1');
  assert.is(s.length, 60);
  assert.is(s.ttl, 64);
  assert.ok(s.tcp!.flags.fin && s.tcp!.flags.ack);
  assert.ok(s.tcp!.checksumOk);
});

codec('sequence numbers wrap modulo 2^32', () => {
  const s = parsePacket(
    craftTcp({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      srcPort: 1,
      dstPort: 2,
      seq: 2 ** 32 + 5,
      ack: -1,
      flags: 'A',
    }),
  )!;
  assert.is(s.tcp!.seq, 5);
  assert.is(s.tcp!.ack, 0xffffffff);
});

codec('badChecksum gives a segment whose checksum is reported wrong', () => {
  const p = craftTcp({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    seq: 1,
    flags: 'S',
    badChecksum: true,
  });
  assert.is(parsePacket(p)!.tcp!.checksumOk, false);
});

codec('ICMP and ICMPv6 echo round trips with correct checksums', () => {
  for (const [src, dst, req, rep] of [
    ['10.0.0.1', '10.0.0.2', 8, 0],
    ['fd00::1', 'fd00::2', 128, 129],
  ] as const) {
    for (const reply of [false, true]) {
      const s = parsePacket(
        craftIcmpEcho({ src, dst, id: 0xbeef, seq: 3, payload: 'ping', reply }),
      )!;
      assert.equal(
        {
          type: s.icmp!.type,
          code: s.icmp!.code,
          id: s.icmp!.id,
          seq: s.icmp!.seq,
          ok: s.icmp!.checksumOk,
        },
        { type: reply ? rep : req, code: 0, id: 0xbeef, seq: 3, ok: true },
      );
      assert.is(new TextDecoder().decode(s.payload), 'ping');
    }
  }
});

codec('IPv4 header options are skipped and trailing link padding is ignored', () => {
  const plain = syn4();
  const withOpts = new Uint8Array(plain.length + 4 + 6);
  withOpts.set(plain.subarray(0, 20));
  withOpts[0] = 0x46;
  withOpts.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
  withOpts.set(plain.subarray(20), 24);
  new DataView(withOpts.buffer).setUint16(2, plain.length + 4);
  withOpts[10] = withOpts[11] = 0;
  const sum = internetChecksum(withOpts.subarray(0, 24));
  withOpts[10] = sum >> 8;
  withOpts[11] = sum & 0xff;
  const s = parsePacket(withOpts)!;
  assert.ok(s.ipChecksumOk);
  assert.is(s.length, plain.length + 4);
  assert.is(s.tcp!.options.mss, 1460);
  assert.ok(s.tcp!.checksumOk);
});

codec('IPv6 extension headers are walked to the TCP header', () => {
  const inner = craftTcp({
    src: 'fd00::1',
    dst: 'fd00::2',
    srcPort: 5,
    dstPort: 6,
    seq: 1,
    flags: 'S',
  });
  const ext = new Uint8Array(inner.length + 8);
  ext.set(inner.subarray(0, 40));
  ext[6] = 60; // Destination Options header first
  new DataView(ext.buffer).setUint16(4, inner.length - 40 + 8);
  ext.set([6, 0, 1, 4, 0, 0, 0, 0], 40); // next = TCP, len 0 (8 bytes), PadN
  ext.set(inner.subarray(40), 48);
  const s = parsePacket(ext)!;
  assert.is(s.protocol, 6);
  assert.is(s.tcp!.dstPort, 6);
  assert.ok(s.tcp!.checksumOk, 'the TCP checksum does not depend on extension headers');
});

codec('a non-first IPv4 fragment is parsed without a transport header', () => {
  const p = craftIp({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, payload: new Uint8Array(16) });
  p[6] = 0x00;
  p[7] = 0x02; // offset 16 bytes
  p[10] = p[11] = 0;
  const sum = internetChecksum(p.subarray(0, 20));
  p[10] = sum >> 8;
  p[11] = sum & 0xff;
  const s = parsePacket(p)!;
  assert.equal(s.fragment, { id: 0, offset: 16, more: false });
  assert.is(s.tcp, undefined);
  assert.is(s.payload.length, 16);
});

codec('craft errors name the field', () => {
  const base = { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, seq: 1 };
  assert.throws(() => craftTcp({ ...base, flags: 'SX' }), /unknown letter 'X'/);
  assert.throws(() => craftTcp({ ...base, dst: 'fd00::2', flags: 'S' }), /same IP version/);
  assert.throws(() => craftTcp({ ...base, srcPort: 70000, flags: 'S' }), /srcPort/);
  assert.throws(
    () => craftTcp({ ...base, src: '10.0.0.256', flags: 'S' }),
    /src is not an IP address/,
  );
  assert.throws(
    () =>
      craftTcp({
        ...base,
        flags: 'S',
        options: {
          sack: [
            [1, 2],
            [3, 4],
            [5, 6],
            [7, 8],
            [9, 10],
          ],
        },
      }),
    /at most 40/,
  );
});

codec.run();

// ---- describing ----

const describe = suite('describePacket');

describe('a SYN reads like tcpdump', () => {
  assert.is(
    describePacket(syn4()),
    '10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 65535, options [mss 1460,wscale 7], length 0',
  );
});

describe('data with ACK shows the sequence range and ack', () => {
  const p = craftTcp({
    src: 'fd00::1',
    dst: 'fd00::2',
    srcPort: 80,
    dstPort: 5000,
    seq: 100,
    ack: 7,
    flags: 'PA',
    window: 512,
    payload: 'abcd',
  });
  assert.is(
    describePacket(p),
    'fd00::1.80 > fd00::2.5000: Flags [P.], seq 100:104, ack 7, win 512, length 4',
  );
});

describe('ICMP echo, bad checksums and garbage', () => {
  assert.is(
    describePacket(
      craftIcmpEcho({ src: '10.0.0.2', dst: '10.0.0.1', id: 1, seq: 2, payload: 'abc' }),
    ),
    '10.0.0.2 > 10.0.0.1: ICMP echo request, id 1, seq 2, length 11',
  );
  assert.is(
    describePacket(craftIcmpEcho({ src: 'fd00::1', dst: 'fd00::2', id: 1, seq: 2, reply: true })),
    'fd00::1 > fd00::2: ICMP6, echo reply, id 1, seq 2, length 8',
  );
  assert.match(
    describePacket(
      craftTcp({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        srcPort: 1,
        dstPort: 2,
        seq: 1,
        flags: 'R',
        badChecksum: true,
      }),
    ),
    /Flags \[R\].*\[bad tcp cksum\]$/,
  );
  assert.is(describePacket(new Uint8Array([1, 2, 3])), 'unparseable packet (3 bytes)');
});

describe.run();

// ---- matching ----

const match = suite('matchers');

const synAck = craftTcp({
  src: '10.0.0.1',
  dst: '10.0.0.2',
  srcPort: 80,
  dstPort: 1234,
  seq: 5000,
  ack: 1001,
  flags: 'SA',
  window: 65535,
  options: { mss: 1460, wscale: 7 },
});

match('a matching packet passes and comes back parsed', () => {
  const p = expectPacket(
    synAck,
    ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ttl: 64 }),
    tcp({ flags: 'SA', ack: 1001, window: (w) => w > 0, options: { mss: 1460, wscale: 7 } }),
  );
  assert.is(p.tcp!.seq, 5000);
});

match('a mismatch throws naming every wrong field and the packet', () => {
  try {
    expectPacket(
      synAck,
      ipv4({ dst: '10.0.0.3' }),
      tcp({ flags: 'R', ack: 1000, window: (w) => w === 0 }),
    );
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, PacketMismatchError);
    const e = error as PacketMismatchError;
    assert.equal(e.mismatches.slice(0, 3), [
      'ip.dst is "10.0.0.2", expected "10.0.0.3"',
      'tcp.ack is 1001, expected 1000',
      'tcp.flags is "SA", expected "R"',
    ]);
    // The predicate is shown as its source text (which a transpiler may have reformatted).
    assert.match(e.mismatches[3]!, /^tcp\.window is 65535, which fails .*w\s*===\s*0/);
    assert.is(e.mismatches.length, 4);
    assert.match(e.message, /^packet 10\.0\.0\.1\.80 > 10\.0\.0\.2\.1234: Flags \[S\.\]/);
  }
});

match('letters are exact, an object names only the flags it cares about', () => {
  assert.not.ok(matches(synAck, tcp({ flags: 'S' })));
  assert.ok(matches(synAck, tcp({ flags: { syn: true } })));
  assert.ok(matches(synAck, tcp({ flags: { syn: true, rst: false } })));
  assert.not.ok(matches(synAck, tcp({ flags: { fin: true } })));
  assert.throws(() => tcp({ flags: 'Q' }), /unknown letter 'Q'/);
});

match('an option given as undefined must be absent', () => {
  assert.ok(matches(synAck, tcp({ options: { timestamp: undefined } })));
  assert.equal(mismatches(synAck, tcp({ options: { mss: undefined } })), [
    'tcp.options.mss is 1460, expected undefined',
  ]);
});

match('tcp() rejects a bad checksum unless told otherwise', () => {
  const bad = craftTcp({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    seq: 1,
    flags: 'S',
    badChecksum: true,
  });
  assert.equal(mismatches(bad, tcp({ flags: 'S' })), ['tcp.checksumOk is false, expected true']);
  assert.ok(matches(bad, tcp({ flags: 'S', checksumOk: false })));
});

match('version, protocol and payload expectations', () => {
  const ping6 = craftIcmpEcho({ src: 'fd00::2', dst: 'fd00::1', id: 9, seq: 1, payload: 'x' });
  assert.ok(matches(ping6, ipv6({ dst: 'fd00:0::1' }), icmpEcho({ id: 9, payload: 'x' })));
  assert.equal(mismatches(ping6, ipv4()), ['ip.version is 6, expected 4']);
  assert.equal(mismatches(ping6, icmpEcho({ reply: true })), ['icmp.type is 128, expected 129']);
  assert.equal(mismatches(ping6, tcp()), ['not a TCP segment (IPv6 ICMPv6)']);
  assert.equal(mismatches(new Uint8Array(3), tcp()), ['unparseable packet (3 bytes)']);
});

match('expected seq and ack wrap modulo 2^32', () => {
  const p = craftTcp({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    seq: 0,
    ack: 0,
    flags: 'A',
  });
  assert.ok(matches(p, tcp({ seq: 0xffffffff + 1, ack: 2 ** 32 })));
});

match('packetFilter is a plain (bytes) => boolean', () => {
  const isSyn = packetFilter(tcp({ flags: 'S' }));
  assert.ok(isSyn(syn4()));
  assert.not.ok(isSyn(synAck));
  assert.not.ok(isSyn(new Uint8Array([0x45])));
});

match.run();

// ---- garbage ----

const garbage = suite('garbage never throws');

const samples = (): Uint8Array[] => [
  syn4(),
  synAck,
  craftTcp({
    src: 'fd00::1',
    dst: 'fd00::2',
    srcPort: 1,
    dstPort: 2,
    seq: 1,
    flags: 'PA',
    payload: 'data',
    options: { timestamp: [1, 2] },
  }),
  craftIcmpEcho({ src: '10.0.0.1', dst: '10.0.0.2', id: 1, seq: 1, payload: 'abc' }),
  craftIcmpEcho({ src: 'fd00::1', dst: 'fd00::2', id: 1, seq: 1 }),
];

function poke(bytes: Uint8Array): void {
  const p = parsePacket(bytes);
  describePacket(bytes);
  matches(bytes, ipv4(), tcp({ flags: 'S', options: { mss: 1 } }));
  matches(bytes, ipv6(), icmpEcho());
  if (p?.tcp) assert.ok(p.tcp.headerLength + p.tcp.payloadLength <= bytes.length);
}

garbage('random bytes: undefined or a packet, never an exception', () => {
  const rnd = xorshift(42);
  let parsed = 0;
  for (let i = 0; i < 20000; i++) {
    const b = new Uint8Array(Math.floor(rnd() * 120));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
    // Make half of them start like an IPv4 or IPv6 header so the deeper paths run too.
    if (i % 2 === 0 && b.length > 0) b[0] = i % 4 === 0 ? 0x45 : 0x60 | (b[0]! & 0x0f);
    poke(b);
    if (parsePacket(b)) parsed++;
  }
  assert.ok(parsed > 0, 'some random inputs should parse, or the deep paths never ran');
});

garbage('every truncation of a valid packet is rejected, none throws', () => {
  for (const p of samples()) {
    for (let n = 0; n < p.length; n++) {
      const cut = p.subarray(0, n);
      assert.is(parsePacket(cut), undefined, `${n} of ${p.length} bytes`);
      poke(cut);
    }
    assert.ok(parsePacket(p));
  }
});

garbage('random single-byte corruptions never throw', () => {
  const rnd = xorshift(7);
  for (const p of samples()) {
    for (let i = 0; i < 3000; i++) {
      const b = p.slice();
      const at = Math.floor(rnd() * b.length);
      b[at] = Math.floor(rnd() * 256);
      poke(b);
    }
  }
});

garbage('non-Uint8Array input gives undefined', () => {
  assert.is(parsePacket(undefined as unknown as Uint8Array), undefined);
  assert.is(parsePacket('E' as unknown as Uint8Array), undefined);
});

garbage.run();
