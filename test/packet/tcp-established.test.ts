/**
 * TCP at the packet level after the handshake, grouped by state: what the
 * stack sends when the test (playing the peer) loses its ACKs, closes its
 * window, half-closes or resets. Time is virtual: the probe moves the clock
 * only to the stack's next timer, so backoffs of minutes take milliseconds.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpConnection } from '../../src/index.js';
import { expectPacket, tcp, type ProbeRecord } from '../../src/packet/index.js';
import { bytes } from '../helpers/net.js';
import { Peer, V4, V6, listenActive, rig, type Family, type Rig } from './helpers.js';

interface Ctx {
  r: Rig;
  peer: Peer;
  conn: TcpConnection;
  events: string[];
}

/** One stack with one accepted, active connection; the test is the client. */
async function established(family: Family = V4, window = 65535): Promise<Ctx> {
  const r = await rig();
  const accepted = listenActive(r.stack, 80);
  const peer = new Peer(r.probe, family, 40000, 80);
  await peer.handshake(window);
  await r.probe.settle();
  const conn = accepted[0];
  if (!conn) throw new Error(`no connection accepted\n${r.probe.trace()}`);
  const events: string[] = [];
  conn.on('readEOF', () => events.push('readEOF'));
  conn.on('terminated', (reason, error) =>
    events.push(error ? `terminated:${reason}:${error.code}` : `terminated:${reason}`),
  );
  return { r, peer, conn, events };
}

const text = (s: string) => new TextEncoder().encode(s);
const gapsOf = (records: ProbeRecord[]) =>
  records.slice(1).map((rec, i) => rec.at - records[i]!.at);

// ---- ESTABLISHED ----

const est = suite('ESTABLISHED');

est('data from the peer is delivered to the app and acknowledged', async () => {
  const { r, peer, conn } = await established();
  try {
    const got: string[] = [];
    conn.on('readable', (d) => got.push(new TextDecoder().decode(d)));
    peer.send('PA', { payload: 'hello, stack' });
    await peer.expect({ flags: 'A', ack: peer.seq, payloadLength: 0 });
    assert.equal(got, ['hello, stack']);
  } finally {
    r.close();
  }
});

est('unacknowledged data is retransmitted with the same seq, at growing intervals', async () => {
  const { r, peer, conn } = await established();
  try {
    const data = bytes(1000, 3);
    const start = r.clock.now();
    assert.is(conn.write(data), 1000);
    const sends: ProbeRecord[] = [];
    for (let i = 0; i < 5; i++) {
      const rec = await r.probe.nextRecord();
      expectPacket(
        rec.packet,
        peer.fromStack,
        tcp({ seq: peer.ack, payload: data, flags: (f) => f.ack && !f.syn && !f.fin && !f.rst }),
      );
      sends.push(rec);
    }
    assert.is(sends[0]!.at, start, 'the first transmission goes out at once');
    const gaps = gapsOf(sends);
    for (let i = 1; i < gaps.length; i++)
      assert.ok(gaps[i]! > gaps[i - 1]!, `retransmission gaps must grow: ${gaps.join(', ')} ms`);
    assert.ok(gaps[0]! >= 200, `first RTO ${gaps[0]} ms is implausibly short`);
    assert.is(conn.info().retransmissions, 4);
  } finally {
    r.close();
  }
});

est('an ACK of the data stops the retransmissions', async () => {
  const { r, peer, conn } = await established();
  try {
    conn.write(text('once'));
    await peer.expect({ seq: peer.ack, payload: 'once' });
    peer.ack += 4;
    peer.send('A');
    await r.probe.expectNone(120_000);
    assert.is(conn.info().unacked, 0);
  } finally {
    r.close();
  }
});

est('a zero window is probed by the persist timer; when it opens, the data flows', async () => {
  const { r, peer, conn } = await established(V4, 0);
  try {
    const data = bytes(3000, 5);
    assert.is(conn.write(data), 3000);
    await r.probe.expectNone(0);
    const probes: ProbeRecord[] = [];
    for (let i = 0; i < 4; i++) {
      const rec = await r.probe.nextRecord();
      // A window probe: at most one byte, at the first unacknowledged sequence number.
      expectPacket(
        rec.packet,
        peer.fromStack,
        tcp({
          seq: peer.ack,
          payloadLength: (n) => n <= 1,
          flags: (f) => f.ack && !f.fin && !f.rst,
        }),
      );
      probes.push(rec);
    }
    const gaps = gapsOf(probes);
    for (let i = 1; i < gaps.length; i++)
      assert.ok(gaps[i]! > gaps[i - 1]!, `persist intervals must grow: ${gaps.join(', ')} ms`);
    peer.send('A', { window: 65535 });
    const got = await peer.receive(3000);
    assert.equal(got, data);
  } finally {
    r.close();
  }
});

est('a RST from the peer ends the connection with ECONNRESET, and nothing answers it', async () => {
  const { r, peer, events } = await established();
  try {
    peer.send('R');
    await r.probe.expectNone(10_000);
    assert.equal(events, ['terminated:reset:ECONNRESET']);
  } finally {
    r.close();
  }
});

est('a RST outside the window is ignored', async () => {
  const { r, peer, conn, events } = await established();
  try {
    peer.send('R', { seq: peer.seq + 1_000_000 });
    await r.probe.settle();
    assert.ok(conn.alive);
    assert.equal(events, []);
  } finally {
    r.close();
  }
});

for (const [family, mss] of [
  [V4, 1460],
  [V6, 1440],
] as const) {
  est(
    `an MSS option on a segment without SYN changes nothing (${family === V4 ? 'IPv4' : 'IPv6'}; lwIP patch 0009)`,
    async () => {
      const { r, peer, conn } = await established(family);
      try {
        assert.is(conn.info().mss, mss, 'MSS from the handshake');
        // In the window and acceptable, with an MSS option: before the patch
        // lwIP took it (MSS 1: one byte per segment).
        peer.send('PA', { payload: 'x', options: { mss: 1 } });
        await peer.expect({ flags: 'A', ack: peer.seq, payloadLength: 0 });
        peer.send('A', { options: { mss: 65000 } });
        await r.probe.settle();
        assert.is(conn.info().mss, mss, 'MSS after the segments with options');
        // What goes out is cut at the handshake's MSS, not at 1 or 65000.
        assert.is(conn.write(bytes(3 * mss, 5)), 3 * mss);
        const data = await peer.receive(3 * mss);
        assert.equal(data, bytes(3 * mss, 5));
        const sizes = r.probe.log
          .filter((rec) => rec.direction === 'out')
          .map((rec) => expectPacket(rec.packet).tcp!)
          .filter((t) => t.payloadLength > 0)
          .map((t) => t.payloadLength);
        assert.equal(sizes, [mss, mss, mss], 'segment sizes');
      } finally {
        r.close();
      }
    },
  );
}

est.run();

// ---- CLOSE-WAIT (the peer closed first) ----

const closeWait = suite('CLOSE-WAIT: peer FIN, half-close');

for (const family of [V4, V6]) {
  const v = family === V4 ? 'IPv4' : 'IPv6';

  closeWait(
    `${v}: peer FIN is ACKed, readEOF fires, the stack still sends, then the app's FIN goes out`,
    async () => {
      const { r, peer, conn, events } = await established(family);
      try {
        peer.send('FA');
        await peer.expect({ flags: 'A', ack: peer.seq, payloadLength: 0 });
        assert.equal(events, ['readEOF']);
        assert.is(conn.info().state, 'CLOSE_WAIT');

        assert.is(conn.write(text('still talking')), 13);
        await peer.expect({
          seq: peer.ack,
          payload: 'still talking',
          flags: (f) => f.ack && !f.fin,
        });
        peer.ack += 13;
        peer.send('A');

        conn.gracefulClose();
        await peer.expect({ flags: 'FA', seq: peer.ack, ack: peer.seq, payloadLength: 0 });
        peer.ack += 1;
        peer.send('A');
        await r.probe.expectNone(60_000);
        assert.equal(events, ['readEOF', 'terminated:close']);
        const stats = r.stack.stats();
        assert.is(stats.connections, 0, 'no connection handle left');
        assert.is(stats.handles, 1, 'only the listener is left');
        assert.is(stats.tcp.established + stats.tcp.closing + stats.tcp.timeWait, 0);
      } finally {
        r.close();
      }
    },
  );
}

closeWait('a retransmitted FIN is ACKed again', async () => {
  const { r, peer } = await established();
  try {
    peer.send('FA');
    await peer.expect({ flags: 'A', ack: peer.seq });
    peer.send('FA', { seq: peer.seq - 1 });
    await peer.expect({ flags: 'A', ack: peer.seq });
  } finally {
    r.close();
  }
});

closeWait.run();

// ---- FIN-WAIT (the app closed first) ----

const finWait = suite('FIN-WAIT: the app closes first');

finWait(
  'shutdownWrite sends FIN; the stack keeps receiving until the peer FIN, then ACKs it',
  async () => {
    const { r, peer, conn, events } = await established();
    try {
      const got: string[] = [];
      conn.on('readable', (d) => got.push(new TextDecoder().decode(d)));
      conn.shutdownWrite();
      await peer.expect({ flags: 'FA', seq: peer.ack, payloadLength: 0 });
      peer.ack += 1;
      peer.send('A');
      await r.probe.settle();
      assert.is(conn.info().state, 'FIN_WAIT_2');

      peer.send('PA', { payload: 'late data' });
      await peer.expect({ flags: 'A', ack: peer.seq });
      assert.equal(got, ['late data']);

      peer.send('FA');
      await peer.expect({ flags: 'A', ack: peer.seq, seq: peer.ack });
      // Both FINs exchanged: the orderly close is complete (TIME-WAIT is lwIP's business).
      assert.equal(events, ['readEOF', 'terminated:close']);
    } finally {
      r.close();
    }
  },
);

finWait.run();

// ---- TIME-WAIT (the app closed first, both FINs exchanged) ----

const timeWait = suite('TIME-WAIT');

/** Closes an established connection from the app's side first; the stack ends in TIME-WAIT. */
async function closeToTimeWait({ r, peer, conn }: Ctx): Promise<void> {
  conn.gracefulClose();
  await peer.expect({ flags: 'FA', seq: peer.ack, payloadLength: 0 });
  peer.ack += 1;
  peer.send('FA');
  await peer.expect({ flags: 'A', ack: peer.seq, seq: peer.ack });
  assert.is(r.stack.stats().tcp.timeWait, 1, 'in TIME-WAIT');
}

for (const family of [V4, V6]) {
  const name = family === V4 ? 'IPv4' : 'IPv6';
  timeWait(
    `a new SYN from the same port, beyond the old sequence numbers, opens a new connection at once (${name}; RFC 1122 4.2.2.13, lwIP patch 0010)`,
    async () => {
      const ctx = await established(family);
      const { r, peer } = ctx;
      try {
        await closeToTimeWait(ctx);
        const oldSndNxt = peer.ack;
        // Well inside the 2 MSL: lwIP alone answered this SYN with an RST
        // (it falls in the old window) or, further on, an ACK.
        await r.probe.advance(1_000);
        peer.seq = (peer.seq + 100_000) >>> 0;
        const synAck = await peer.handshake(); // same ports: the same 4-tuple
        await r.probe.settle();
        const iss = synAck.tcp!.seq;
        assert.ok(((iss - oldSndNxt) | 0) > 0, `new ISS ${iss} above the old snd_nxt ${oldSndNxt}`);
        const s = r.stack.stats();
        assert.is(s.tcp.timeWait, 0, 'the TIME-WAIT pcb is gone');
        assert.is(s.tcp.established, 1, 'the new connection is established');
        assert.is(s.connections, 1, 'and handed to the application');
      } finally {
        r.close();
      }
    },
  );
}

timeWait('an old SYN (not beyond the old sequence numbers) leaves TIME-WAIT alone', async () => {
  const ctx = await established();
  const { r, peer } = ctx;
  try {
    await closeToTimeWait(ctx);
    peer.send('S', { seq: peer.seq - 10, options: { mss: 1460 } });
    const answer = await peer.expect();
    assert.ok(answer.tcp!.flags.ack && !answer.tcp!.flags.syn, 'an ACK, no SYN-ACK');
    await r.probe.settle();
    assert.is(r.stack.stats().tcp.timeWait, 1, 'still in TIME-WAIT');
    assert.is(r.stack.stats().connections, 0);
  } finally {
    r.close();
  }
});

timeWait(
  'a new SYN after the listener closed ends TIME-WAIT and is refused with an RST',
  async () => {
    const r = await rig();
    try {
      const conns: TcpConnection[] = [];
      const listener = r.stack.listen({ port: 80 }, (c) => {
        c.markActive();
        conns.push(c);
      });
      const peer = new Peer(r.probe, V4, 40000, 80);
      await peer.handshake();
      await r.probe.settle();
      await closeToTimeWait({ r, peer, conn: conns[0]!, events: [] });
      listener.close();
      peer.seq = (peer.seq + 100_000) >>> 0;
      peer.send('S', { options: { mss: 1460 } });
      await peer.expect({ flags: 'RA', ack: peer.seq });
      await r.probe.settle();
      assert.is(r.stack.stats().tcp.timeWait, 0);
    } finally {
      r.close();
    }
  },
);

timeWait.run();
