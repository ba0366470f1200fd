/**
 * PacketProbe itself: what it records, how it waits (virtual time only,
 * never sleeps) and how its failures read.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { craftIcmpEcho, craftTcp, icmpEcho, tcp } from '../../src/packet/index.js';
import { V4, rig, type Rig } from './helpers.js';

const test = suite<{ r: Rig }>('PacketProbe');
test.before.each(async (ctx) => {
  ctx.r = await rig();
});
test.after.each((ctx) => ctx.r.close());

const ping = (seq: number) => craftIcmpEcho({ src: V4.peer, dst: V4.stack, id: 1, seq });

test('the log records both directions with the stack clock time', async ({ r }) => {
  await r.clock.advance(1500);
  r.probe.inject(ping(1));
  await r.probe.expectNext(icmpEcho({ reply: true, seq: 1 }));
  assert.equal(
    r.probe.log.map((x) => [x.direction, x.at]),
    [
      ['in', 1500],
      ['out', 1500],
    ],
  );
  assert.match(r.probe.trace(), /1500 ms >> 10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo request/);
  assert.match(r.probe.trace(), /1500 ms << 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo reply/);
});

test('take() and takeAll() do not wait; pending counts what arrived', async ({ r }) => {
  r.probe.inject(ping(1), ping(2), ping(3));
  assert.is(r.probe.pending, 0, 'output is delivered after the WASM call, on a microtask');
  await r.probe.settle();
  assert.is(r.probe.pending, 3);
  assert.ok(r.probe.take());
  assert.is(r.probe.takeAll().length, 2);
  assert.is(r.probe.take(), undefined);
});

test('waiting for a packet that never comes fails in virtual time, with the trace', async ({
  r,
}) => {
  r.probe.inject(
    craftTcp({ src: V4.peer, dst: V4.stack, srcPort: 1, dstPort: 2, seq: 1, flags: 'R' }),
  );
  const started = Date.now();
  try {
    await r.probe.next(3_600_000);
    assert.unreachable('should have timed out');
  } catch (error) {
    assert.match(String(error), /no packet from the stack within 3600000 ms of virtual time/);
    assert.match(String(error), />> 10\.0\.0\.2\.1 > 10\.0\.0\.1\.2: Flags \[R\]/);
  }
  assert.ok(Date.now() - started < 5000, 'an hour of virtual time must not take real time');
});

test('expectNone fails naming what the stack sent', async ({ r }) => {
  r.probe.inject(ping(9));
  try {
    await r.probe.expectNone(10);
    assert.unreachable('should have failed');
  } catch (error) {
    assert.match(
      String(error),
      /expected no packet within 10 ms, got:\n.*ICMP echo reply, id 1, seq 9/,
    );
  }
});

test('waitFor skips packets until one matches', async ({ r }) => {
  r.probe.inject(ping(1), ping(2), ping(3));
  const p = await r.probe.waitFor([icmpEcho({ reply: true, seq: 3 })]);
  assert.is(p.icmp!.seq, 3);
  assert.is(r.probe.pending, 0);
});

test('expectNext reports the mismatching field', async ({ r }) => {
  r.probe.inject(ping(4));
  try {
    await r.probe.expectNext(tcp({ flags: 'SA' }));
    assert.unreachable('should have failed');
  } catch (error) {
    assert.match(String(error), /not a TCP segment \(IPv4 ICMP\)/);
  }
});

test.run();
