/**
 * Simulation speed (`node --import tsx bench/sim.ts`):
 *
 *   1. idle-heavy: 100 established connections with keepalive (60 s idle,
 *      10 s interval) over a 20 ms link, one virtual hour: virtual seconds
 *      per real second (the scheduler jumps over idle time between timers);
 *   2. a lossless simulated transfer (Simulation + impaired link with no
 *      faults, zero delay) against the real-clock memory link
 *      (linkInterfaces), 64 MiB at MTU 1500 and 65535: the ratio is the
 *      cost of the simulation machinery on a busy link;
 *   3. the same transfer with a 1 ms delay (every packet goes through the
 *      delay queue and a clock deadline): real MiB/s.
 *
 * Figures are medians of 3 runs; the machine is shared, so the ratios
 * matter more than the absolutes.
 */
import { createHash } from 'node:crypto';
import { Stack, linkInterfaces, type TcpConnection } from '../src/index.js';
import { Simulation, type ImpairedLinkOptions } from '../src/sim/index.js';

const MiB = 1 << 20;
const TOTAL = 64 * MiB;
const RUNS = 3;

const CHUNK = new Uint8Array(MiB).map((_, i) => (i * 131 + 17) & 0xff);
const EXPECTED = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < TOTAL / MiB; i++) h.update(CHUNK);
  return h.digest('hex');
})();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Sends TOTAL bytes from a to b; resolves when b has read them all (sha256 checked). */
function bulk(a: Stack, b: Stack): { done: Promise<void> } {
  const h = createHash('sha256');
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    b.listen({ port: 9 }, (s) => {
      s.markActive();
      s.on('readable', (d) => {
        got += d.length;
        h.update(d);
      });
      s.on('readEOF', () => {
        s.gracefulClose();
        if (got === TOTAL && h.digest('hex') === EXPECTED) resolve();
        else reject(new Error(`bulk: got ${got} bytes or a wrong sha256`));
      });
    });
  });
  const c: TcpConnection = a.connect({ address: '10.0.0.2', port: 9 });
  let sent = 0;
  let offset = 0;
  const pump = () => {
    while (sent < TOTAL) {
      const n = c.write(CHUNK.subarray(offset));
      if (n === 0) return;
      sent += n;
      offset = (offset + n) % CHUNK.length;
    }
    c.off('writable', pump);
    c.shutdownWrite();
  };
  c.on('becameActive', pump);
  c.on('writable', pump);
  return { done };
}

/** Real-clock memory link: MiB/s. */
async function realBulk(mtu: number): Promise<number> {
  const a = await Stack.create({ seed: 1 });
  const b = await Stack.create({ seed: 2 });
  linkInterfaces(
    a.addInterface({ ipv4: '10.0.0.1/24', mtu }),
    b.addInterface({ ipv4: '10.0.0.2/24', mtu }),
  );
  const t0 = performance.now();
  await bulk(a, b).done;
  const seconds = (performance.now() - t0) / 1000;
  a.close();
  b.close();
  return TOTAL / MiB / seconds;
}

/** Simulated link in virtual time: real MiB/s (and virtual seconds taken). */
async function simBulk(mtu: number, link: ImpairedLinkOptions): Promise<number> {
  const sim = new Simulation({ seed: 1 });
  const a = await sim.addStack('a');
  const b = await sim.addStack('b');
  sim.link(
    a.addInterface({ ipv4: '10.0.0.1/24', mtu }),
    b.addInterface({ ipv4: '10.0.0.2/24', mtu }),
    link,
  );
  const t0 = performance.now();
  let finished = false;
  const { done } = bulk(a, b);
  void done.then(() => (finished = true));
  const r = await sim.run({ done: () => finished });
  await done;
  const seconds = (performance.now() - t0) / 1000;
  if (r.reason !== 'done') throw new Error(`simulated bulk: ${r.reason}`);
  sim.close();
  return TOTAL / MiB / seconds;
}

/** `count` idle connections with keepalive for `virtualMs`: virtual seconds per real second. */
async function idleHeavy(
  count: number,
  virtualMs: number,
): Promise<{ rate: number; steps: number }> {
  const sim = new Simulation({ seed: 1 });
  const a = await sim.addStack('a');
  const b = await sim.addStack('b');
  sim.link(a.addInterface({ ipv4: '10.0.0.1/24' }), b.addInterface({ ipv4: '10.0.0.2/24' }), {
    delay: 20,
  });
  b.listen({ port: 80, backlog: 255 }, (s) => s.markActive());
  const conns: TcpConnection[] = [];
  for (let i = 0; i < count; i++) conns.push(a.connect({ address: '10.0.0.2', port: 80 }));
  await sim.run({ done: () => conns.every((c) => c.active) });
  // Staggered starts, so probes do not all fall on the same instants.
  for (let i = 0; i < count; i++) {
    conns[i]!.setKeepAlive(true, 60_000 + i * 97, 10_000, 5);
  }
  const t0 = performance.now();
  const r = await sim.run({ for: virtualMs, idle: false });
  const seconds = (performance.now() - t0) / 1000;
  if (!conns.every((c) => c.alive)) throw new Error('idle-heavy: a connection died');
  sim.close();
  return { rate: virtualMs / 1000 / seconds, steps: r.steps };
}

const fmt = (x: number, d = 0) => x.toFixed(d).padStart(8);

async function main(): Promise<void> {
  console.log(`lwip-wasm simulation bench (${process.version}, median of ${RUNS})`);
  const idle: number[] = [];
  let steps = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await idleHeavy(100, 3600_000);
    idle.push(r.rate);
    steps = r.steps;
  }
  console.log(
    `  ${'idle-heavy (100 conns, keepalive, 1 h)'.padEnd(44)}${fmt(median(idle))} virtual s per real s (${steps} timer steps)`,
  );
  for (const mtu of [65535, 1500]) {
    const real: number[] = [];
    const sim: number[] = [];
    const delayed: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Interleaved so that machine noise hits all alike.
      real.push(await realBulk(mtu));
      sim.push(await simBulk(mtu, {}));
      delayed.push(await simBulk(mtu, { delay: 1 }));
    }
    const base = median(real);
    const row = (name: string, mibs: number) =>
      console.log(
        `  ${name.padEnd(44)}${fmt(mibs)} MiB/s real  ratio ${(mibs / base).toFixed(2)}x`,
      );
    row(`real-clock memory link, MTU ${mtu}`, base);
    row(`simulated, lossless, zero delay, MTU ${mtu}`, median(sim));
    row(`simulated, lossless, 1 ms delay, MTU ${mtu}`, median(delayed));
  }
}

await main();
