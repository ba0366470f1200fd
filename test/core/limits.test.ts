/**
 * Limits: maxConnections refuses new connections with RST (remote) or
 * EMFILE (local) while established ones carry on; the memory limit makes
 * lwIP refuse allocations and gracefulClose() retry until memory returns.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpConnection } from '../../src/index.js';
import { bytes, collect, pair, record, sha256, until, writeAll } from '../helpers/net.js';

const test = suite('limits');

test('maxConnections: the next SYN gets an RST, established connections are unaffected', async () => {
  const p = await pair({ b: { maxConnections: 2 } });
  const accepted: TcpConnection[] = [];
  p.b.listen({ port: 80 }, (c) => {
    accepted.push(c);
    c.markActive();
    c.on('readable', (d) => c.write(d));
  });
  const c1 = p.a.connect({ address: '10.0.0.2', port: 80 });
  const c2 = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => c1.active && c2.active, 'two connections');
  const c3 = p.a.connect({ address: '10.0.0.2', port: 80 });
  const log3 = record(c3);
  await until(p.clock, () => !c3.alive, 'third refused');
  assert.equal(log3, ['terminated:reset:ECONNREFUSED']);
  assert.is(p.b.stats().refusedByLimit, 1);
  assert.is(accepted.length, 2);
  const echo = collect(c1);
  c1.write(new TextEncoder().encode('still fine'));
  await until(p.clock, () => echo.length() === 10, 'echo on an established connection');
  // A slot frees up when a connection ends.
  c2.abort();
  await until(p.clock, () => accepted[1]!.alive === false, 'server side of c2 gone');
  const c4 = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => c4.active, 'a new connection fits again');
  p.close();
});

test('maxConnections on the connecting side: EMFILE without sending anything', async () => {
  const p = await pair({ a: { maxConnections: 1 } });
  p.b.listen({ port: 80 }, (c) => c.markActive());
  const c1 = p.a.connect({ address: '10.0.0.2', port: 80 });
  const c2 = p.a.connect({ address: '10.0.0.2', port: 80 });
  const log2 = record(c2);
  await until(p.clock, () => c1.active && !c2.alive, 'first connects, second refused');
  assert.equal(log2, ['terminated:destroyed:EMFILE']);
  assert.is(c2.error?.kind, 'resource');
  p.close();
});

test('memory limit: gracefulClose retries on ERR_MEM until memory is available', async () => {
  const p = await pair();
  let s: TcpConnection | undefined;
  p.b.listen({ port: 80 }, (c) => {
    s = c;
    c.markActive();
    c.on('readEOF', () => c.gracefulClose());
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const log = record(c);
  await until(p.clock, () => c.active && s !== undefined, 'connected');
  const used = p.a.stats().heap.lwipBytes;
  p.a.setLimits({ memoryLimit: used + 1 }); // nothing more fits
  c.gracefulClose();
  await p.clock.advance(3_000);
  assert.ok(s!.alive && !s!.readEnded, 'no FIN could be sent');
  assert.ok(p.a.stats().heap.refusedAllocations > 0, 'the refusal is counted');
  p.a.setLimits({ memoryLimit: 0 });
  await until(p.clock, () => !c.alive && !s!.alive, 'the retried close completes');
  assert.equal(log.at(-1), 'terminated:close');
  p.close();
});

test('memory limit: what does not fit is dropped, never delivered corrupt; the transfer recovers', async () => {
  const limit = 256 * 1024;
  const p = await pair({ b: { memoryLimit: limit } });
  let s: TcpConnection | undefined;
  let got: ReturnType<typeof collect> | undefined;
  p.b.listen({ port: 80 }, (c) => {
    s = c;
    got = collect(c);
    c.setRecvEnabled(false); // make the receiver hold data in lwIP's memory
    c.markActive();
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const data = bytes(2 << 20);
  writeAll(c, data, () => c.shutdownWrite());
  await p.clock.advance(2_000);
  const st = p.b.stats().heap;
  assert.ok(st.lwipPeak <= limit, `peak ${st.lwipPeak} within the limit`);
  assert.is(got!.length(), 0);
  p.b.setLimits({ memoryLimit: 0 });
  s!.setRecvEnabled(true);
  await until(p.clock, () => got!.eof(), 'all data after the limit was lifted');
  assert.is(sha256(got!.bytes()), sha256(data));
  p.close();
});

test.run();
