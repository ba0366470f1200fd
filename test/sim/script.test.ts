/**
 * Scripted faults: by packet count, by predicate, by time window, and the
 * drop/duplicate/corrupt/delay actions; match specs for JSON scenarios.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Script,
  dropAll,
  dropNth,
  isSyn,
  isSynAck,
  partition,
  toPredicate,
} from '../../src/sim/index.js';
import { packetInfo } from '../../src/sim/script.js';
import { craftTcp } from '../../src/packet/index.js';
import { sha256 } from '../helpers/net.js';
import { events, simPair, transfer } from './helpers.js';

const test = suite('script');

test('drop the 3rd packet: exactly that one is lost, and TCP recovers', async () => {
  const p = await simPair({ delay: 5, script: [dropNth(3)] });
  const t = transfer(p, 64 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  const sends = p.entries().filter((e) => e.kind === 'send');
  const drops = events(p.entries(), 'drop');
  assert.is(drops.length, 1);
  assert.is(drops[0]!.reason, 'script');
  assert.is(drops[0]!.packet, sends[2]!.packet, 'the third packet on the link');
  p.sim.close();
});

test('nth counts within a match and a direction: the first two SYNs are lost, the third connects', async () => {
  const p = await simPair({ script: [dropNth([1, 2], isSyn, 'ab')] });
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  assert.is((await p.sim.run({ done: () => c.active })).reason, 'done');
  const syns = events(p.entries(), 'send', 'ab').filter((e) => e.parsed?.tcp?.flags.syn);
  assert.is(syns.length, 3);
  assert.equal(
    events(p.entries(), 'drop').map((e) => e.index),
    [syns[0]!.index, syns[1]!.index],
  );
  assert.ok(p.sim.now > 1000, `connected after SYN backoff, at ${p.sim.now} ms`);
  p.sim.close();
});

test('drop every SYN-ACK: connect times out with ETIMEDOUT', async () => {
  const p = await simPair({ delay: 5, script: [dropAll(isSynAck)] });
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const r = await p.sim.run({ done: () => !c.alive });
  assert.is(r.reason, 'done');
  assert.is(c.error?.code, 'ETIMEDOUT');
  const synAcks = events(p.entries(), 'send', 'ba').filter(
    (e) => e.parsed?.tcp?.flags.syn && e.parsed.tcp.flags.ack,
  );
  assert.ok(synAcks.length >= 2, `${synAcks.length} SYN-ACKs sent`);
  assert.is(events(p.entries(), 'drop').length, synAcks.length, 'each was dropped');
  assert.ok(
    events(p.entries(), 'deliver', 'ba').every((e) => !e.parsed?.tcp?.flags.syn),
    'none delivered',
  );
  p.sim.close();
});

test('partition between t1 and t2: the transfer stalls, then resumes and completes', async () => {
  const t1 = 50;
  const t2 = 2000;
  const p = await simPair({ delay: 10, script: [partition(t1, t2)] });
  const t = transfer(p, 8 << 20);
  await p.sim.run({ until: t1 + 10, idle: false });
  const before = t.received()!.length();
  assert.ok(before > 0 && before < t.data.length, `progress before the cut: ${before}`);
  await p.sim.run({ until: t2, idle: false });
  assert.is(t.received()!.length(), before, 'nothing arrives during the partition');
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.ok(p.sim.now > t2);
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  for (const e of p.entries()) {
    const inside = e.time >= t1 && e.time < t2;
    if (e.kind === 'drop') assert.ok(inside, `drop at ${e.time} is inside the partition`);
    if (e.kind === 'send' && inside)
      assert.ok(
        p
          .entries()
          .some((d) => d.kind === 'drop' && d.direction === e.direction && d.index === e.index),
        'everything sent inside the partition is dropped',
      );
  }
  p.sim.close();
});

test('a partition the test opens and closes itself, with a closure predicate', async () => {
  let cut = false;
  const p = await simPair({ delay: 1, script: [{ match: () => cut, action: 'drop' }] });
  let got = 0;
  p.b.listen({ port: 80 }, (s) => {
    s.markActive();
    s.on('readable', (d) => (got += d.length));
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await p.sim.run({ done: () => c.active });
  cut = true;
  c.write(new Uint8Array(1000));
  await p.sim.run({ for: 5000, idle: false });
  assert.is(got, 0);
  cut = false;
  assert.is((await p.sim.run({ done: () => got === 1000 })).reason, 'done');
  p.sim.close();
});

test('actions: delay holds a packet, duplicate copies it, corrupt flips a bit', async () => {
  const p = await simPair({
    delay: 1,
    script: [
      { match: 'syn', action: { delay: 100 } },
      { match: 'syn-ack', action: 'duplicate' },
      { match: 'data', direction: 'ab', nth: 1, action: 'corrupt' },
    ],
  });
  const t = transfer(p, 4096);
  let activeAt = -1;
  t.client.on('becameActive', () => (activeAt = p.sim.now));
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(activeAt, 102, 'SYN took 101 ms, SYN-ACK 1 ms');
  const synAckDeliveries = events(p.entries(), 'deliver', 'ba').filter(
    (e) => e.parsed?.tcp?.flags.syn,
  );
  assert.is(synAckDeliveries.length, 2);
  assert.is(synAckDeliveries[1]!.duplicate, true);
  const corrupted = events(p.entries(), 'deliver').filter((e) => e.corrupted);
  assert.is(corrupted.length, 1);
  assert.is(sha256(t.received()!.bytes()), sha256(t.data), 'the corrupted segment was resent');
  p.sim.close();
});

test('match specs: names and src/packet fields agree with the predicates', () => {
  const synAck = craftTcp({
    src: '10.0.0.2',
    dst: '10.0.0.1',
    srcPort: 80,
    dstPort: 5000,
    seq: 1,
    ack: 2,
    flags: 'SA',
  });
  const syn = craftTcp({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 5000,
    dstPort: 80,
    seq: 1,
    flags: 'S',
  });
  const info = (p: Uint8Array) => packetInfo(p, 'ab', 1, 1, 0);
  for (const [spec, expectSyn, expectSynAck] of [
    ['syn', true, false],
    ['syn-ack', false, true],
    [{ tcp: { flags: 'SA' } }, false, true],
    [{ tcp: { dstPort: 80 } }, true, false],
    [{ ip: { src: '10.0.0.2' }, tcp: { flags: { syn: true } } }, false, true],
    ['any', true, true],
    ['data', false, false],
  ] as const) {
    const f = toPredicate(spec);
    assert.is(f(syn, info(syn)), expectSyn, `${JSON.stringify(spec)} on SYN`);
    assert.is(f(synAck, info(synAck)), expectSynAck, `${JSON.stringify(spec)} on SYN-ACK`);
  }
  assert.is(isSynAck(synAck, info(synAck)), true);
  assert.is(isSyn(synAck, info(synAck)), false);
});

test('bad rules throw naming the problem', () => {
  assert.throws(() => new Script([{ action: 'explode' as never }]), /action/);
  assert.throws(() => new Script([{ nth: 0, action: 'drop' }]), /nth/);
  assert.throws(() => new Script([{ match: 'synack' as never, action: 'drop' }]), /synack/);
  assert.throws(() => new Script([{ direction: 'up' as never, action: 'drop' }]), /direction/);
  assert.throws(() => new Script([{ when: 1, action: 'drop' } as never]), /when/);
  assert.throws(() => toPredicate({ udp: {} } as never), /udp/);
});

test.run();
