/**
 * TCP at the packet level, LISTEN and CLOSED states: what the stack answers
 * to a SYN on a listening port (SYN-ACK and its options) and on a port
 * nobody listens on (RST), for IPv4 and IPv6. The test plays the peer with
 * crafted segments.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ipv4, ipv6, tcp } from '../../src/packet/index.js';
import { Peer, V4, V6, listenActive, rig, type Rig } from './helpers.js';

// ---- LISTEN ----

const listen = suite<{ r: Rig }>('LISTEN: SYN on a listening port');
listen.before.each(async (ctx) => {
  ctx.r = await rig();
});
listen.after.each((ctx) => ctx.r.close());

listen(
  'IPv4: SYN-ACK acknowledges isn+1, offers MSS 1460 (MTU 1500) and window scale 7',
  async ({ r }) => {
    listenActive(r.stack, 80);
    const peer = new Peer(r.probe, V4, 40000, 80, 1000);
    peer.send('S', { options: { mss: 1460, wscale: 7 } });
    await r.probe.expectNext(
      ipv4({ src: V4.stack, dst: V4.peer }),
      tcp({
        srcPort: 80,
        dstPort: 40000,
        flags: 'SA',
        ack: 1001,
        window: (w) => w > 0,
        options: { mss: 1460, wscale: 7 },
      }),
    );
  },
);

listen(
  'IPv4: the final ACK completes the handshake and the listener gets the connection',
  async ({ r }) => {
    const accepted = listenActive(r.stack, 80);
    const peer = new Peer(r.probe, V4, 40001, 80);
    await peer.handshake();
    await r.probe.settle();
    assert.is(accepted.length, 1);
    const conn = accepted[0]!;
    assert.equal(conn.peer, { family: 4, address: V4.peer, port: 40001 });
    assert.is(conn.local.port, 80);
    assert.is(conn.info().state, 'ESTABLISHED');
    assert.is(conn.info().mss, 1460);
    await r.probe.expectNone(1000);
  },
);

listen(
  'IPv6: SYN-ACK offers MSS 1440 (MTU 1500 less 60) and the handshake completes',
  async ({ r }) => {
    const accepted = listenActive(r.stack, 443);
    const peer = new Peer(r.probe, V6, 40002, 443);
    const synAck = await peer.handshake();
    assert.is(synAck.version, 6);
    assert.equal(synAck.tcp!.options, { mss: 1440, wscale: 7 });
    await r.probe.settle();
    assert.is(accepted.length, 1);
    assert.equal(accepted[0]!.peer, { family: 6, address: V6.peer, port: 40002 });
  },
);

listen('the MSS follows the interface MTU', async () => {
  const r = await rig({ mtu: 1280 });
  try {
    listenActive(r.stack, 80);
    new Peer(r.probe, V4, 1, 80).send('S', { options: { mss: 1460 } });
    await r.probe.expectNext(tcp({ flags: 'SA', options: { mss: 1240 } }));
    new Peer(r.probe, V6, 2, 80).send('S', { options: { mss: 1440 } });
    await r.probe.expectNext(ipv6(), tcp({ flags: 'SA', options: { mss: 1220 } }));
  } finally {
    r.close();
  }
});

listen('no window scale option in the SYN: none in the SYN-ACK (RFC 7323)', async ({ r }) => {
  listenActive(r.stack, 80);
  new Peer(r.probe, V4, 40003, 80).send('S', { options: { mss: 1460 } });
  await r.probe.expectNext(tcp({ flags: 'SA', options: { wscale: undefined } }));
});

listen('a SYN with a bad checksum is dropped silently', async ({ r }) => {
  listenActive(r.stack, 80);
  new Peer(r.probe, V4, 40004, 80).send('S', { badChecksum: true });
  await r.probe.expectNone(5000);
});

listen('an unanswered SYN-ACK is retransmitted with the same sequence number', async ({ r }) => {
  listenActive(r.stack, 80);
  const peer = new Peer(r.probe, V4, 40005, 80);
  peer.send('S', { options: { mss: 1460 } });
  const first = await r.probe.expectNext(tcp({ flags: 'SA', ack: 1001 }));
  const again = await r.probe.expectNext(tcp({ flags: 'SA', ack: 1001, seq: first.tcp!.seq }));
  assert.ok(again);
});

listen.run();

// ---- CLOSED ----

const closed = suite<{ r: Rig }>('CLOSED: segments to a port nobody listens on');
closed.before.each(async (ctx) => {
  ctx.r = await rig();
});
closed.after.each((ctx) => ctx.r.close());

closed('IPv4: SYN gets RST/ACK with seq 0 and ack isn+1', async ({ r }) => {
  new Peer(r.probe, V4, 40010, 81, 5000).send('S');
  await r.probe.expectNext(
    ipv4({ src: V4.stack, dst: V4.peer }),
    tcp({ srcPort: 81, dstPort: 40010, flags: 'RA', seq: 0, ack: 5001, payloadLength: 0 }),
  );
  await r.probe.expectNone(5000);
});

closed('IPv6: SYN gets RST/ACK with seq 0 and ack isn+1', async ({ r }) => {
  new Peer(r.probe, V6, 40011, 81, 0xfffffffe).send('S');
  await r.probe.expectNext(
    ipv6({ src: V6.stack, dst: V6.peer }),
    tcp({ srcPort: 81, dstPort: 40011, flags: 'RA', seq: 0, ack: 0xffffffff }),
  );
});

closed('a SYN with data: the RST acknowledges the data too', async ({ r }) => {
  new Peer(r.probe, V4, 40012, 81, 100).send('S', { payload: 'hello' });
  await r.probe.expectNext(tcp({ flags: 'RA', ack: 106 }));
});

closed('a stray ACK gets a RST whose seq is the segment ack (RFC 793)', async ({ r }) => {
  const peer = new Peer(r.probe, V4, 40013, 81, 100);
  peer.ack = 777777;
  peer.send('A');
  await r.probe.expectNext(tcp({ flags: (f) => f.rst && !f.syn && !f.fin, seq: 777777 }));
});

closed('a RST is never answered', async ({ r }) => {
  new Peer(r.probe, V4, 40014, 81).send('R');
  new Peer(r.probe, V6, 40014, 81).send('RA');
  await r.probe.expectNone(5000);
});

closed('a port closed after listening refuses again', async ({ r }) => {
  const listener = r.stack.listen({ port: 82 }, () => {});
  listener.close();
  new Peer(r.probe, V4, 40015, 82).send('S');
  await r.probe.expectNext(tcp({ flags: 'RA', ack: 1001 }));
});

closed.run();
