/**
 * Backpressure through the proxy, both ways: a reader that stops reading on
 * one side stops the writer on the other side, and in between the proxy
 * holds a bounded amount (its relay buffer and its stack's windows), not
 * the whole transfer. Memory is sampled on every event of the transfer;
 * when the reader resumes, every byte arrives intact.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Relay } from '../../src/proxy/index.js';
import type { TcpConnection } from '../../src/index.js';
import {
  GATEWAY4,
  bytes,
  cleanup,
  collect,
  drain,
  ended,
  loopbackServer,
  proxyNet,
  settles,
  sha256,
  within,
  writeSocket,
} from './helpers.js';

const test = suite('proxy backpressure');
test.after.each(cleanup);

const MiB = 1 << 20;
const TOTAL = 32 * MiB;
/**
 * What the relay may hold: the socket's high-water mark plus what the stack
 * had already received when delivery was paused (at most a receive window,
 * 1 MiB here), with room to spare.
 */
const RELAY_BOUND = 1.5 * MiB;
/** What the proxy stack's lwIP heap may hold: a receive window and a send buffer (1 MiB each) plus overhead. */
const HEAP_BOUND = 4 * MiB;

interface Peak {
  relay: number;
  heap: number;
}

/** Writes `data` on a stack connection, reporting what was taken so far and sampling on each pump. */
function pump(conn: TcpConnection, data: Uint8Array, sample: () => void): { taken: number } {
  const progress = { taken: 0 };
  const go = () => {
    sample();
    while (progress.taken < data.length) {
      const n = conn.write(data.subarray(progress.taken, progress.taken + MiB));
      if (n === 0) return;
      progress.taken += n;
    }
    conn.shutdownWrite();
  };
  conn.on('becameActive', go);
  conn.on('writable', go);
  return progress;
}

test('a slow upstream reader: the client is held back, the proxy holds a bounded amount', async () => {
  const n = await proxyNet();
  const server = await loopbackServer((socket) => socket.pause());
  const upstream = server.nextSocket();
  const relay = new Promise<Relay>((resolve) => n.proxy.once('flow', resolve));
  const peak: Peak = { relay: 0, heap: 0 };
  let current: Relay | undefined;
  const sample = () => {
    peak.heap = Math.max(peak.heap, n.proxyStack.stats().heap.lwipBytes);
    if (current) peak.relay = Math.max(peak.relay, current.buffered);
  };
  const data = bytes(TOTAL, 21);
  const c = n.client.connect({ address: GATEWAY4, port: server.port });
  const progress = pump(c, data, sample);
  current = await within(10_000, relay, 'the flow');
  const pausedUp = new Promise<void>((resolve) =>
    current!.on('paused', (dir, on) => {
      sample();
      if (dir === 'up' && on) resolve();
    }),
  );
  await within(10_000, pausedUp, 'backpressure towards the client');
  const stalledAt = await settles(() => progress.taken, 'the client writer');
  sample();
  assert.ok(current.pausedUp, 'the proxy stopped reading from the client');
  assert.ok(stalledAt < TOTAL, `the client stalled at ${stalledAt} of ${TOTAL} bytes`);
  assert.not.ok(c.writable, 'the client cannot write');
  const info = c.info();
  // The proxy acknowledges what it holds but credits none of it: its window
  // has no room for another segment, and the rest waits in the client.
  assert.ok(info.sendWindow < info.mss, `the proxy offers ${info.sendWindow} bytes of window`);
  // The default send buffer is 1 MiB: it is (nearly) full.
  assert.ok(
    info.sendBufferFree < MiB / 4,
    `the client's send buffer has ${info.sendBufferFree} bytes free`,
  );
  assert.ok(peak.relay <= RELAY_BOUND, `relay held at most ${peak.relay} bytes`);
  assert.ok(peak.heap <= HEAP_BOUND, `proxy heap peaked at ${peak.heap} bytes`);
  // The reader resumes: everything arrives.
  const socket = await upstream;
  const received = drain(socket);
  socket.on('end', () => socket.end());
  socket.resume();
  const got = await within(60_000, received, 'the upstream to read everything');
  assert.is(got.data.length, TOTAL);
  assert.is(sha256(got.data), sha256(data));
  assert.is(await within(10_000, ended(c), 'close'), 'close');
  assert.ok(peak.relay <= RELAY_BOUND, `relay held at most ${peak.relay} bytes overall`);
  assert.ok(peak.heap <= HEAP_BOUND, `proxy heap peaked at ${peak.heap} bytes overall`);
});

test('a slow client reader: the upstream is held back, the proxy holds a bounded amount', async () => {
  const n = await proxyNet();
  const data = bytes(TOTAL, 22);
  const progress = { taken: 0 };
  const server = await loopbackServer((socket) => {
    void writeSocket(socket, data, progress).then((ok) => ok && socket.end());
  });
  const relay = new Promise<Relay>((resolve) => n.proxy.once('flow', resolve));
  const c = n.client.connect({ address: GATEWAY4, port: server.port });
  c.setRecvEnabled(false);
  c.on('becameActive', () => c.shutdownWrite());
  const got = collect(c);
  const current = await within(10_000, relay, 'the flow');
  const peak: Peak = { relay: 0, heap: 0 };
  const sample = () => {
    peak.heap = Math.max(peak.heap, n.proxyStack.stats().heap.lwipBytes);
    peak.relay = Math.max(peak.relay, current.buffered);
  };
  const pausedDown = new Promise<void>((resolve) =>
    current.on('paused', (dir, on) => {
      sample();
      if (dir === 'down' && on) resolve();
    }),
  );
  await within(10_000, pausedDown, 'backpressure towards the upstream');
  const stalledAt = await settles(() => (sample(), progress.taken), 'the upstream writer');
  assert.ok(current.pausedDown, 'the proxy stopped reading from the upstream');
  assert.ok(stalledAt < TOTAL, `the upstream stalled at ${stalledAt} of ${TOTAL} bytes`);
  assert.ok(peak.relay <= RELAY_BOUND, `relay held at most ${peak.relay} bytes`);
  assert.ok(peak.heap <= HEAP_BOUND, `proxy heap peaked at ${peak.heap} bytes`);
  c.on('readable', sample);
  c.setRecvEnabled(true);
  assert.is(await within(60_000, ended(c), 'close'), 'close');
  assert.is(got.length(), TOTAL);
  assert.is(sha256(got.bytes()), sha256(data));
  assert.ok(peak.relay <= RELAY_BOUND, `relay held at most ${peak.relay} bytes overall`);
  assert.ok(peak.heap <= HEAP_BOUND, `proxy heap peaked at ${peak.heap} bytes overall`);
});

test.run();
