/**
 * Integrity under impairment: many transfers through a link that loses,
 * reorders, duplicates and corrupts 10% of packets each must all complete
 * with the sent sha256. Corrupted packets carry one flipped bit, which the
 * IP/TCP checksums always detect: they are dropped by the receiving stack,
 * never delivered as data. The long variant (LWIP_WASM_LONG=1) adds
 * jumbo and maximal MTUs and more seeds.
 */
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpConnection } from '../../src/index.js';
import { Simulation, type ImpairedLinkOptions } from '../../src/sim/index.js';
import { testUnless, longReason } from '../helpers/skip.js';

const test = suite('integrity');

const MiB = 1 << 20;
const HARSH: ImpairedLinkOptions = {
  loss: 0.1,
  reorder: 0.1,
  duplicate: 0.1,
  corrupt: 0.1,
  delay: 1,
  jitter: 1,
};

/** A payload per transfer: 4 MiB from a per-transfer xorshift stream. */
function payload(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const w = new Uint32Array(out.buffer);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
  return out;
}

const hex = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');

interface Result {
  realMs: number;
  virtualMs: number;
  corruptedDelivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
}

/** `count` concurrent transfers of `size` bytes from a to b over one harsh link. */
async function run(count: number, size: number, mtu: number, seed: number): Promise<Result> {
  const started = performance.now();
  const sim = new Simulation({ seed });
  const a = await sim.addStack('a');
  const b = await sim.addStack('b');
  const link = sim.link(
    a.addInterface({ ipv4: '10.0.0.1/24', mtu }),
    b.addInterface({ ipv4: '10.0.0.2/24', mtu }),
    HARSH,
  );
  const expected = new Map<number, string>();
  const received = new Map<number, { hash: ReturnType<typeof createHash>; bytes: number }>();
  const digests = new Map<number, string>();
  b.listen({ port: 80 }, (s) => {
    const rx = { hash: createHash('sha256'), bytes: 0 };
    received.set(s.peer.port, rx);
    s.markActive();
    s.on('readable', (d) => {
      rx.bytes += d.length;
      rx.hash.update(d);
    });
    s.on('readEOF', () => {
      digests.set(s.peer.port, rx.hash.digest('hex'));
      s.gracefulClose();
    });
  });
  const clients: TcpConnection[] = [];
  for (let i = 0; i < count; i++) {
    const data = payload(size, seed * 1000 + i + 1);
    const c = a.connect({ address: '10.0.0.2', port: 80, localPort: 10000 + i });
    expected.set(10000 + i, hex(data));
    let off = 0;
    const pump = () => {
      while (off < data.length) {
        const n = c.write(data.subarray(off));
        if (n === 0) return;
        off += n;
      }
      c.off('writable', pump);
      c.shutdownWrite();
    };
    c.on('becameActive', pump);
    c.on('writable', pump);
    c.on('readEOF', () => c.gracefulClose());
    clients.push(c);
  }
  const r = await sim.run({ done: () => clients.every((c) => !c.alive), limit: 24 * 3600_000 });
  assert.is(r.reason, 'done', `finished (${digests.size}/${count} complete at ${r.time} ms)`);
  for (const c of clients) assert.is(c.terminationReason, 'close', `client ${c.local.port}`);
  for (const [port, want] of expected) {
    assert.is(received.get(port)?.bytes, size, `transfer ${port}: byte count`);
    assert.is(digests.get(port), want, `transfer ${port}: sha256`);
  }
  const s = link.stats;
  const result = {
    realMs: performance.now() - started,
    virtualMs: r.time,
    corruptedDelivered: s.ab.corrupted + s.ba.corrupted,
    lost: s.ab.dropped.loss + s.ba.dropped.loss,
    duplicated: s.ab.duplicated + s.ba.duplicated,
    reordered: s.ab.reordered + s.ba.reordered,
  };
  sim.close();
  console.log(
    `  ${count} x ${size / MiB} MiB, MTU ${mtu}, seed ${seed}: ${(result.realMs / 1000).toFixed(1)} s real, ` +
      `${(result.virtualMs / 1000).toFixed(0)} s virtual; ${result.lost} lost, ${result.corruptedDelivered} corrupted, ` +
      `${result.duplicated} duplicated, ${result.reordered} reordered`,
  );
  return result;
}

test('20 transfers of 4 MiB through 10% loss, reordering, duplication and corruption arrive intact', async () => {
  const r = await run(20, 4 * MiB, 1500, 1);
  assert.ok(r.corruptedDelivered > 100, 'corrupted packets reached the receiving stack');
  assert.ok(r.lost > 100 && r.duplicated > 100 && r.reordered > 100);
});

testUnless(test, longReason, 'long: jumbo and maximal MTUs, more seeds', async () => {
  await run(20, 4 * MiB, 9000, 2);
  await run(20, 4 * MiB, 65535, 3);
  for (let seed = 4; seed < 8; seed++) await run(20, 4 * MiB, 1500, seed);
});

test.run();
