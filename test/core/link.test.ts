/**
 * The in-memory link and the real clock: a bulk transfer leaves the event
 * loop to timers and I/O, and an idle stack leaves no timer behind.
 * Real clock throughout; waits are on events, with bounds that only fail
 * a hung test.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RealClock, Stack, linkInterfaces, type Link } from '../../src/index.js';
import { bytes, collect, sha256, writeAll } from '../helpers/net.js';

const test = suite('link');

/**
 * Two real-clock stacks on a memory link. A small `batch` makes a transfer
 * many deliveries (more than the link chains on microtasks before it yields).
 */
async function realPair(
  batch?: number,
): Promise<{ a: Stack; b: Stack; link: Link; close(): void }> {
  const a = await Stack.create({ clock: new RealClock(), seed: 1 });
  const b = await Stack.create({ clock: new RealClock(), seed: 2 });
  const link = linkInterfaces(
    a.addInterface({ ipv4: '10.0.0.1/24' }),
    b.addInterface({ ipv4: '10.0.0.2/24' }),
    { batch },
  );
  return {
    a,
    b,
    link,
    close() {
      a.close();
      b.close();
    },
  };
}

/** Live Node timers (setTimeout/setInterval handles), as Node reports them. */
const liveTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Resolves once `done()` holds, checking on each later event-loop turn; rejects after `limitMs`. */
function waitFor(done: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = performance.now() + limitMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (done()) return resolve();
      if (performance.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setImmediate(check);
    };
    check();
  });
}

test('an idle real-clock stack leaves no Node timer pending', async () => {
  const before = liveTimeouts();
  const s = await Stack.create({ clock: new RealClock() });
  s.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64' });
  s.listen({ port: 80 }, () => {});
  // Startup work (if any) may arm timers; they must all end by themselves.
  await waitFor(() => liveTimeouts() <= before, 'the stack to go idle');
  // Closing cancels the stack's timers: if it had one, the count would drop.
  const idle = liveTimeouts();
  s.close();
  assert.is(liveTimeouts(), idle, 'close() found a timer to cancel on an idle stack');
});

test('after a connection ends and its TIME_WAIT is gone, a real-clock stack is idle again', async () => {
  const before = liveTimeouts();
  const p = await realPair();
  p.b.listen({ port: 7 }, (s) => {
    s.markActive();
    s.on('readEOF', () => s.abort());
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 7 });
  c.on('becameActive', () => c.shutdownWrite());
  await new Promise<void>((resolve) => c.on('terminated', () => resolve()));
  // The abort left no TIME_WAIT on either side: every lwIP timer stops.
  assert.is(p.a.stats().tcp.timeWait + p.b.stats().tcp.timeWait, 0);
  await waitFor(() => liveTimeouts() <= before, 'both stacks to go idle');
  const idle = liveTimeouts();
  p.close();
  assert.is(liveTimeouts(), idle, 'close() found a timer to cancel on idle stacks');
});

test('a bulk transfer yields to the event loop: immediates and a timeout run before it ends', async () => {
  const p = await realPair(16);
  let got: ReturnType<typeof collect> | undefined;
  p.b.listen({ port: 80 }, (s) => {
    got = collect(s);
    s.markActive();
  });
  const data = bytes(8 << 20);
  let transferring = true;
  let immediates = 0;
  let timeoutRan = false;
  let timeoutRanWhileTransferring = false;
  const tick = () => {
    if (!transferring) return;
    immediates++;
    setImmediate(tick);
  };
  setImmediate(tick);
  setTimeout(() => {
    timeoutRan = true;
    timeoutRanWhileTransferring = transferring;
  }, 0);
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  writeAll(c, data, () => c.shutdownWrite());
  await new Promise<void>((resolve, reject) => {
    c.on('terminated', (_r, e) => (e ? reject(e) : undefined));
    const poll = () => (got?.eof() ? resolve() : setImmediate(poll));
    poll();
  });
  transferring = false;
  assert.is(sha256(got!.bytes()), sha256(data));
  // Many batches crossed the link; they did not all run in one turn.
  assert.ok(p.link.delivered.aToB > 1000, `delivered ${p.link.delivered.aToB}`);
  assert.ok(immediates > 1, `a repeating setImmediate ran ${immediates} times during the transfer`);
  assert.ok(
    timeoutRan && timeoutRanWhileTransferring,
    'setTimeout(0) ran before the transfer ended',
  );
  p.close();
});

test('the transfer alone (no poll of ours) still lets a setTimeout(0) run before it ends', async () => {
  // Unlike the test above, nothing of the test's own queues setImmediate
  // while data flows: only the link's yields can give the timer its turn.
  const p = await realPair(16);
  const data = bytes(4 << 20);
  let transferring = true;
  let timeoutRanWhileTransferring = false;
  const done = new Promise<void>((resolve) => {
    p.b.listen({ port: 80 }, (s) => {
      const got = collect(s);
      s.on('readEOF', () => {
        transferring = false;
        assert.is(got.length(), data.length);
        resolve();
      });
      s.markActive();
    });
  });
  setTimeout(() => (timeoutRanWhileTransferring = transferring), 0);
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  writeAll(c, data, () => c.shutdownWrite());
  await done;
  assert.ok(timeoutRanWhileTransferring, 'setTimeout(0) ran while the transfer was in progress');
  p.close();
});

test.run();
