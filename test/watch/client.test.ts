/**
 * TcpClient (seed 002): connect timeout as timer + cancel, exponential
 * backoff with seeded jitter, stop on ECONNREFUSED, and Happy Eyeballs over
 * several candidates. All on virtual time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Errno, type StackError } from '../../src/index.js';
import {
  createTcpClient,
  formatEndpoint,
  ipEndpoint,
  type IpEndpoint,
  type TcpClientOption,
  type TcpStream,
} from '../../src/watch/index.js';
import { pair, until, type Pair } from '../helpers/net.js';
import { acceptOn } from './helpers.js';

const test = suite('tcp client');

interface Outcome {
  streams: TcpStream[];
  errors: { at: number; code: string; errno: number; retry: boolean; delay?: number }[];
}

function client(p: Pair, remote: IpEndpoint | IpEndpoint[], option: TcpClientOption) {
  const out: Outcome = { streams: [], errors: [] };
  const c = createTcpClient(
    p.a,
    remote,
    option,
    (s) => out.streams.push(s),
    (e: StackError, retry) =>
      out.errors.push({
        at: p.clock.now(),
        code: e.code,
        errno: e.errno,
        retry,
        delay: e.retryDelay,
      }),
  );
  return { c, out };
}

test('connect timeout is a timer plus cancel: ETIMEDOUT at the deadline, nothing left behind', async () => {
  const p = await pair({ link: false });
  const { c, out } = client(p, ipEndpoint('10.0.0.2', 80), {
    connectTimeoutMs: 1500,
    reconnect: false,
  });
  c.start();
  await until(p.clock, () => out.errors.length > 0, 'timeout');
  assert.equal(out.errors, [
    { at: 1500, code: 'ETIMEDOUT', errno: Errno.ETIMEDOUT, retry: false, delay: undefined },
  ]);
  await p.clock.settle();
  assert.is(p.a.stats().connections, 0, 'the attempt was cancelled');
  await p.clock.advance(60_000);
  assert.is(out.errors.length, 1);
  p.close();
});

test('reconnection backs off exponentially up to the maximum', async () => {
  const p = await pair();
  const { c, out } = client(p, ipEndpoint('10.0.0.2', 80), {
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000, jitter: 0, maxAttempts: 6 },
  });
  c.start();
  await until(p.clock, () => out.errors.some((e) => !e.retry), 'giving up');
  assert.equal(
    out.errors.map((e) => e.at),
    [0, 100, 300, 700, 1500, 2500],
  );
  assert.equal(
    out.errors.map((e) => e.delay),
    [100, 200, 400, 800, 1000, undefined],
  );
  assert.ok(out.errors.every((e) => e.code === 'ECONNREFUSED'));
  assert.is(c.rounds, 6);
  p.close();
});

test('jitter comes from the stack seed: within bounds and the same for the same seed', async () => {
  const delays = async (seed: number) => {
    const p = await pair({ a: { seed } });
    const { c, out } = client(p, ipEndpoint('10.0.0.2', 80), {
      reconnect: { initialDelayMs: 1000, maxDelayMs: 8000, jitter: 0.5, maxAttempts: 5 },
    });
    c.start();
    await until(p.clock, () => out.errors.some((e) => !e.retry), 'giving up');
    p.close();
    return out.errors.map((e) => e.delay).filter((d) => d !== undefined) as number[];
  };
  const a = await delays(7);
  assert.equal(a, await delays(7), 'replays exactly');
  assert.not.equal(a, await delays(8), 'another seed, other delays');
  [1000, 2000, 4000, 8000].forEach((base, i) => {
    assert.ok(a[i]! >= base * 0.5 && a[i]! <= Math.min(8000, base * 1.5), `delay ${i}: ${a[i]}`);
  });
});

test('stopOnRefused gives up at the first ECONNREFUSED', async () => {
  const p = await pair();
  const { c, out } = client(p, ipEndpoint('10.0.0.2', 80), {
    reconnect: { stopOnRefused: true },
  });
  c.start();
  await until(p.clock, () => out.errors.length > 0, 'error');
  await p.clock.advance(60_000);
  assert.equal(
    out.errors.map((e) => [e.code, e.retry]),
    [['ECONNREFUSED', false]],
  );
  assert.is(c.rounds, 1);
  p.close();
});

test('Happy Eyeballs: IPv6 first, IPv4 after the delay, the winner kept and the loser cancelled', async () => {
  const p = await pair();
  acceptOn(p, { localBind: ipEndpoint('10.0.0.2', 80) });
  // fd00::99 is on the link but nobody answers: the IPv6 attempt hangs.
  const { c, out } = client(p, [ipEndpoint('10.0.0.2', 80), ipEndpoint('fd00::99', 80)], {
    attemptDelayMs: 300,
  });
  c.start();
  await p.clock.advance(299);
  assert.is(p.a.stats().tcp.established, 0);
  assert.is(p.a.stats().connections, 1, 'only the IPv6 attempt so far');
  await until(p.clock, () => out.streams.length === 1, 'connected');
  assert.is(p.clock.now(), 300, 'IPv4 started after the attempt delay and won at once');
  assert.is(formatEndpoint(out.streams[0]!.peer!), '10.0.0.2:80');
  await p.clock.settle();
  assert.is(p.a.stats().connections, 1, 'the IPv6 loser was cancelled');
  await p.clock.advance(60_000);
  assert.equal(out.errors, []);
  p.close();
});

test('Happy Eyeballs: a fast failure starts the next candidate at once; IPv6 wins when it answers', async () => {
  const p = await pair();
  acceptOn(p, { localBind: ipEndpoint('::', 80) });
  const v6 = client(p, [ipEndpoint('10.0.0.2', 80), ipEndpoint('fd00::2', 80)], {});
  v6.c.start();
  await until(p.clock, () => v6.out.streams.length === 1, 'connected');
  assert.is(v6.out.streams[0]!.peer!.family, 'v6');
  assert.is(p.clock.now(), 0, 'no waiting for IPv4');

  const refused = client(p, [ipEndpoint('10.0.0.2', 80), ipEndpoint('fd00::2', 81)], {});
  // Nothing listens on IPv6 port 81: it refuses at once, and IPv4 must not wait 250 ms.
  refused.c.start();
  const t0 = p.clock.now();
  await until(p.clock, () => refused.out.streams.length === 1, 'IPv4 after the refusal');
  assert.is(p.clock.now() - t0, 0);
  assert.equal(refused.out.errors, []);
  p.close();
});

test('no callback after stop(), and reconnect() gives a new connection after the initial delay', async () => {
  const p = await pair();
  const { c, out } = client(p, ipEndpoint('10.0.0.2', 80), {
    reconnect: { initialDelayMs: 500, jitter: 0 },
  });
  c.start();
  await until(p.clock, () => out.errors.length === 1, 'first refusal');
  const { streams } = acceptOn(p);
  await until(p.clock, () => out.streams.length === 1, 'connected on retry');
  assert.is(p.clock.now(), 500);
  out.streams[0]!.close();
  c.reconnect();
  await until(p.clock, () => out.streams.length === 2, 'reconnected');
  assert.is(p.clock.now(), 1000, 'after the initial delay again');
  c.reconnect();
  c.stop();
  await p.clock.advance(10_000);
  assert.is(out.streams.length, 2);
  assert.is(streams.length, 2);
  p.close();
});

test('a closed stack ends the client with a final error', async () => {
  const p = await pair();
  const { c, out } = client(p, ipEndpoint('10.0.0.2', 80), {
    reconnect: { initialDelayMs: 100, jitter: 0 },
  });
  c.start();
  await until(p.clock, () => out.errors.length === 1, 'first refusal');
  p.a.close();
  await until(p.clock, () => out.errors.some((e) => !e.retry), 'final error');
  assert.equal(out.errors.at(-1)!.code, 'ERR_STACK_CLOSED');
  const n = out.errors.length;
  await p.clock.advance(60_000);
  assert.is(out.errors.length, n, 'no retries after the stack closed');
  assert.is(p.clock.nextDeadline(), undefined, 'no timer left behind');
  p.close();
});

test.run();
