/**
 * Scale (issue 6 §4): 50,000 concurrent established connections between two
 * stacks in one process, each exchanging a message, with the heap per
 * connection below 1 KiB on both sides, then torn down (the client aborts
 * them all) until neither stack holds a connection. Timing goals (setup rate
 * at 50,000 open within 2x of the rate at 1,000) belong to bench/scale.ts;
 * this test only prints the rates it saw. About 5 s here: the pcb index
 * (lwIP patches 0004, 0007, 0008) makes lookups, binds and removals cost the
 * same with 50,000 pcbs as with ten.
 *
 * lwIP gives each outgoing connection its own local port, whatever the
 * destination, from 16,383 ephemeral ports; past that the client must bind
 * local ports itself. The test binds every client connection to its own
 * port (1024 + i) so that all 50,000 are set up the same way.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpConnection } from '../../src/index.js';
import { pair } from '../helpers/net.js';

const test = suite('scale');

/** Connections started per step: below the listen backlog (255), so no SYN waits for a retry. */
const STEP = 250;

async function scale(COUNT: number): Promise<void> {
  const p = await pair();
  const server: TcpConnection[] = [];
  p.b.listen({ port: 80, backlog: 255 }, (s) => {
    server.push(s);
    s.on('readable', (d) => s.write(d));
    s.markActive();
  });
  await p.clock.settle();
  const baseA = p.a.stats().heap.mallocBytes;
  const baseB = p.b.stats().heap.mallocBytes;
  const clients: TcpConnection[] = [];
  let active = 0;
  const rates = new Map<number, number>();
  const started = performance.now();
  for (let n = 0; n < COUNT; n += STEP) {
    const t0 = performance.now();
    for (let i = n; i < n + STEP; i++) {
      const c = p.a.connect({ address: '10.0.0.2', port: 80, localPort: 1024 + i });
      c.once('becameActive', () => active++);
      clients.push(c);
    }
    const done = await p.clock.advanceUntil(
      () => active === n + STEP && server.length === n + STEP,
      60_000,
    );
    assert.ok(done, `step at ${n} open: ${active} active, ${server.length} accepted`);
    if (n === 1_000 || n === 10_000 || n === COUNT - STEP)
      rates.set(n, STEP / ((performance.now() - t0) / 1000));
  }
  const setupMs = performance.now() - started;
  const a = p.a.stats();
  const b = p.b.stats();
  assert.is(a.tcp.established, COUNT, 'client side established');
  assert.is(b.tcp.established, COUNT, 'server side established');
  assert.is(a.connections + b.connections, 2 * COUNT);
  const perA = (a.heap.mallocBytes - baseA) / COUNT;
  const perB = (b.heap.mallocBytes - baseB) / COUNT;
  assert.ok(perA < 1024 && perB < 1024, `heap per connection: client ${perA} B, server ${perB} B`);

  // Every connection exchanges a message: 8 bytes naming it, echoed back.
  const t1 = performance.now();
  let echoed = 0;
  let wrong = 0;
  clients.forEach((c, i) => {
    const msg = new Uint8Array(8);
    new DataView(msg.buffer).setFloat64(0, i);
    c.on('readable', (d) => {
      if (d.length !== 8 || new DataView(d.buffer, d.byteOffset, 8).getFloat64(0) !== i) wrong++;
      else echoed++;
    });
    assert.is(c.write(msg), 8);
  });
  const ok = await p.clock.advanceUntil(() => echoed + wrong === COUNT, 60_000);
  assert.ok(ok, `${echoed} of ${COUNT} echoed`);
  assert.is(wrong, 0, 'every connection got its own message back');
  const exchangeMs = performance.now() - t1;
  assert.ok(clients.every((c) => c.alive) && server.every((s) => s.alive), 'all still up');

  // Teardown: the client aborts every connection, the server frees each on its RST.
  const t2 = performance.now();
  for (const c of clients) c.abort();
  const gone = await p.clock.advanceUntil(
    () => p.a.stats().connections === 0 && p.b.stats().connections === 0,
    60_000,
  );
  assert.ok(gone, `teardown: ${p.a.stats().connections} + ${p.b.stats().connections} left`);
  assert.ok(
    server.every((s) => !s.alive),
    'every server connection ended',
  );
  for (const t of [p.a.stats().tcp, p.b.stats().tcp])
    assert.is(t.synSent + t.synReceived + t.established + t.closing + t.timeWait, 0, 'no pcb left');
  const teardownMs = performance.now() - t2;
  console.log(
    `  set up ${COUNT} in ${(setupMs / 1000).toFixed(1)} s (rate at 1k open ${Math.round(rates.get(1_000)!)}/s, ` +
      `10k ${Math.round(rates.get(10_000)!)}/s, ${COUNT / 1000}k ${Math.round(rates.get(COUNT - STEP)!)}/s), ` +
      `exchanged in ${(exchangeMs / 1000).toFixed(1)} s, torn down in ${(teardownMs / 1000).toFixed(1)} s; ` +
      `heap per connection client ${perA.toFixed(0)} B, server ${perB.toFixed(0)} B; ` +
      `WASM memory ${(a.heap.memoryBytes / 2 ** 20).toFixed(0)} + ${(b.heap.memoryBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  p.close();
}

test('50,000 established connections between two stacks, each exchanging a message, then torn down', () =>
  scale(50_000));

test.run();
