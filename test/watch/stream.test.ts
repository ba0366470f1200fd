/**
 * TcpStream ownership (seed 000, section 4.3): disposing an unused stream
 * closes its connection, and the garbage-collection safety net aborts
 * streams that were dropped unclosed and counts them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { record, pair, until, type Pair } from '../helpers/net.js';
import { createTcpAcceptWatcher, ipEndpoint, watchStats } from '../../src/watch/index.js';
import { testUnless } from '../helpers/skip.js';
import { acceptOn, connectTo, watch } from './helpers.js';

const test = suite('stream ownership');

test('disposing an unused stream closes it (the peer reads end-of-stream)', async () => {
  const p = await pair();
  const { streams } = acceptOn(p);
  const client = await connectTo(p);
  const peer = watch(p, 'a', client);
  await until(p.clock, () => streams.length === 1, 'accept');
  const server = streams[0]!;
  assert.is(watchStats(p.b).streamsOpen, 1);
  const dispose = (server as unknown as Record<symbol, () => void>)[
    (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('Symbol.dispose')
  ];
  assert.type(dispose, 'function');
  dispose!.call(server);
  assert.not.ok(server.owned);
  server.close(); // idempotent
  await until(p.clock, () => peer.log.closed, 'peer onClose');
  assert.is(watchStats(p.b).streamsOpen, 0);
  p.close();
});

/** Accepts one connection whose stream nobody keeps; returns the client's event log. */
async function acceptAndDrop(p: Pair): Promise<string[]> {
  let accepted = false;
  createTcpAcceptWatcher(p.b, { localBind: ipEndpoint('0.0.0.0', 80) }, () => {
    accepted = true; // the stream is dropped here, never closed
  }).start();
  const log = record(p.a.connect({ address: '10.0.0.2', port: 80 }));
  await until(p.clock, () => accepted, 'accept');
  return log;
}

const gc = (globalThis as { gc?: () => void }).gc;

testUnless(
  test,
  gc ? undefined : 'needs node --expose-gc (test/run.ts passes it)',
  'a stream dropped without close is aborted by the safety net and counted',
  async () => {
    const p = await pair();
    const peerLog = await acceptAndDrop(p);
    for (let i = 0; i < 50 && watchStats(p.b).watch.streamsLeaked === 0; i++) {
      gc!();
      await new Promise((r) => setImmediate(r));
    }
    assert.is(watchStats(p.b).watch.streamsLeaked, 1);
    await until(p.clock, () => peerLog.some((e) => e.startsWith('terminated:reset')), 'peer reset');
    p.close();
  },
);

test.run();
