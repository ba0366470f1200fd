/**
 * The connection model's rules (seed 001), one test each, over two stacks on
 * a memory link with a virtual clock. IPv4 and IPv6 run the same tests.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TerminationReason, type TcpConnection } from '../../src/index.js';
import { bytes, collect, pair, record, sha256, until, writeAll } from '../helpers/net.js';

for (const family of ['v4', 'v6'] as const) {
  const server = family === 'v4' ? '10.0.0.2' : 'fd00::2';
  const test = suite(`connection model (${family})`);

  test('accept is not established: no data and a held backlog slot until markActive', async () => {
    const p = await pair();
    const accepted: TcpConnection[] = [];
    p.b.listen({ port: 80, backlog: 1 }, (c) => accepted.push(c));
    const c1 = p.a.connect({ address: server, port: 80 });
    writeAll(c1, new TextEncoder().encode('early'));
    await until(p.clock, () => accepted.length === 1, 'first accept');
    const s1 = accepted[0]!;
    const log = record(s1);
    const got = collect(s1);
    // A second client cannot complete while the only backlog slot is held.
    const c2 = p.a.connect({ address: server, port: 80 });
    await p.clock.advance(2_000);
    assert.is(accepted.length, 1, 'second connection must wait for the backlog slot');
    assert.is(got.length(), 0, 'no data before markActive');
    assert.is(s1.active, false);
    s1.markActive();
    assert.equal(log, [], 'events never run inside the call');
    await p.clock.settle();
    assert.equal(log.slice(0, 2), ['becameActive', 'readable:5']);
    assert.is(new TextDecoder().decode(got.bytes()), 'early');
    await until(p.clock, () => accepted.length === 2, 'second accept after the slot was released');
    assert.is(log.filter((e) => e === 'becameActive').length, 1, 'becameActive exactly once');
    assert.throws(
      () => s1.markActive(),
      (e: unknown) => (e as { code: string }).code === 'ERR_ALREADY_ACTIVE',
    );
    c1.abort();
    c2.abort();
    p.close();
  });

  test('setRecvEnabled(false) stops delivery and fills the sender; true redelivers at once', async () => {
    const p = await pair({
      a: { tcp: { sendBuffer: 64 * 1024 } },
      b: { tcp: { window: 64 * 1024 } },
    });
    let s: TcpConnection | undefined;
    p.b.listen({ port: 80 }, (c) => {
      s = c;
      c.setRecvEnabled(false);
      c.markActive();
    });
    const c = p.a.connect({ address: server, port: 80 });
    const data = bytes(1 << 20);
    let allQueued = false;
    writeAll(c, data, () => (allQueued = true));
    await until(p.clock, () => s !== undefined && c.active, 'connected');
    const got = collect(s!);
    await p.clock.advance(5_000);
    assert.is(got.length(), 0, 'nothing delivered while receiving is off');
    assert.is(allQueued, false, 'the sender cannot queue everything');
    assert.is(c.writable, false, 'the sender sees a full buffer');
    const t0 = p.clock.now();
    s!.setRecvEnabled(true);
    await p.clock.settle();
    assert.ok(got.length() > 0, 'refused data redelivered without waiting for a timer');
    assert.is(p.clock.now(), t0);
    await until(p.clock, () => got.length() === data.length, 'all data');
    assert.ok(
      p.clock.now() - t0 < 1_000,
      `sender resumed promptly (took ${p.clock.now() - t0} ms)`,
    );
    assert.is(sha256(got.bytes()), sha256(data));
    p.close();
  });

  test("setRecvEnabled(false, { pause: 'closeWindow' }) closes the window without drops", async () => {
    const p = await pair({ b: { tcp: { window: 64 * 1024 } } });
    let s: TcpConnection | undefined;
    p.b.listen({ port: 80 }, (c) => {
      s = c;
      c.markActive();
    });
    const c = p.a.connect({ address: server, port: 80 });
    await until(p.clock, () => c.active && s !== undefined, 'connected');
    const got = collect(s!);
    s!.setRecvEnabled(false, { pause: 'closeWindow' });
    const data = bytes(1 << 20);
    writeAll(c, data, () => c.shutdownWrite());
    await p.clock.advance(60_000);
    assert.is(got.length(), 0, 'nothing delivered while paused');
    assert.is(c.info().sendWindow, 0, 'the sender sees a zero window');
    // Only one-byte window probes go out again, not dropped segments.
    assert.ok(c.info().retransmissions < 10, `retransmissions ${c.info().retransmissions}`);
    assert.ok(c.alive, 'the sender waits without giving up');
    s!.setRecvEnabled(true);
    await until(p.clock, () => got.eof(), 'all data after resuming');
    assert.is(sha256(got.bytes()), sha256(data));
    p.close();
  });

  test('a FIN is readEOF only: the half-closed side can still send', async () => {
    const p = await pair();
    let s: TcpConnection | undefined;
    p.b.listen({ port: 80 }, (c) => {
      s = c;
      c.markActive();
    });
    const c = p.a.connect({ address: server, port: 80 });
    const clientLog = record(c);
    const fromServer = collect(c);
    await until(p.clock, () => c.active && s?.active === true, 'connected');
    const serverLog = record(s!);
    c.shutdownWrite();
    await until(p.clock, () => serverLog.includes('readEOF'), 'readEOF at the server');
    assert.ok(s!.alive);
    assert.is(s!.write(new TextEncoder().encode('still here')), 10);
    await until(p.clock, () => fromServer.length() === 10, 'data after the FIN');
    assert.not.ok(
      clientLog.some((e) => e.startsWith('terminated')),
      'half-close is not close',
    );
    s!.gracefulClose();
    await until(p.clock, () => !c.alive && !s!.alive, 'both ends terminated');
    assert.equal(clientLog.slice(-2), ['readEOF', 'terminated:close']);
    assert.equal(serverLog.at(-1), 'terminated:close');
    p.close();
  });

  test('gracefulClose ends with Close on both sides; abort is Abort here and Reset there', async () => {
    const p = await pair();
    const accepted: TcpConnection[] = [];
    p.b.listen({ port: 80 }, (c) => {
      accepted.push(c);
      c.markActive();
    });
    const c1 = p.a.connect({ address: server, port: 80 });
    const c2 = p.a.connect({ address: server, port: 80 });
    await until(p.clock, () => accepted.length === 2 && c1.active && c2.active, 'two connections');
    const [s1, s2] = accepted as [TcpConnection, TcpConnection];
    const s1Log = record(s1);
    const s2Log = record(s2);
    const c1Log = record(c1);
    const c2Log = record(c2);
    s1.on('readEOF', () => s1.gracefulClose());
    c1.gracefulClose();
    c2.abort();
    assert.is(c2.alive, false, 'abort takes effect at once');
    await until(
      p.clock,
      () => !s1.alive && !c1.alive && !s2.alive && c2Log.length > 0,
      'terminations',
    );
    assert.equal(c1Log.at(-1), 'terminated:close');
    assert.equal(s1Log.at(-1), 'terminated:close');
    assert.equal(c2Log, ['terminated:abort']);
    assert.equal(s2Log, ['terminated:reset:ECONNRESET']);
    assert.is(s2.error?.errno, 104);
    p.close();
  });

  test('connect to a closed port: Reset with ECONNREFUSED', async () => {
    const p = await pair();
    const c = p.a.connect({ address: server, port: 81 });
    const log = record(c);
    await until(p.clock, () => !c.alive, 'refusal');
    assert.equal(log, ['terminated:reset:ECONNREFUSED']);
    assert.is(c.terminationReason, TerminationReason.Reset);
    assert.is(c.error?.errno, 111);
    assert.is(c.error?.operation, 'connect');
    p.close();
  });

  test('connect with no answer: Destroyed with ETIMEDOUT when SYN retransmissions run out', async () => {
    const p = await pair();
    const c = p.a.connect({ address: family === 'v4' ? '10.0.0.99' : 'fd00::99', port: 80 });
    const log = record(c);
    await until(p.clock, () => !c.alive, 'timeout', 30 * 60_000);
    assert.equal(log, ['terminated:destroyed:ETIMEDOUT']);
    assert.is(c.error?.kind, 'timeout');
    p.close();
  });

  test('exactly one terminated event and no event after it; calls after it are harmless', async () => {
    const p = await pair();
    let s: TcpConnection | undefined;
    p.b.listen({ port: 80 }, (c) => {
      s = c;
      c.markActive();
      c.on('readable', (d) => c.write(d));
    });
    const c = p.a.connect({ address: server, port: 80 });
    const log = record(c);
    c.on('becameActive', () => {
      c.write(new Uint8Array(100_000));
      c.abort();
      // Everything below is a no-op on a dead connection.
      assert.is(c.write(new Uint8Array(10)), 0);
      c.setRecvEnabled(false);
      c.shutdownWrite();
      c.gracefulClose();
      c.abort();
      c.setNoDelay(true);
    });
    await until(p.clock, () => !c.alive && s !== undefined && !s.alive, 'both ended');
    await p.clock.advance(10_000);
    assert.equal(log, ['becameActive', 'terminated:abort']);
    assert.is(c.info().state, 'TERMINATED');
    assert.not.ok(s!.alive);
    p.close();
  });

  test('a FIN that arrives while delivery is off still reaches the app before terminated', async () => {
    const p = await pair();
    let s: TcpConnection | undefined;
    p.b.listen({ port: 80 }, (c) => {
      s = c;
      c.markActive();
    });
    const c = p.a.connect({ address: server, port: 80 });
    await until(p.clock, () => c.active && s?.active === true, 'connected');
    const log = record(s!);
    s!.setRecvEnabled(false);
    c.shutdownWrite();
    await p.clock.advance(1_000);
    assert.equal(log, [], 'nothing delivered while off');
    s!.shutdownWrite();
    await until(p.clock, () => !s!.alive, 'orderly end');
    assert.equal(log, ['readEOF', 'terminated:close']);
    p.close();
  });

  test('a pause inside readable also holds a FIN of the same batch until the resume', async () => {
    const p = await pair();
    let s: TcpConnection | undefined;
    p.b.listen({ port: 80 }, (c) => (s = c));
    const c = p.a.connect({ address: server, port: 80 });
    await until(p.clock, () => c.active && s !== undefined, 'connected');
    writeAll(c, new TextEncoder().encode('last words'), () => c.shutdownWrite());
    await p.clock.advance(1_000);
    const log = record(s!);
    s!.on('readable', () => s!.setRecvEnabled(false));
    s!.markActive(); // what was held (the data, then the FIN) arrives in one batch
    await p.clock.advance(1_000);
    assert.equal(log, ['becameActive', 'readable:10'], 'no readEOF while paused');
    s!.setRecvEnabled(true);
    await p.clock.settle();
    assert.equal(log, ['becameActive', 'readable:10', 'readEOF']);
    s!.gracefulClose();
    await until(p.clock, () => !s!.alive && !c.alive, 'orderly end');
    p.close();
  });

  test('setBufferSizes: a smaller send buffer takes fewer bytes per write', async () => {
    const p = await pair();
    p.b.listen({ port: 80 }, (c) => {
      c.setRecvEnabled(false);
      c.markActive();
    });
    const c = p.a.connect({ address: server, port: 80 });
    await until(p.clock, () => c.active, 'connected');
    c.setBufferSizes({ sendBuffer: 4096 });
    assert.ok(c.write(new Uint8Array(100_000)) <= 4096);
    assert.throws(
      () => c.setBufferSizes({ receiveWindow: -1 }),
      (e: unknown) => (e as { code: string }).code === 'ERR_INVALID_ARGUMENT',
    );
    p.close();
  });

  test('leak check: handle table empty and heap back to baseline after everything ends', async () => {
    const p = await pair();
    const baseA = p.a.stats().heap.lwipBytes;
    const baseB = p.b.stats().heap.lwipBytes;
    const listener = p.b.listen({ port: 80 }, (c) => {
      c.markActive();
      c.on('readable', (d) => c.write(d));
      c.on('readEOF', () => c.gracefulClose());
    });
    const clients: TcpConnection[] = [];
    for (let i = 0; i < 20; i++) {
      const c = p.a.connect({ address: server, port: 80 });
      const got = collect(c);
      writeAll(c, bytes(5000, i + 1), () => undefined);
      c.on('readable', () => {
        if (got.length() === 5000) c.gracefulClose();
      });
      clients.push(c);
    }
    await until(p.clock, () => clients.every((c) => !c.alive), 'all clients terminated');
    listener.close();
    await p.clock.advance(5 * 60_000); // TIME_WAIT (2 MSL) expires
    const sa = p.a.stats();
    const sb = p.b.stats();
    assert.is(sa.handles, 0);
    assert.is(sb.handles, 0);
    assert.is(sa.tcp.timeWait + sb.tcp.timeWait + sb.tcp.listen, 0);
    assert.is(sa.heap.lwipBytes, baseA, 'stack a heap back to baseline');
    assert.is(sb.heap.lwipBytes, baseB, 'stack b heap back to baseline');
    p.close();
  });

  test.run();
}
