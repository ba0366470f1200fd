/**
 * Status and shutdown (seeds 003/004): per-connection figures and totals
 * from watchStats(), and shutdownStack() closing gracefully and aborting
 * what is left at the deadline.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatEndpoint, shutdownStack, watchStats } from '../../src/watch/index.js';
import { bytes, pair, until } from '../helpers/net.js';
import { acceptOn, connectTo, sendAll, streamPair, watch } from './helpers.js';

const test = suite('stats and shutdown');

test('watchStats reports each connection (bytes, state, window, retransmissions) and totals', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const reader = watch(p, 'b', server);
  const writer = watch(p, 'a', client);
  sendAll(writer.w, writer.log, bytes(50_000));
  await until(p.clock, () => reader.log.received === 50_000, 'transfer');
  const a = watchStats(p.a);
  assert.is(a.connections.length, 1);
  const c = a.connections[0]!;
  assert.is(c.id, writer.w.id);
  assert.is(c.direction, 'outgoing');
  assert.is(c.state, 'ESTABLISHED');
  assert.is(c.bytesOut, 50_000);
  assert.is(c.bytesIn, 0);
  assert.is(c.retransmissions, 0);
  assert.ok(c.receiveWindow > 0 && c.sendWindow > 0 && c.congestionWindow > 0);
  assert.is(formatEndpoint(c.peer!), '10.0.0.2:80');
  assert.equal(a.totals.byState, { ESTABLISHED: 1 });
  assert.is(a.totals.bytesOut, 50_000);
  assert.is(a.stack.connections, 1, 'the stack figures ride along');
  const b = watchStats(p.b);
  assert.is(b.connections[0]!.bytesIn, 50_000);
  assert.is(b.connections[0]!.direction, 'accepted');
  // Totals keep the bytes of connections that ended.
  writer.w.close();
  reader.log.then.close = () => reader.w.close();
  await until(p.clock, () => watchStats(p.b).totals.connections === 0, 'both ended');
  assert.is(watchStats(p.b).totals.bytesIn, 50_000);
  assert.is(watchStats(p.b).watch.opened, 1);
  p.close();
});

test('shutdownStack closes gracefully and resolves with what happened', async () => {
  const p = await pair();
  const { watcher: acceptor } = acceptOn(p);
  const peers = [];
  for (let i = 0; i < 3; i++) {
    const client = await connectTo(p);
    const peer = watch(p, 'a', client);
    peer.log.then.close = () => peer.w.close(); // a cooperative peer
    peers.push(peer);
  }
  await until(p.clock, () => watchStats(p.b).totals.connections === 3, 'three accepted');
  const done = shutdownStack(p.b, { timeoutMs: 5000 });
  let report: Awaited<typeof done> | undefined;
  void done.then((r) => (report = r));
  await until(p.clock, () => report !== undefined, 'shutdown');
  assert.equal(
    { ...report!, elapsedMs: 0 },
    {
      stopped: 1,
      closed: 3,
      aborted: 0,
      failed: 0,
      timedOut: false,
      elapsedMs: 0,
    },
  );
  assert.ok(report!.elapsedMs < 5000);
  assert.throws(() => acceptor.start(), /stopped/, 'the accept watcher was stopped');
  assert.ok(peers.every((x) => x.log.closed));
  p.close();
});

test('shutdownStack aborts what is still open at the deadline', async () => {
  const p = await pair();
  acceptOn(p);
  const client = await connectTo(p);
  const stubborn = watch(p, 'a', client); // never closes its side
  await until(p.clock, () => watchStats(p.b).totals.connections === 1, 'accepted');
  let report: Awaited<ReturnType<typeof shutdownStack>> | undefined;
  void shutdownStack(p.b, { timeoutMs: 2000 }).then((r) => (report = r));
  await until(p.clock, () => report !== undefined, 'shutdown');
  assert.is(report!.aborted, 1);
  assert.is(report!.closed, 0);
  assert.ok(report!.timedOut);
  assert.is(report!.elapsedMs, 2000);
  await until(p.clock, () => stubborn.log.errors.length > 0 || stubborn.log.closed, 'peer sees it');
  assert.ok(stubborn.log.closed, 'the peer read the FIN first');
  assert.equal(stubborn.log.errors, [104], 'then the reset');
  assert.is(p.b.stats().connections, 0);
  p.close();
});

test.run();
