/**
 * The connect watcher's rules (seed 000, section 4.5), one test each:
 * local binding visible in stream.local, cancel() semantics, and errno
 * values of failed attempts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Errno, errorToString, Stack } from '../../src/index.js';
import {
  createTcpConnectWatcher,
  formatEndpoint,
  ipEndpoint,
  type IpEndpoint,
  type TcpConnectOption,
  type TcpStream,
} from '../../src/watch/index.js';
import { pair, until, type Pair } from '../helpers/net.js';
import { acceptOn } from './helpers.js';

const test = suite('connect watcher');

/** Runs one attempt to its outcome. */
async function attempt(
  p: Pair,
  remote: IpEndpoint,
  option: TcpConnectOption = {},
  stack: Stack = p.a,
): Promise<{ stream?: TcpStream; err?: number }> {
  const out: { stream?: TcpStream; err?: number } = {};
  createTcpConnectWatcher(
    stack,
    remote,
    option,
    (s) => (out.stream = s),
    (e) => (out.err = e),
  ).start();
  await until(p.clock, () => out.stream !== undefined || out.err !== undefined, 'an outcome');
  return out;
}

test('localPort binds before connecting and the port shows in stream.local', async () => {
  const p = await pair();
  acceptOn(p);
  const { stream } = await attempt(p, ipEndpoint('10.0.0.2', 80), { localPort: 40000 });
  assert.ok(stream);
  assert.is(formatEndpoint(stream.local!), '10.0.0.1:40000');
  assert.is(stream.direction, 'outgoing');
  const bound = await attempt(p, ipEndpoint('fd00::2', 80), {
    localBind: ipEndpoint('fd00::1', 40001),
  });
  assert.is(formatEndpoint(bound.stream!.local!), '[fd00::1]:40001');
  const ephemeral = await attempt(p, ipEndpoint('10.0.0.2', 80));
  assert.ok(ephemeral.stream!.local!.port > 0, 'an ephemeral port is reported');
  p.close();
});

test('cancel() fires no onError, may be repeated, and frees the attempt', async () => {
  const p = await pair({ link: false });
  const calls: string[] = [];
  const w = createTcpConnectWatcher(
    p.a,
    ipEndpoint('10.0.0.2', 80),
    {},
    () => calls.push('connected'),
    (e) => calls.push(`error:${e}`),
  );
  w.cancel(); // before start: harmless
  const w2 = createTcpConnectWatcher(
    p.a,
    ipEndpoint('10.0.0.2', 80),
    {},
    () => calls.push('connected'),
    (e) => calls.push(`error:${e}`),
  );
  w2.start();
  await p.clock.advance(1000);
  assert.is(p.a.stats().connections, 1, 'the SYN is out');
  w2.cancel();
  w2.cancel();
  w2.stop();
  await p.clock.advance(60_000);
  assert.equal(calls, []);
  assert.is(p.a.stats().connections, 0, 'the half-open connection is gone');
  p.close();
});

test('no callback after cancel() even when the outcome is already on its way', async () => {
  const p = await pair();
  acceptOn(p);
  const calls: string[] = [];
  const w = createTcpConnectWatcher(
    p.a,
    ipEndpoint('10.0.0.2', 80),
    {},
    () => calls.push('connected'),
    () => calls.push('error'),
  );
  w.start();
  // The SYN-ACK is delivered on a later turn; cancel before it lands.
  w.cancel();
  await p.clock.advance(5000);
  assert.equal(calls, []);
  assert.is(p.a.stats().connections, 0);
  p.close();
});

test('errors are POSIX errno values with names and text from errorToString', async () => {
  const p = await pair();
  const refused = await attempt(p, ipEndpoint('10.0.0.2', 9));
  assert.is(refused.err, Errno.ECONNREFUSED);
  assert.is(refused.err, 111);
  assert.is(errorToString(refused.err!), 'ECONNREFUSED (111): connection refused');

  const timedOut = await attempt(p, ipEndpoint('10.0.0.77', 80));
  assert.is(timedOut.err, 110, errorToString(timedOut.err!));

  const lonely = await Stack.create({ clock: p.clock, seed: 3 });
  const unreachable = await attempt(p, ipEndpoint('10.0.0.2', 80), {}, lonely);
  assert.is(unreachable.err, 101, errorToString(unreachable.err!));
  lonely.close();

  acceptOn(p, { localBind: ipEndpoint('0.0.0.0', 80) });
  p.a.listen({ port: 5000 }, () => {});
  const inUse = await attempt(p, ipEndpoint('10.0.0.2', 80), { localPort: 5000 });
  assert.is(inUse.err, 98, errorToString(inUse.err ?? 0));
  p.close();
});

test.run();
