/**
 * Scale bench (issue 6 §4): how connection setup and teardown cost grow
 * with the number of open connections, between two stacks in one process
 * on a virtual clock (time stands still while connections are set up, so
 * lwIP's timers stay out of the setup figures).
 *
 *   1. setup rate of 1,000 more connections with 1k, 10k and 12k already
 *      open, ephemeral local ports (at most 16,383 per stack): the pcb
 *      lookup and everything else except tcp_bind's port check;
 *   2. the cost of 2,000 small echo round trips on one connection while
 *      15,000 others are open and idle, then half-closed (shutdownWrite):
 *      the glue re-checks every closing connection after each call;
 *   3. the setup rate with 1k, 10k and 50k already open when each client
 *      connection binds its own local port (the only way past the 16,383),
 *      the 50k/1k ratio against the goal (>= 0.5, i.e. within 2x), heap per
 *      connection on both sides, the CPU lwIP's timers take per second
 *      while all sit idle, and the time to tear them all down (the client
 *      aborts them in the order they were opened, until both stacks hold
 *      none).
 *
 * Rates are connections per second of process CPU time (the machine is
 * shared; wall-clock rates are printed beside them). A window of 1,000
 * setups takes only tens of milliseconds, so one garbage collection or JIT
 * pause would decide it: each rate is the median of three windows, each
 * started after a full collection (global.gc, hence --expose-gc).
 *
 *   node --expose-gc --import tsx bench/scale.ts [--wasm path/to/lwip.wasm] [--max 50000]
 *
 * --wasm runs the same bench on another build of the module (e.g. one with
 * a candidate lwIP patch) for a side-by-side comparison.
 */
import { readFile } from 'node:fs/promises';
import { Stack, VirtualClock, linkInterfaces, type TcpConnection } from '../src/index.js';

const STEP = 250; // below the listen backlog (255): no SYN waits for a retransmission
const WINDOW = 1_000; // connections per measurement

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const wasmPath = arg('wasm');
const wasm = wasmPath ? await readFile(wasmPath) : undefined;
const MAX = Number(arg('max') ?? 50_000);

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Bed {
  clock: VirtualClock;
  a: Stack;
  b: Stack;
  clients: TcpConnection[];
  /** Opens `count` more connections and waits until both ends have them all. */
  open(count: number): Promise<void>;
  close(): void;
}

async function bed(mode: 'bind' | 'ephemeral'): Promise<Bed> {
  const clock = new VirtualClock();
  const a = await Stack.create({ clock, seed: 1, wasm });
  const b = await Stack.create({ clock, seed: 2, wasm });
  linkInterfaces(a.addInterface({ ipv4: '10.0.0.1/24' }), b.addInterface({ ipv4: '10.0.0.2/24' }));
  let accepted = 0;
  let active = 0;
  b.listen({ port: 80, backlog: 255 }, (s) => {
    accepted++;
    s.on('readable', (d) => s.write(d)); // echo (section 3)
    s.markActive();
  });
  await clock.settle();
  const clients: TcpConnection[] = [];
  const onActive = () => active++;
  return {
    clock,
    a,
    b,
    clients,
    async open(count) {
      for (let done = 0; done < count; done += STEP) {
        const n = Math.min(STEP, count - done);
        const target = clients.length + n;
        for (let i = 0; i < n; i++) {
          const localPort = mode === 'bind' ? 1024 + clients.length : undefined;
          const c = a.connect({ address: '10.0.0.2', port: 80, localPort });
          c.once('becameActive', onActive);
          clients.push(c);
        }
        const ok = await clock.advanceUntil(() => active === target && accepted === target, 60_000);
        if (!ok) throw new Error(`setup stalled at ${active}/${accepted} of ${target}`);
      }
    },
    close() {
      a.close();
      b.close();
    },
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Opens 3 x WINDOW connections; returns the median [cpu rate, wall rate] per second of the three. */
async function measure(t: Bed): Promise<[number, number]> {
  const runs: [number, number][] = [];
  for (let i = 0; i < 3; i++) {
    gc?.();
    const c0 = cpuMs();
    const w0 = performance.now();
    await t.open(WINDOW);
    runs.push([WINDOW / ((cpuMs() - c0) / 1000), WINDOW / ((performance.now() - w0) / 1000)]);
  }
  const median = (k: 0 | 1) => runs.map((r) => r[k]).sort((x, y) => x - y)[1]!;
  return [median(0), median(1)];
}

const fmt = (x: number) => Math.round(x).toLocaleString('en').padStart(8);
const row = (label: string, rate: [number, number]) =>
  console.log(`  ${label.padEnd(38)}${fmt(rate[0])} /s CPU  (${fmt(rate[1])} /s wall)`);

/** Runs both set-up paths a few times first, so the JIT has settled before anything is timed. */
async function warmUp(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    for (const mode of ['ephemeral', 'bind'] as const) {
      const t = await bed(mode);
      await t.open(3_000);
      for (const c of t.clients.slice().reverse()) c.abort();
      await t.clock.settle();
      t.close();
    }
  }
}

async function bound(): Promise<void> {
  console.log(`two stacks, each client connection bound to its own local port:`);
  const t = await bed('bind');
  const baseA = t.a.stats().heap.mallocBytes;
  const baseB = t.b.stats().heap.mallocBytes;
  const rates = new Map<number, [number, number]>();
  for (const at of [...new Set([1_000, 10_000, MAX])].filter((x) => x <= MAX)) {
    await t.open(at - t.clients.length);
    const r = await measure(t);
    rates.set(at, r);
    row(`setup rate at ${at.toLocaleString('en')} open`, r);
  }
  const open = t.clients.length;
  const sa = t.a.stats();
  const sb = t.b.stats();
  if (sa.tcp.established !== open || sb.tcp.established !== open)
    throw new Error(
      `expected ${open} established, got ${sa.tcp.established}/${sb.tcp.established}`,
    );
  const low = rates.get(1_000)![0];
  const high = rates.get(MAX)![0];
  const ratio = high / low;
  console.log(
    `  ${`ratio ${MAX / 1000}k/1k (CPU)`.padEnd(38)}${ratio.toFixed(2).padStart(8)}      (goal >= 0.50, within 2x: ${ratio >= 0.5 ? 'met' : 'NOT met'})`,
  );
  console.log(
    `  ${`heap per connection (${open.toLocaleString('en')} open)`.padEnd(38)}${fmt((sa.heap.mallocBytes - baseA) / open)} B client, ${Math.round((sb.heap.mallocBytes - baseB) / open)} B server  (lwIP's share ${Math.round(sa.heap.lwipBytes / open)} / ${Math.round(sb.heap.lwipBytes / open)} B)`,
  );
  // Idle cost: lwIP's timers walk every pcb (tcp_fasttmr every 250 ms,
  // tcp_slowtmr every 500 ms), so an idle stack costs CPU in proportion to
  // its connections. 10 s of virtual time runs 40 + 20 of those walks per stack.
  const i0 = cpuMs();
  await t.clock.advance(10_000);
  console.log(
    `  ${`idle timers with ${open.toLocaleString('en')} open`.padEnd(38)}${fmt((cpuMs() - i0) / 10)} ms CPU per second (both stacks)`,
  );
  // Teardown: the client aborts every connection, oldest first; the server
  // frees each on the RST. Done when neither stack holds a connection.
  const c0 = cpuMs();
  const w0 = performance.now();
  for (const c of t.clients) c.abort();
  const ok = await t.clock.advanceUntil(
    () => t.a.stats().connections === 0 && t.b.stats().connections === 0,
    60_000,
  );
  if (!ok) throw new Error('teardown did not finish');
  const cpu = cpuMs() - c0;
  const wall = performance.now() - w0;
  console.log(
    `  ${`tear down ${open.toLocaleString('en')} (abort, oldest first)`.padEnd(38)}${fmt(cpu)} ms CPU  (${fmt(wall)} ms wall)`,
  );
  t.close();
}

async function ephemeral(): Promise<void> {
  console.log(`two stacks, ephemeral local ports (at most 16,383 per stack):`);
  const t = await bed('ephemeral');
  const rates: [number, number][] = [];
  for (const at of [1_000, 10_000, 12_000]) {
    await t.open(at - t.clients.length);
    const r = await measure(t);
    rates.push(r);
    row(`setup rate at ${at.toLocaleString('en')} open`, r);
  }
  console.log(
    `  ${'ratio 12k/1k (CPU)'.padEnd(38)}${(rates[2]![0] / rates[0]![0]).toFixed(2).padStart(8)}`,
  );
  t.close();
}

/** CPU ms of 2,000 10-byte echo round trips on a fresh connection of `t`. */
async function echoes(t: Bed): Promise<number> {
  const c = t.a.connect({ address: '10.0.0.2', port: 80 });
  await t.clock.advanceUntil(() => c.active);
  let got = 0;
  c.on('readable', (d) => (got += d.length));
  const msg = new Uint8Array(10);
  const c0 = cpuMs();
  for (let i = 0; i < 2_000; i++) {
    c.write(msg);
    await t.clock.settle();
  }
  const ms = cpuMs() - c0;
  if (got !== 20_000) throw new Error(`echo: ${got} bytes`);
  c.abort();
  return ms;
}

async function halfClosed(): Promise<void> {
  console.log(`one connection's echo round trips while 15,000 others are open:`);
  const t = await bed('ephemeral');
  await t.open(15_000);
  const idle = await echoes(t);
  for (const c of t.clients) c.shutdownWrite();
  await t.clock.settle();
  const shut = await echoes(t);
  console.log(`  ${'others idle'.padEnd(38)}${fmt(idle)} ms CPU per 2,000 round trips`);
  console.log(
    `  ${'others half-closed (shutdownWrite)'.padEnd(38)}${fmt(shut)} ms CPU per 2,000 round trips (${(shut / idle).toFixed(1)}x)`,
  );
  t.close();
}

console.log(
  `lwip-wasm scale bench (${process.version}${wasmPath ? `, module ${wasmPath}` : ''}; rates of ${WINDOW} setups each)`,
);
await warmUp();
await ephemeral();
await halfClosed();
await bound();
