/**
 * ICMP echo at the packet level: the stack answers pings to its own
 * addresses, IPv4 and IPv6, with the request's id, sequence and data, and
 * ignores requests it must not answer.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { craftIcmpEcho, icmpEcho, ipv4, ipv6 } from '../../src/packet/index.js';
import { V4, V6, rig, type Rig } from './helpers.js';

const test = suite<{ r: Rig }>('ICMP echo');

test.before.each(async (ctx) => {
  ctx.r = await rig();
});
test.after.each((ctx) => {
  ctx.r.close();
});

test('IPv4: an echo request to the interface address gets a reply with the same id, seq and data', async ({
  r,
}) => {
  r.probe.inject(
    craftIcmpEcho({ src: V4.peer, dst: V4.stack, id: 0x1234, seq: 7, payload: 'ping v4' }),
  );
  const reply = await r.probe.expectNext(
    ipv4({ src: V4.stack, dst: V4.peer }),
    icmpEcho({ reply: true, id: 0x1234, seq: 7, payload: 'ping v4' }),
  );
  assert.ok(reply.ttl > 0);
  await r.probe.expectNone(1000);
});

test('IPv6: an echo request to the interface address gets an ICMPv6 reply', async ({ r }) => {
  r.probe.inject(
    craftIcmpEcho({ src: V6.peer, dst: V6.stack, id: 42, seq: 1, payload: 'ping v6' }),
  );
  await r.probe.expectNext(
    ipv6({ src: V6.stack, dst: V6.peer }),
    icmpEcho({ reply: true, id: 42, seq: 1, payload: 'ping v6' }),
  );
  await r.probe.expectNone(1000);
});

test('a burst of requests is answered in order', async ({ r }) => {
  for (let seq = 1; seq <= 5; seq++)
    r.probe.inject(craftIcmpEcho({ src: V4.peer, dst: V4.stack, id: 1, seq }));
  for (let seq = 1; seq <= 5; seq++)
    await r.probe.expectNext(icmpEcho({ reply: true, id: 1, seq }));
});

test('a request with a bad checksum is dropped (both versions)', async ({ r }) => {
  r.probe.inject(craftIcmpEcho({ src: V4.peer, dst: V4.stack, id: 1, seq: 1, badChecksum: true }));
  r.probe.inject(craftIcmpEcho({ src: V6.peer, dst: V6.stack, id: 1, seq: 1, badChecksum: true }));
  await r.probe.expectNone(1000);
});

test('a request for another host is not answered (the stack does not forward)', async ({ r }) => {
  r.probe.inject(craftIcmpEcho({ src: V4.peer, dst: '10.0.0.99', id: 1, seq: 1 }));
  r.probe.inject(craftIcmpEcho({ src: V6.peer, dst: 'fd00::99', id: 1, seq: 1 }));
  await r.probe.expectNone(1000);
});

test('an echo reply is not answered', async ({ r }) => {
  r.probe.inject(craftIcmpEcho({ src: V4.peer, dst: V4.stack, id: 1, seq: 1, reply: true }));
  r.probe.inject(craftIcmpEcho({ src: V6.peer, dst: V6.stack, id: 1, seq: 1, reply: true }));
  await r.probe.expectNone(1000);
});

test.run();
