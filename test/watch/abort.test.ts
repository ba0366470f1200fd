/**
 * AbortSignal wherever a connect can be cancelled: Stack.connect, the
 * connect watcher and TcpClient. Aborting before the connection is up
 * cancels it; afterwards it changes nothing; bad values are typed errors.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StackError, type TcpConnection } from '../../src/index.js';
import { createTcpClient, createTcpConnectWatcher, ipEndpoint } from '../../src/watch/index.js';
import { pair, until } from '../helpers/net.js';

const test = suite('AbortSignal');

/** Records a connection's events as text. */
function events(c: TcpConnection): string[] {
  const log: string[] = [];
  c.on('becameActive', () => log.push('active'));
  c.on('terminated', (reason, error) => log.push(`terminated:${reason}:${error?.code ?? ''}`));
  return log;
}

test('Stack.connect: aborting during the handshake aborts the attempt', async () => {
  const p = await pair({ link: false }); // the SYN goes nowhere: the handshake hangs
  const ac = new AbortController();
  const c = p.a.connect({ address: '10.0.0.2', port: 80, signal: ac.signal });
  const log = events(c);
  await p.clock.advance(2_000);
  assert.equal(log, [], 'still connecting');
  ac.abort();
  await p.clock.settle();
  assert.equal(log, ['terminated:abort:']);
  assert.not.ok(c.alive);
  p.close();
});

test('Stack.connect: an already aborted signal aborts at once; events still reach late listeners', async () => {
  const p = await pair();
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80, signal: AbortSignal.abort() });
  const log = events(c);
  await p.clock.advance(1_000);
  assert.equal(log, ['terminated:abort:']);
  p.close();
});

test('Stack.connect: aborting after becameActive changes nothing', async () => {
  const p = await pair();
  p.b.listen({ port: 80 }, (s) => s.markActive());
  const ac = new AbortController();
  const c = p.a.connect({ address: '10.0.0.2', port: 80, signal: ac.signal });
  const log = events(c);
  await until(p.clock, () => c.active, 'connected');
  ac.abort();
  await p.clock.advance(1_000);
  assert.equal(log, ['active']);
  assert.ok(c.alive);
  p.close();
});

test('Stack.connect: a signal that is not an AbortSignal is a typed error', async () => {
  const p = await pair();
  try {
    p.a.connect({ address: '10.0.0.2', port: 80, signal: {} as AbortSignal });
    assert.unreachable('should throw');
  } catch (error) {
    assert.instance(error, StackError);
    assert.is((error as StackError).code, 'ERR_INVALID_ARGUMENT');
    assert.match((error as StackError).message, 'signal');
  }
  p.close();
});

test('connect watcher: abort is cancel() (no callback, the attempt is aborted)', async () => {
  const p = await pair({ link: false });
  const ac = new AbortController();
  const calls: string[] = [];
  const w = createTcpConnectWatcher(
    p.a,
    ipEndpoint('10.0.0.2', 80),
    { signal: ac.signal },
    () => calls.push('connected'),
    (e) => calls.push(`error ${e}`),
  );
  w.start();
  await p.clock.advance(1_000);
  assert.ok(w.pending);
  ac.abort();
  assert.not.ok(w.pending, 'cancelled at once');
  await p.clock.advance(60_000);
  assert.equal(calls, []);
  assert.is([...p.a.connections()].length, 0, 'the half-open connection is gone');
  p.close();
});

test('TcpClient: abort stops the client (no callback, no retry)', async () => {
  const p = await pair({ link: false });
  const ac = new AbortController();
  const calls: string[] = [];
  const client = createTcpClient(
    p.a,
    ipEndpoint('10.0.0.2', 80),
    { connect: { signal: ac.signal }, connectTimeoutMs: 500 },
    () => calls.push('connected'),
    (e) => calls.push(`error ${e}`),
  );
  client.start();
  await p.clock.advance(700);
  const rounds = client.rounds;
  ac.abort();
  await p.clock.advance(60_000);
  assert.is(client.rounds, rounds, 'no round after the abort');
  assert.is([...p.a.connections()].length, 0);
  assert.throws(
    () => client.start(),
    (e: unknown) => (e as StackError).code === 'ERR_WATCHER_STOPPED',
  );
  p.close();
});

test.run();
