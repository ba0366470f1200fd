/**
 * Status and shutdown of a stack: per-connection figures and totals in
 * stats(), retransmissions counted per connection, and shutdown() closing
 * gracefully or aborting at its deadline.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StackError, TerminationReason, type TcpConnection } from '../../src/index.js';
import { bytes, collect, pair, until, writeAll } from '../helpers/net.js';

const test = suite('status');

test('stats(): totals always, one line per connection on request', async () => {
  const p = await pair();
  p.b.listen({ port: 80 }, (c) => {
    c.markActive();
    c.on('readable', (d) => c.write(d));
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const echo = collect(c);
  writeAll(c, bytes(10_000));
  await until(p.clock, () => echo.length() === 10_000, 'echo');
  const st = p.a.stats({ connections: true });
  assert.equal(st.totals, { opened: 1, live: 1, bytesIn: 10_000, bytesOut: 10_000 });
  assert.is(st.perConnection!.length, 1);
  const line = st.perConnection![0]!;
  assert.is(line.state, 'ESTABLISHED');
  assert.is(line.direction, 'outgoing');
  assert.is(line.peer.address, '10.0.0.2');
  assert.is(line.bytesOut, 10_000);
  assert.ok(line.receiveWindow > 0 && line.mss === 1460);
  assert.is(p.a.stats().perConnection, undefined, 'not computed unless asked');
  assert.equal([...p.a.connections()], [c]);
  p.close();
});

test('StackError from a connection: connectionId, kind and retryable', async () => {
  const p = await pair();
  // Refused: the error names the connection it happened on.
  const refused = p.a.connect({ address: '10.0.0.2', port: 81 });
  await until(p.clock, () => !refused.alive, 'refusal');
  const e1 = refused.error;
  assert.ok(e1 instanceof StackError);
  assert.is(e1.code, 'ECONNREFUSED');
  assert.is(e1.kind, 'connection');
  assert.is(e1.retryable, true);
  assert.is(e1.connectionId, refused.id);
  // Reset by the peer: ECONNRESET, kind 'connection', on this connection's id.
  let accepted: TcpConnection | undefined;
  p.b.listen({ port: 80 }, (c) => {
    accepted = c;
    c.markActive();
  });
  const other = p.a.connect({ address: '10.0.0.2', port: 80 });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  assert.is.not(c.id, other.id);
  await until(p.clock, () => c.active && accepted !== undefined, 'established');
  const peer = [...p.b.connections()].find((x) => x.peer.port === c.local.port)!;
  peer.abort();
  await until(p.clock, () => !c.alive, 'reset');
  assert.is(c.terminationReason, TerminationReason.Reset);
  const e2 = c.error;
  assert.ok(e2 instanceof StackError);
  assert.is(e2.code, 'ECONNRESET');
  assert.is(e2.kind, 'connection');
  assert.is(e2.connectionId, c.id);
  assert.ok(other.alive, 'the other connection is untouched');
  p.close();
});

test('retransmissions are counted per connection and in total', async () => {
  const p = await pair({ link: false });
  let n = 0;
  // Every 10th data packet from a to b is lost.
  p.ia.onOutput((pkts) =>
    queueMicrotask(() => p.ib.inputMany(pkts.filter((pk) => pk.length < 100 || ++n % 10 !== 0))),
  );
  p.ib.onOutput((pkts) => queueMicrotask(() => p.ia.inputMany(pkts)));
  let got: ReturnType<typeof collect> | undefined;
  p.b.listen({ port: 80 }, (s) => {
    got = collect(s);
    s.markActive();
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  writeAll(c, bytes(500_000), () => c.shutdownWrite());
  await until(p.clock, () => got?.eof() === true, 'all data despite loss');
  const retx = c.info().retransmissions;
  assert.ok(retx >= Math.floor(n / 10) - 1, `counted ${retx} for ${Math.floor(n / 10)} losses`);
  assert.is(p.a.stats().tcp.retransmissions, retx);
  assert.is(p.b.stats().tcp.retransmissions, 0);
  p.close();
});

test('shutdown() closes gracefully when peers cooperate', async () => {
  const p = await pair();
  const clients: TcpConnection[] = [];
  p.b.listen({ port: 80 }, (s) => s.markActive());
  for (let i = 0; i < 3; i++) {
    const c = p.a.connect({ address: '10.0.0.2', port: 80 });
    c.on('readEOF', () => c.gracefulClose());
    clients.push(c);
  }
  await until(p.clock, () => p.b.stats().totals.live === 3, 'three accepted');
  let report: Awaited<ReturnType<typeof p.b.shutdown>> | undefined;
  void p.b.shutdown({ timeoutMs: 5000 }).then((r) => (report = r));
  await until(p.clock, () => report !== undefined, 'shutdown');
  assert.equal(
    { ...report!, elapsedMs: 0 },
    { listeners: 1, closed: 3, aborted: 0, failed: 0, timedOut: false, elapsedMs: 0 },
  );
  assert.ok(clients.every((c) => !c.alive));
  p.close();
});

test('shutdown() aborts what is still open at the deadline', async () => {
  const p = await pair();
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  c.setRecvEnabled(false); // never reads the FIN, never closes
  await until(p.clock, () => c.active && p.b.stats().totals.live === 1, 'connected');
  const t0 = p.clock.now();
  let report: Awaited<ReturnType<typeof p.b.shutdown>> | undefined;
  void p.b.shutdown({ timeoutMs: 2000 }).then((r) => (report = r));
  await until(p.clock, () => report !== undefined, 'shutdown');
  assert.is(report!.timedOut, true);
  assert.is(report!.aborted + report!.closed, 1);
  assert.ok(p.clock.now() - t0 <= 2000 + 1);
  p.close();
});

test.run();
