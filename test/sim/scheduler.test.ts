/**
 * The virtual-time scheduler: run until idle, until a deadline, until a
 * predicate, the safety limit; ten minutes of keepalive and retransmission
 * timers in well under a few seconds of real time; and the same impaired
 * link code on a RealClock.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RealClock, Stack } from '../../src/index.js';
import { Simulation, impairLink } from '../../src/sim/index.js';
import { bytes, collect, sha256, writeAll } from '../helpers/net.js';
import { events, simPair, transfer } from './helpers.js';

const test = suite('scheduler');

test('run() until idle: a transfer, the closes and TIME_WAIT, then nothing is pending', async () => {
  const p = await simPair({ delay: 10 });
  const t = transfer(p, 256 << 10);
  const r = await p.sim.run();
  assert.is(r.reason, 'idle');
  assert.ok(t.complete());
  assert.is(t.client.terminationReason, 'close');
  assert.is(p.sim.clock.nextDeadline(), undefined);
  assert.is(p.a.stats().tcp.timeWait + p.b.stats().tcp.timeWait, 0, 'TIME_WAIT is over');
  assert.ok(r.time >= 120_000, `2 MSL of TIME_WAIT passed (${r.time} ms)`);
  assert.is(p.link.stats.ab.inFlight + p.link.stats.ba.inFlight, 0);
  p.sim.close();
});

test('run({ until }), run({ for, idle: false }), run({ done }) and the limit', async () => {
  const sim = new Simulation();
  assert.equal(await sim.run(), { reason: 'idle', time: 0, elapsed: 0, steps: 0 });
  const jumped = await sim.run({ for: 5000, idle: false });
  assert.is(jumped.reason, 'until');
  assert.is(sim.now, 5000);
  const a = await sim.addStack('a');
  const b = await sim.addStack('b');
  sim.link(a.addInterface({ ipv4: '10.0.0.1/24' }), b.addInterface({ ipv4: '10.0.0.2/24' }), {
    delay: 50,
  });
  b.listen({ port: 80 }, (s) => s.markActive());
  const c = a.connect({ address: '10.0.0.2', port: 80 });
  const done = await sim.run({ done: () => c.active });
  assert.is(done.reason, 'done');
  assert.is(done.elapsed, 100);
  const until = await sim.run({ until: 7000 });
  assert.is(until.reason, 'until', 'an established connection keeps lwIP timers running');
  assert.is(sim.now, 7000);
  const limited = await sim.run({ limit: 1000 });
  assert.is(limited.reason, 'limit');
  assert.is(sim.now, 8000);
  sim.close();
});

test('ten virtual minutes of keepalive probes take well under a few seconds of real time', async () => {
  const p = await simPair({ delay: 20 });
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await p.sim.run({ done: () => c.active });
  c.setKeepAlive(true, 60_000, 10_000, 5);
  const started = performance.now();
  const r = await p.sim.run({ for: 600_000, idle: false });
  const real = performance.now() - started;
  assert.is(r.reason, 'until');
  assert.ok(real < 10_000, `${real.toFixed(0)} ms real for 10 virtual minutes`);
  // Keepalive probes: bare ACKs from the client once the handshake is over.
  const probes = events(p.entries(), 'send', 'ab').filter((e) => {
    const t = e.parsed?.tcp;
    return (
      e.time > 1000 && !!t && t.flags.ack && !t.flags.syn && !t.flags.fin && t.payloadLength === 0
    );
  });
  assert.ok(probes.length >= 9 && probes.length <= 11, `${probes.length} keepalive probes`);
  assert.ok(c.alive);
  console.log(
    `  10 virtual minutes (${r.steps} timer steps, ${probes.length} probes) in ${real.toFixed(0)} ms real`,
  );
  p.sim.close();
});

test('retransmission timers run out in virtual time: a cut link ends the connection with ETIMEDOUT', async () => {
  let cut = false;
  const p = await simPair({ delay: 20, script: [{ match: () => cut, action: 'drop' }] });
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await p.sim.run({ done: () => c.active });
  cut = true;
  c.write(new Uint8Array(1000));
  const started = performance.now();
  const r = await p.sim.run({ done: () => !c.alive });
  const real = performance.now() - started;
  assert.is(r.reason, 'done');
  assert.is(c.error?.code, 'ETIMEDOUT');
  const resent = events(p.entries(), 'drop', 'ab').filter(
    (e) => (e.parsed?.tcp?.payloadLength ?? 0) > 0,
  );
  assert.ok(resent.length >= 10, `${resent.length} retransmissions`);
  assert.ok(real < 10_000);
  console.log(
    `  gave up after ${(r.elapsed / 1000).toFixed(0)} virtual s and ${resent.length} sends, in ${real.toFixed(0)} ms real`,
  );
  p.sim.close();
});

test('stacks of one simulation get distinct seeds derived from the simulation seed', async () => {
  const firstSyn = async (seed: number, name: string) => {
    const sim = new Simulation({ seed });
    const s = await sim.addStack(name);
    const iface = s.addInterface({ ipv4: '10.0.0.1/24' });
    let syn: Uint8Array | undefined;
    iface.onOutput((pk) => (syn ??= pk[0]));
    s.connect({ address: '10.0.0.2', port: 80 });
    await sim.clock.settle();
    sim.close();
    return sha256(syn!.subarray(20, 28));
  };
  assert.is(await firstSyn(1, 'a'), await firstSyn(1, 'a'));
  assert.is.not(await firstSyn(1, 'a'), await firstSyn(2, 'a'));
  assert.is.not(await firstSyn(1, 'a'), await firstSyn(1, 'b'));
  const sim = new Simulation();
  await sim.addStack('x');
  let error: unknown;
  await sim.addStack('x').catch((e: unknown) => (error = e));
  assert.match(String(error), /named 'x' exists/);
  sim.close();
});

test('the impaired link runs unchanged on a RealClock', async () => {
  const a = await Stack.create({ clock: new RealClock(), seed: 1 });
  const b = await Stack.create({ clock: new RealClock(), seed: 2 });
  const link = impairLink(
    a.addInterface({ ipv4: '10.0.0.1/24' }),
    b.addInterface({ ipv4: '10.0.0.2/24' }),
    { delay: 5, jitter: 2, duplicate: 0.05, reorder: 0.05, seed: 3 },
  );
  const data = bytes(64 << 10);
  const got = await new Promise<Uint8Array>((resolve) => {
    b.listen({ port: 80 }, (s) => {
      const rx = collect(s);
      s.markActive();
      s.on('readEOF', () => {
        s.gracefulClose();
        resolve(rx.bytes());
      });
    });
    const started = performance.now();
    const c = a.connect({ address: '10.0.0.2', port: 80 });
    c.on('becameActive', () =>
      assert.ok(performance.now() - started >= 9, 'the handshake waited two real delays'),
    );
    writeAll(c, data, () => c.shutdownWrite());
  });
  assert.is(sha256(got), sha256(data));
  assert.ok(link.stats.ab.delivered > 0);
  link.close();
  a.close();
  b.close();
});

test.run();
