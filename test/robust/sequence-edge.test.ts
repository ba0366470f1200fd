/**
 * Sequence numbers exactly 2^31 from what a connection expects: serial
 * number arithmetic cannot order them, and lwIP took a bare FIN there for
 * a segment overlapping rcv_nxt, computed an offset of 2^31 and asserted,
 * failing the whole stack (lwIP patch 0015; the native fuzzer's
 * regressions/seq-2-31-from-rcv-nxt.in). Any peer that can put one segment
 * on a connection could do it, so the stack must treat it as the old
 * segment it is and carry on.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePacket, type TcpConnection } from '../../src/index.js';
import { bytes, collect, pair, sha256, until, writeAll } from '../helpers/net.js';
import { A4, A6, B4, B6, ipPacket, tcpSegment } from '../fuzz/wire.js';

const test = suite('sequence edge');

const FIN = 0x01;
const ACK = 0x10;

for (const v6 of [false, true]) {
  test(`IPv${v6 ? 6 : 4}: segments 2^31 from rcv_nxt are dropped; the connection goes on`, async () => {
    const p = await pair();
    let fatal: unknown;
    p.b.on('fatal', (e) => (fatal = e));
    let server: TcpConnection | undefined;
    p.b.listen({ port: 80 }, (c) => {
      server = c;
      c.markActive();
    });
    const client = p.a.connect({ address: v6 ? 'fd00::2' : '10.0.0.2', port: 80 });
    // b's last acknowledgment is its rcv_nxt for the client's data.
    let rcvNxt: number | undefined;
    let ackNxt = 0;
    p.ib.addTap((pkt, dir) => {
      const tcp = parsePacket(pkt)?.tcp;
      if (!tcp || tcp.srcPort !== 80) return;
      if (dir === 'out' && tcp.flags.ack) {
        rcvNxt = tcp.ack;
        ackNxt = tcp.seq;
      }
    });
    await until(
      p.clock,
      () => client.active && server !== undefined && rcvNxt !== undefined,
      'setup',
    );
    const received = collect(server!);

    const far = (rcvNxt! + 2 ** 31) >>> 0;
    for (const [flags, payload] of [
      [FIN, new Uint8Array(0)],
      [FIN | ACK, new Uint8Array(0)],
      [ACK, bytes(100, 7)],
      [FIN | ACK, bytes(1000, 8)],
    ] as const) {
      const seg = tcpSegment(v6, v6 ? A6 : A4, v6 ? B6 : B4, {
        sport: client.local.port,
        dport: 80,
        seq: far,
        ack: ackNxt,
        flags,
        window: 65535,
        options: new Uint8Array(0),
        payload,
      });
      p.ib.input(ipPacket(v6, v6 ? A6 : A4, v6 ? B6 : B4, 6, seg));
    }
    await p.clock.advance(10);
    assert.is(fatal, undefined, 'the stack did not fail');
    assert.ok(server!.alive, 'the connection is still open');
    assert.is(received.length(), 0, 'none of the forged bytes was delivered');

    const data = bytes(50_000, 9);
    writeAll(client, data);
    await until(p.clock, () => received.length() >= data.length, 'the real data');
    assert.is(sha256(received.bytes()), sha256(data));
    assert.not.ok(received.eof(), 'no forged FIN was taken');
    p.close();
  });
}

test.run();
