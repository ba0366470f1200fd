/**
 * The connection watcher's rules (seed 000, section 4.6 and issue 3), one
 * test each: read and write budgets per turn, the onSendReady edge, exact
 * partial sends, the end-of-stream rule, silence after close(), linger 0,
 * keepalive, errors, and stream ownership.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Errno, linkInterfaces, type StackError } from '../../src/index.js';
import { createTcpConnectionWatcher, ipEndpoint, watchStats } from '../../src/watch/index.js';
import { bytes, pair, sha256, until } from '../helpers/net.js';
import { acceptOn, Batches, connectTo, sendAll, streamPair, watch } from './helpers.js';

const test = suite('connection watcher');
const text = (s: string) => new TextEncoder().encode(s);

test('maxReadBytesPerTick bounds what onRecv gets per turn; all bytes arrive in order', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const data = bytes(20_000);
  const budget = 1000;
  const batches = new Batches();
  const reader = watch(p, 'b', server, { maxReadBytesPerTick: budget });
  reader.log.then.recv = (c) => batches.add(c.length);
  const writer = watch(p, 'a', client);
  sendAll(writer.w, writer.log, data);
  await until(p.clock, () => reader.log.received === data.length, 'all bytes');
  assert.is(sha256(reader.log.bytes()), sha256(data));
  assert.ok(
    batches.sizes.every((n) => n <= budget),
    `per-turn sums ${batches.sizes.join(',')}`,
  );
  assert.ok(batches.sizes.length >= data.length / budget, 'spread over many turns');
  p.close();
});

test('without a read bound, segments arrive whole (the bound above is what split them)', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const reader = watch(p, 'b', server);
  const writer = watch(p, 'a', client);
  sendAll(writer.w, writer.log, bytes(20_000));
  await until(p.clock, () => reader.log.received === 20_000, 'all bytes');
  assert.ok(reader.log.chunks.some((c) => c.length > 1000));
  p.close();
});

test('maxWriteBytesPerTick bounds what trySend takes per turn', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const reader = watch(p, 'b', server);
  const writer = watch(p, 'a', client, { maxWriteBytesPerTick: 1000 });
  const data = bytes(5000);
  assert.equal(writer.w.trySend(data), { n: 1000, wouldBlock: true, err: 0 });
  assert.equal(writer.w.trySend(data.subarray(1000)), { n: 0, wouldBlock: true, err: 0 });
  await until(p.clock, () => writer.log.sendReady === 1, 'send ready on a later turn');
  const progress = sendAll(writer.w, writer.log, data.subarray(1000));
  await until(p.clock, () => reader.log.received === 5000, 'all bytes');
  assert.is(progress.offset(), 4000);
  assert.is(sha256(reader.log.bytes()), sha256(data));
  assert.is(writer.log.sendReady, 4, 'one edge per spent budget');
  p.close();
});

test('onSendReady fires once per blocked -> ready edge', async () => {
  const p = await pair({ a: { tcp: { sendBuffer: 16 * 1024 } } });
  const { client, server } = await streamPair(p);
  const reader = watch(p, 'b', server);
  const writer = watch(p, 'a', client);
  const big = bytes(64 * 1024);
  const first = writer.w.trySend(big);
  assert.ok(first.wouldBlock && first.n > 0 && first.n < big.length, `partial: ${first.n}`);
  for (let i = 0; i < 3; i++) assert.is(writer.w.trySend(big).n, 0, 'still blocked');
  await until(p.clock, () => writer.log.sendReady === 1, 'ready edge');
  await until(p.clock, () => reader.log.received === first.n, 'the taken bytes arrived');
  await p.clock.advance(5000);
  assert.is(writer.log.sendReady, 1, 'no second call without a new block');
  const again = writer.w.trySend(big);
  assert.ok(again.wouldBlock);
  await until(p.clock, () => writer.log.sendReady === 2, 'second edge');
  p.close();
});

test('a partial trySend advances by exactly n', async () => {
  const p = await pair({ a: { tcp: { sendBuffer: 8 * 1024 } } });
  const { client, server } = await streamPair(p);
  const reader = watch(p, 'b', server);
  const writer = watch(p, 'a', client);
  const data = bytes(1 << 20, 11);
  const progress = sendAll(writer.w, writer.log, data);
  await until(p.clock, () => reader.log.received === data.length, 'all bytes');
  assert.ok(progress.partials() > 10, `partial sends: ${progress.partials()}`);
  assert.is(sha256(reader.log.bytes()), sha256(data));
  p.close();
});

test('peer FIN reaches onClose only after the read side drained; writing goes on until close()', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const sender = watch(p, 'b', server);
  const data = bytes(30_000);
  assert.is(sender.w.trySend(data).n, data.length);
  sender.w.shutdownWrite();
  assert.equal(sender.w.trySend(text('x')), { n: 0, wouldBlock: false, err: Errno.EPIPE });
  // The client starts late and reads slowly: FIN and data are all waiting.
  await p.clock.advance(1000);
  const reader = watch(p, 'a', client, { maxReadBytesPerTick: 4096 });
  await until(p.clock, () => reader.log.closed, 'onClose');
  assert.is(reader.log.received, data.length, 'every byte before onClose');
  assert.is(reader.log.events.at(-1), 'close', 'onClose comes last');
  assert.is(sha256(reader.log.bytes()), sha256(data));
  // Half-closed: the client can still send, and the server still reads.
  assert.equal(reader.w.trySend(text('reply')), { n: 5, wouldBlock: false, err: 0 });
  await until(p.clock, () => sender.log.text() === 'reply', 'reply after FIN');
  reader.w.close();
  await until(p.clock, () => sender.log.closed, 'server sees the client FIN');
  await p.clock.advance(60_000);
  assert.equal(sender.log.errors, []);
  assert.is(reader.log.events.filter((e) => e === 'close').length, 1);
  assert.is(p.a.stats().connections + p.b.stats().connections, 0, 'both ends are gone');
  p.close();
});

test('no callback after close() or stop(), even with data and FIN in flight', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const sender = watch(p, 'b', server);
  const reader = watch(p, 'a', client, { maxReadBytesPerTick: 100 });
  reader.log.then.recv = () => reader.w.close();
  sender.w.trySend(bytes(10_000));
  sender.w.shutdownWrite();
  await until(p.clock, () => reader.log.received > 0, 'first chunk');
  await p.clock.advance(10_000);
  assert.equal(reader.log.events, ['recv:100']);
  assert.equal(reader.w.trySend(text('x')), { n: 0, wouldBlock: false, err: Errno.EBADF });
  assert.throws(
    () => reader.w.start(),
    (e: unknown) => (e as StackError).code === 'ERR_WATCHER_STOPPED',
  );
  // stop() is the same promise.
  const { client: c2, server: s2 } = await streamPair(p, { localBind: ipEndpoint('0.0.0.0', 81) });
  const stopped = watch(p, 'a', c2);
  const other = watch(p, 'b', s2);
  stopped.w.stop();
  other.w.trySend(text('late'));
  await p.clock.advance(10_000);
  assert.equal(stopped.log.events, []);
  p.close();
});

test('lingerSec 0: close() aborts and the peer gets ECONNRESET', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const peer = watch(p, 'b', server);
  const closer = watch(p, 'a', client, { lingerSec: 0 });
  closer.w.close();
  await until(p.clock, () => peer.log.errors.length > 0, 'peer error');
  assert.equal(peer.log.errors, [Errno.ECONNRESET]);
  assert.equal(peer.w.trySend(text('x')).err, Errno.ECONNRESET);
  assert.equal(closer.log.events, []);
  p.close();
});

test('keepAlive with idle/interval/count ends a dead peer with ETIMEDOUT', async () => {
  const p = await pair({ link: false });
  const link = linkInterfaces(p.ia, p.ib);
  const { client, server } = await streamPair(p);
  void server;
  const w = watch(p, 'a', client, {
    keepAlive: true,
    keepAliveIdleSec: 2,
    keepAliveIntervalSec: 1,
    keepAliveCount: 3,
  });
  const started = p.clock.now();
  link.close();
  await until(p.clock, () => w.log.errors.length > 0, 'keepalive failure', 60_000);
  assert.equal(w.log.errors, [Errno.ETIMEDOUT]);
  const took = p.clock.now() - started;
  assert.ok(took >= 2000 && took <= 10_000, `failed after ${took} ms`);
  p.close();
});

test('lingerSec n > 0: an orderly close still unfinished after n seconds is aborted', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const stubborn = watch(p, 'b', server); // reads the FIN, never closes its side
  const closer = watch(p, 'a', client, { lingerSec: 3 });
  const t0 = p.clock.now();
  closer.w.close();
  await until(p.clock, () => stubborn.log.closed, 'FIN first');
  await until(p.clock, () => stubborn.log.errors.length > 0, 'then the reset');
  assert.equal(stubborn.log.errors, [Errno.ECONNRESET]);
  assert.is(p.clock.now() - t0, 3000);
  assert.equal(closer.log.events, []);
  p.close();
});

test('tcpNoDelay is applied: small sends leave at once instead of waiting for ACKs', async () => {
  const packetsFor = async (tcpNoDelay: boolean | undefined) => {
    const p = await pair();
    const { client, server } = await streamPair(p);
    const reader = watch(p, 'b', server);
    const writer = watch(p, 'a', client, tcpNoDelay === undefined ? {} : { tcpNoDelay });
    await p.clock.settle();
    const before = p.ia.counters.packetsOut;
    for (let i = 0; i < 20; i++) writer.w.trySend(text('x'));
    await until(p.clock, () => reader.log.received === 20, 'all bytes');
    const sent = p.ia.counters.packetsOut - before;
    p.close();
    return sent;
  };
  const nagle = await packetsFor(undefined);
  const noDelay = await packetsFor(true);
  assert.ok(noDelay >= 20, `no-delay: ${noDelay} packets`);
  assert.ok(nagle < 10, `Nagle (lwIP default, option unset): ${nagle} packets`);
});

test('buffer sizes are applied per connection', async () => {
  const p = await pair();
  const { client } = await streamPair(p);
  const conn = watch(p, 'a', client, { recvBufBytes: 32 * 1024, sendBufBytes: 16 * 1024 });
  const stats = watchStats(p.a);
  const figures = stats.connections.find((c) => c.id === conn.w.id)!;
  assert.is(stats.watch.optionsSkipped, 0);
  assert.is(figures.receiveWindow, 32 * 1024);
  p.close();
});

test('a reset while the stream waited is reported by the watcher once started', async () => {
  const p = await pair();
  const { client, server } = await streamPair(p);
  const c = watch(p, 'a', client, { lingerSec: 0 });
  c.w.close();
  await p.clock.advance(1000);
  const late = watch(p, 'b', server, {}, false);
  await p.clock.advance(1000);
  assert.equal(late.log.events, [], 'nothing before start()');
  late.w.start();
  await until(p.clock, () => late.log.errors.length > 0, 'error after start');
  assert.equal(late.log.errors, [Errno.ECONNRESET]);
  p.close();
});

test('a stream is handed over once: the watcher owns it, the stream is empty', async () => {
  const p = await pair();
  const { client } = await streamPair(p);
  assert.ok(client.owned);
  watch(p, 'a', client);
  assert.not.ok(client.owned);
  client.close(); // does nothing: the watcher owns the connection
  assert.throws(
    () => createTcpConnectionWatcher(p.a, {}, client, () => {}),
    (e: unknown) => (e as StackError).code === 'ERR_STREAM_CONSUMED',
  );
  assert.throws(
    () => createTcpConnectionWatcher(p.b, {}, client, () => {}),
    (e: unknown) => (e as StackError).kind === 'configuration',
  );
  assert.is(p.a.stats().connections, 1);
  p.close();
});

test('received bytes wait in lwIP while a stream owns the connection', async () => {
  const p = await pair();
  const { streams } = acceptOn(p);
  const client = await connectTo(p);
  const writer = watch(p, 'a', client);
  writer.w.trySend(text('early bytes'));
  await until(p.clock, () => streams.length === 1, 'accept');
  await p.clock.advance(2000);
  const reader = watch(p, 'b', streams[0]!);
  await until(p.clock, () => reader.log.received === 11, 'bytes after start');
  assert.is(reader.log.text(), 'early bytes');
  p.close();
});

test('an outgoing stream keeps what arrives before its watcher starts, past 64 KiB too', async () => {
  const p = await pair();
  const data = bytes(200_000, 5);
  acceptOn(p).watcher.stop();
  const { streams } = acceptOn(p, { localBind: ipEndpoint('0.0.0.0', 81) });
  const client = await connectTo(p, '10.0.0.2', 81);
  await until(p.clock, () => streams.length === 1, 'accept');
  const speaker = watch(p, 'b', streams[0]!);
  sendAll(speaker.w, speaker.log, data);
  speaker.w.shutdownWrite();
  await p.clock.advance(2000);
  const late = watch(p, 'a', client);
  await until(p.clock, () => late.log.closed, 'everything, then onClose');
  assert.is(sha256(late.log.bytes()), sha256(data));
  p.close();
});

test.run();
