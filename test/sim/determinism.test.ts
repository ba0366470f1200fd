/**
 * Determinism: the same seed and scenario give byte-identical packet traces
 * run after run (fresh stacks each time), proven by hashing two runs; a
 * different seed gives a different trace. The seeded generator and the
 * trace hash use only 32-bit integer arithmetic and plain TypeScript, so
 * the fixed values below are what a browser run must reproduce too.
 */
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Sha256,
  SimRandom,
  deriveSeed,
  dropNth,
  findScenario,
  isSynAck,
  runScenario,
} from '../../src/sim/index.js';
import { writeAll, bytes } from '../helpers/net.js';
import { simPair } from './helpers.js';

const test = suite('determinism');

/** Everything at once, both directions, IPv4 and IPv6, two connections. */
async function busyRun(seed: number): Promise<{ hash: string; lines: string[]; count: number }> {
  const p = await simPair(
    {
      loss: 0.05,
      delay: 3,
      jitter: 4,
      reorder: 0.05,
      duplicate: 0.05,
      corrupt: 0.05,
      ab: { loss: { rate: 0.05, meanBurst: 3 }, bandwidth: { bitsPerSecond: 50e6 } },
      script: [dropNth(5), { match: isSynAck, nth: 2, action: 'duplicate' }],
    },
    { seed },
  );
  for (const [port, address] of [
    [80, '10.0.0.2'],
    [81, 'fd00::2'],
  ] as const) {
    p.b.listen({ port }, (s) => {
      s.markActive();
      s.on('readable', (d) => s.write(d.slice(0, 100))); // answers while data flows the other way
      s.on('readEOF', () => s.gracefulClose());
    });
    const c = p.a.connect({ address, port });
    c.on('readEOF', () => c.gracefulClose());
    writeAll(c, bytes(200_000, port), () => c.shutdownWrite());
  }
  const r = await p.sim.run();
  assert.is(r.reason, 'idle');
  const trace = p.sim.trace!;
  const lines = trace.entries.map(
    (e) =>
      `${e.time} ${e.direction} ${e.kind} ${e.reason ?? ''} ${Buffer.from(e.packet).toString('hex')}`,
  );
  p.sim.close();
  return { hash: trace.hash(), lines, count: trace.entries.length };
}

test('two runs with the same seed give byte-identical traces and the same hash', async () => {
  const first = await busyRun(11);
  const second = await busyRun(11);
  assert.ok(first.count > 500, `${first.count} events`);
  assert.is(second.hash, first.hash);
  assert.equal(second.lines, first.lines);
  const other = await busyRun(12);
  assert.is.not(other.hash, first.hash, 'another seed, another trace');
});

test('a scenario run twice gives the same summary and trace hash', async () => {
  const lossy = findScenario('lossy')!;
  const a = await runScenario(lossy, { seed: 5 });
  const b = await runScenario(lossy, { seed: 5 });
  assert.ok(a.ok, a.problems.join('; '));
  assert.is(b.trace.hash, a.trace.hash);
  assert.equal({ ...b, realMs: 0 }, { ...a, realMs: 0 });
  const c = await runScenario(lossy, { seed: 6 });
  assert.is.not(c.trace.hash, a.trace.hash);
});

test('the seeded generator gives fixed numbers (the same in every JavaScript engine)', () => {
  const r = new SimRandom(1);
  assert.equal(
    [r.next(), r.next(), r.next(), r.next()],
    [557313013, 3849523241, 3554986406, 716805918],
  );
  assert.is(deriveSeed(42, 'stack:a'), 1126800784);
  assert.is(deriveSeed(2 ** 40 + 5, 'link:0'), 3542712042);
  assert.is(new SimRandom(7).fork('ab').fork('loss').next(), 1512990190);
  const f = new SimRandom(3);
  for (let i = 0; i < 1000; i++) {
    const x = f.float();
    assert.ok(x >= 0 && x < 1);
  }
});

test('Sha256 matches node:crypto for every length around the block edges', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
    const data = bytes(n, n + 1);
    const h = new Sha256();
    for (let off = 0; off < n; off += 37) h.update(data.subarray(off, Math.min(n, off + 37)));
    assert.is(h.hex(), createHash('sha256').update(data).digest('hex'), `length ${n}`);
  }
  const running = new Sha256().update(bytes(100));
  const prefix = running.clone().hex();
  running.update(bytes(5));
  assert.is(prefix, createHash('sha256').update(bytes(100)).digest('hex'));
});

test.run();
