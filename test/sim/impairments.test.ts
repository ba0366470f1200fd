/**
 * Link impairments, one test per rule: each shows its effect in the packet
 * trace (or in virtual time) and that TCP still delivers the data intact.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DirectionFaults,
  SimRandom,
  checkImpairments,
  impairLink,
  type Impairments,
} from '../../src/sim/index.js';
import { sha256 } from '../helpers/net.js';
import { bitDistance, events, simPair, transfer } from './helpers.js';

const test = suite('impairments');

const payloadOf = (e: { parsed?: { tcp?: { payloadLength: number } } | undefined }) =>
  e.parsed?.tcp?.payloadLength ?? 0;

test('loss: lost segments are retransmitted and the data arrives intact', async () => {
  const p = await simPair({ loss: 0.1, delay: 5 }, { seed: 3 });
  const t = transfer(p, 256 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  assert.ok(p.link.stats.ab.dropped.loss > 0, 'some client packets lost');
  const sends = events(p.entries(), 'send', 'ab').filter((e) => payloadOf(e) > 0);
  const lost = events(p.entries(), 'drop', 'ab').filter((e) => payloadOf(e) > 0);
  assert.ok(lost.length > 0);
  for (const d of lost) {
    const seq = d.parsed!.tcp!.seq;
    const again = sends.some((s) => s.index > d.index && s.parsed!.tcp!.seq === seq);
    assert.ok(again, `lost segment seq ${seq} (#${d.index}) was sent again`);
  }
  p.sim.close();
});

test('loss model: Bernoulli at the given rate; bursts with the given mean length', () => {
  const measure = (imp: Impairments) => {
    const f = new DirectionFaults(imp, new SimRandom(9));
    const pkt = new Uint8Array(100);
    let lost = 0;
    let runs = 0;
    let prev = false;
    for (let i = 0; i < 200_000; i++) {
      const l = f.decide(pkt, 0, undefined).dropped === 'loss';
      if (l) lost++;
      if (l && !prev) runs++;
      prev = l;
    }
    return { rate: lost / 200_000, meanRun: lost / runs };
  };
  const bern = measure({ loss: 0.05 });
  assert.ok(Math.abs(bern.rate - 0.05) < 0.003, `bernoulli rate ${bern.rate}`);
  assert.ok(bern.meanRun < 1.1, `bernoulli mean run ${bern.meanRun}`);
  const burst = measure({ loss: { rate: 0.05, meanBurst: 4 } });
  assert.ok(Math.abs(burst.rate - 0.05) < 0.006, `burst rate ${burst.rate}`);
  assert.ok(Math.abs(burst.meanRun - 4) < 0.4, `burst mean run ${burst.meanRun}`);
});

test('bursty loss: a transfer through loss bursts still completes intact', async () => {
  const p = await simPair({ loss: { rate: 0.05, meanBurst: 5 }, delay: 5 }, { seed: 4 });
  const t = transfer(p, 256 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  // Packets lost back to back (consecutive send indices in one direction).
  let longest = 0;
  for (const dir of ['ab', 'ba'] as const) {
    const lost = new Set(events(p.entries(), 'drop', dir).map((e) => e.index));
    for (const i of lost) {
      let n = 1;
      while (lost.has(i + n)) n++;
      longest = Math.max(longest, n);
    }
  }
  assert.ok(longest >= 2, `longest burst ${longest}`);
  p.sim.close();
});

test('delay: the handshake takes two one-way delays; every packet arrives exactly that late', async () => {
  const p = await simPair({ delay: 25 });
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  let at = -1;
  c.on('becameActive', () => (at = p.sim.now));
  assert.is((await p.sim.run({ done: () => c.active })).reason, 'done');
  assert.is(at, 50);
  const sent = new Map(events(p.entries(), 'send').map((e) => [`${e.direction}${e.index}`, e]));
  const delivered = events(p.entries(), 'deliver');
  assert.ok(delivered.length >= 2);
  for (const d of delivered) assert.is(d.time - sent.get(`${d.direction}${d.index}`)!.time, 25);
  p.sim.close();
});

test('jitter: latency spreads over [delay, delay + jitter) and order is kept', async () => {
  const p = await simPair({ delay: 10, jitter: 20 }, { seed: 5 });
  const t = transfer(p, 128 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  const sent = new Map(events(p.entries(), 'send').map((e) => [`${e.direction}${e.index}`, e]));
  const latencies = new Set<number>();
  for (const dir of ['ab', 'ba'] as const) {
    let last = 0;
    for (const d of events(p.entries(), 'deliver', dir)) {
      assert.ok(d.index > last, `in order: #${d.index} after #${last}`);
      last = d.index;
      const latency = d.time - sent.get(`${dir}${d.index}`)!.time;
      assert.ok(latency >= 10 && latency < 30, `latency ${latency}`);
      latencies.add(Math.round(latency));
    }
  }
  assert.ok(latencies.size > 5, `latencies vary (${[...latencies].join(', ')})`);
  p.sim.close();
});

test('reordering: held-back packets arrive after later ones; TCP reassembles', async () => {
  const p = await simPair({ reorder: 0.15, delay: 2 }, { seed: 6 });
  const t = transfer(p, 256 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  const order = events(p.entries(), 'deliver', 'ab').map((e) => e.index);
  const overtaken = order.filter((x, i) => i > 0 && x < order[i - 1]!).length;
  assert.ok(overtaken > 0, 'some packets arrive after a later-sent one');
  assert.ok(p.link.stats.ab.reordered > 0);
  p.sim.close();
});

test('duplication: some packets arrive twice; the data does not', async () => {
  const p = await simPair({ duplicate: 0.2, delay: 1 }, { seed: 7 });
  const t = transfer(p, 256 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(t.received()!.length(), t.data.length);
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  const seen = new Map<string, number>();
  for (const d of events(p.entries(), 'deliver'))
    seen.set(`${d.direction}${d.index}`, (seen.get(`${d.direction}${d.index}`) ?? 0) + 1);
  const twice = [...seen.values()].filter((n) => n === 2).length;
  assert.ok(twice > 0);
  assert.is(twice, p.link.stats.ab.duplicated + p.link.stats.ba.duplicated);
  p.sim.close();
});

test('corruption: one bit flips, checksums catch it, the data arrives intact', async () => {
  const p = await simPair({ corrupt: 0.1, delay: 1 }, { seed: 8 });
  const t = transfer(p, 256 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  const sent = new Map(events(p.entries(), 'send').map((e) => [`${e.direction}${e.index}`, e]));
  const bad = events(p.entries(), 'deliver').filter((e) => e.corrupted);
  assert.ok(bad.length > 10, `${bad.length} corrupted deliveries`);
  for (const d of bad) {
    const original = sent.get(`${d.direction}${d.index}`)!.packet;
    assert.is(bitDistance(d.packet, original), 1);
    const q = d.parsed;
    assert.not.ok(q && q.ipChecksumOk && q.tcp?.checksumOk, 'a checksum exposes the flip');
  }
  p.sim.close();
});

test('bandwidth: packets leave no faster than the line rate; the transfer takes the serialisation time', async () => {
  const bps = 8e6;
  const p = await simPair({ delay: 1, bandwidth: { bitsPerSecond: bps, queueBytes: 4 << 20 } });
  const t = transfer(p, 1 << 20);
  const r = await p.sim.run({ done: t.complete });
  assert.is(r.reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  const ab = events(p.entries(), 'deliver', 'ab');
  for (let i = 1; i < ab.length; i++) {
    const gap = ab[i]!.time - ab[i - 1]!.time;
    assert.ok(gap >= (ab[i]!.packet.length * 8000) / bps - 1e-9, `gap ${gap} ms at #${i}`);
  }
  const serialisation = (p.link.stats.ab.bytesDelivered * 8000) / bps;
  assert.ok(r.time >= serialisation, `${r.time} >= ${serialisation}`);
  assert.ok(
    r.time <= serialisation * 1.15 + 50,
    `${r.time} ms for ${serialisation} ms of serialisation`,
  );
  assert.is(p.link.stats.ab.dropped.queue, 0);
  p.sim.close();
});

test('bandwidth: a full queue tail-drops; TCP recovers', async () => {
  const p = await simPair({ delay: 5, bandwidth: { bitsPerSecond: 8e6, queueBytes: 16384 } });
  const t = transfer(p, 512 << 10);
  assert.is((await p.sim.run({ done: t.complete })).reason, 'done');
  assert.is(sha256(t.received()!.bytes()), sha256(t.data));
  assert.ok(p.link.stats.ab.dropped.queue > 0, 'tail drops');
  for (const d of events(p.entries(), 'drop')) assert.is(d.reason, 'queue');
  p.sim.close();
});

test('MTU limit: packets above it are dropped, smaller ones pass, the transfer stalls', async () => {
  const p = await simPair({ mtu: 1000 });
  let got = 0;
  p.b.listen({ port: 80 }, (s) => {
    s.markActive();
    s.on('readable', (d) => (got += d.length));
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await p.sim.run({ done: () => c.active });
  c.write(new Uint8Array(500));
  assert.is((await p.sim.run({ done: () => got === 500 })).reason, 'done');
  c.write(new Uint8Array(100 << 10));
  const r = await p.sim.run({ for: 60_000, idle: false });
  assert.is(r.reason, 'until');
  assert.is(got, 500, 'no full-size segment got through');
  const drops = events(p.entries(), 'drop');
  assert.ok(drops.length > 0);
  for (const d of drops) {
    assert.is(d.reason, 'mtu');
    assert.ok(d.packet.length > 1000);
  }
  assert.ok(events(p.entries(), 'deliver').every((d) => d.packet.length <= 1000));
  p.sim.close();
});

test('per-direction overrides apply to one direction only', async () => {
  const p = await simPair({ delay: 5, ab: { delay: 20 } });
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await p.sim.run({ done: () => c.active });
  assert.is(p.sim.now, 25);
  p.sim.close();
});

test('bad impairments throw naming the field', async () => {
  assert.throws(() => checkImpairments({ loss: 1.5 }), /loss/);
  assert.throws(() => checkImpairments({ loss: { rate: 0.1, meanBurst: 0.5 } }), /meanBurst/);
  assert.throws(() => checkImpairments({ delay: -1 }), /delay/);
  assert.throws(() => checkImpairments({ bandwidth: { bitsPerSecond: 0 } }), /bitsPerSecond/);
  assert.throws(() => checkImpairments({ mtu: 10 }), /mtu/);
  assert.throws(() => checkImpairments({ lose: 0.1 } as never), /lose/);
  const p = await simPair();
  assert.throws(() => impairLink(p.ia, p.ib, { seed: -1 }), /seed/);
  assert.throws(() => impairLink(p.ia, p.ia), /different/);
  p.sim.close();
});

test.run();
