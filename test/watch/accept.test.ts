/**
 * The accept watcher's rules (seed 000, section 4.4), one test each:
 * per-tick accept bound, endpoint filling, the accepted queue's overflow
 * policies, silence after stop(), and EADDRINUSE.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Errno, StackError, type TcpConnection } from '../../src/index.js';
import {
  createTcpAcceptWatcher,
  formatEndpoint,
  ipEndpoint,
  OverflowPolicy,
  type TcpStream,
} from '../../src/watch/index.js';
import { pair, record, until } from '../helpers/net.js';
import { acceptOn, Batches, connectTo } from './helpers.js';

const test = suite('accept watcher');

/** Opens n raw client connections from a to b:80. */
function clients(p: Awaited<ReturnType<typeof pair>>, n: number): TcpConnection[] {
  return Array.from({ length: n }, () => p.a.connect({ address: '10.0.0.2', port: 80 }));
}

test('maxAcceptPerTick bounds onAccept calls per turn; the rest follow on later turns', async () => {
  const p = await pair();
  const batches = new Batches();
  const streams: TcpStream[] = [];
  const watcher = createTcpAcceptWatcher(
    p.b,
    { localBind: ipEndpoint('0.0.0.0', 80), maxAcceptPerTick: 2 },
    (s) => {
      streams.push(s);
      batches.add();
    },
  );
  const cs = clients(p, 5);
  await until(p.clock, () => watcher.queued === 5, 'five queued connections');
  assert.is(streams.length, 0, 'nothing is delivered before start()');
  watcher.start();
  await until(p.clock, () => streams.length === 5, 'all accepted');
  assert.equal(batches.sizes, [2, 2, 1]);
  // Without the bound, the same backlog goes out in one turn.
  const p2 = await pair();
  const b2 = new Batches();
  const w2 = createTcpAcceptWatcher(p2.b, { localBind: ipEndpoint('0.0.0.0', 80) }, () => b2.add());
  clients(p2, 5);
  await until(p2.clock, () => w2.queued === 5, 'five queued');
  w2.start();
  await until(p2.clock, () => b2.sizes.length > 0, 'accepts');
  assert.equal(b2.sizes, [5]);
  for (const c of cs) c.abort();
  p.close();
  p2.close();
});

test('fillEndpoints fills peer/local best-effort; false leaves them undefined', async () => {
  const p = await pair();
  const filled = acceptOn(p);
  const client = await connectTo(p);
  await until(p.clock, () => filled.streams.length === 1, 'accept');
  const s = filled.streams[0]!;
  assert.is(s.kind, 'lwip');
  assert.is(s.direction, 'accepted');
  assert.is(formatEndpoint(s.local!), '10.0.0.2:80');
  assert.is(formatEndpoint(s.peer!), formatEndpoint(client.local!));
  assert.is(formatEndpoint(client.peer!), '10.0.0.2:80');
  filled.watcher.stop();

  const bare = acceptOn(p, { localBind: ipEndpoint('::', 81), fillEndpoints: false });
  assert.is(formatEndpoint(bare.watcher.local), '[::]:81');
  await connectTo(p, 'fd00::2', 81);
  await until(p.clock, () => bare.streams.length === 1, 'accept');
  assert.is(bare.streams[0]!.peer, undefined);
  assert.is(bare.streams[0]!.local, undefined);
  p.close();
});

for (const [policy, peerSees] of [
  [OverflowPolicy.CloseNew, 'readEOF'],
  [OverflowPolicy.DropSilent, 'terminated:reset:ECONNRESET'],
  [OverflowPolicy.CloseAndReport, 'readEOF'],
] as const) {
  test(`overflow ${policy}: a full accepted queue turns new connections away (${peerSees})`, async () => {
    const p = await pair();
    const { watcher, streams, errors } = acceptOn(
      p,
      { acceptedQueueCapacity: 2, overflow: policy },
      false,
    );
    const cs = clients(p, 2);
    await until(p.clock, () => watcher.queued === 2, 'queue full');
    const extra = clients(p, 2);
    const logs = extra.map(record);
    await until(
      p.clock,
      () => logs.every((l) => l.includes(peerSees)),
      `turned-away peers to see ${peerSees}`,
    );
    assert.is(watcher.queued, 2);
    watcher.start();
    await until(p.clock, () => streams.length === 2, 'the queued two accepted');
    await p.clock.settle();
    assert.equal(
      errors,
      policy === OverflowPolicy.CloseAndReport ? [Errno.ENOBUFS] : [],
      'only CloseAndReport reports, once per episode',
    );
    for (const c of [...cs, ...extra]) c.abort();
    p.close();
  });
}

test('no callback after stop(); queued connections are reset', async () => {
  const p = await pair();
  let calls = 0;
  const watcher = createTcpAcceptWatcher(
    p.b,
    { localBind: ipEndpoint('10.0.0.2', 80), maxAcceptPerTick: 1 },
    () => {
      calls++;
      watcher.stop();
    },
    () => calls++,
  );
  const cs = clients(p, 3);
  const logs = cs.map(record);
  await until(p.clock, () => watcher.queued === 3, 'three queued');
  watcher.start();
  await until(p.clock, () => calls > 0, 'first accept');
  await p.clock.advance(1000);
  assert.is(calls, 1, 'stop() inside onAccept silences the rest');
  await until(
    p.clock,
    () => logs.slice(1).every((l) => l.some((e) => e.startsWith('terminated:reset'))),
    'queued connections reset',
  );
  assert.throws(
    () => watcher.start(),
    (e: unknown) => (e as StackError).code === 'ERR_WATCHER_STOPPED',
  );
  p.close();
});

test('a taken port fails at creation with EADDRINUSE (errno 98)', async () => {
  const p = await pair();
  const first = acceptOn(p);
  try {
    createTcpAcceptWatcher(p.b, { localBind: ipEndpoint('0.0.0.0', 80) }, () => {});
    assert.unreachable('expected EADDRINUSE');
  } catch (e) {
    assert.instance(e, StackError);
    assert.is((e as StackError).errno, 98);
    assert.is((e as StackError).code, 'EADDRINUSE');
  }
  first.watcher.stop();
  p.close();
});

test.run();
