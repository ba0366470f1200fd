/**
 * Transparent mode (lwIP patch 0003): a listener that takes TCP to any
 * destination arriving on a transparent interface, with the original
 * destination as the connection's local end, and held SYNs answered only
 * after the application decided (accept / refuse with RST / drop).
 * Addresses are documentation ranges; everything stays in memory.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Stack,
  VirtualClock,
  linkInterfaces,
  type HeldSyn,
  type TcpConnection,
} from '../../src/index.js';
import { collect, record, until } from '../helpers/net.js';

const test = suite('transparent');

async function setup() {
  const clock = new VirtualClock();
  const client = await Stack.create({ clock, seed: 1 });
  const proxy = await Stack.create({ clock, seed: 2 });
  const ic = client.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64' });
  const ip = proxy.addInterface({ ipv4: '10.0.0.2/24', ipv6: 'fd00::2/64', transparent: true });
  linkInterfaces(ic, ip);
  return { clock, client, proxy, close: () => (client.close(), proxy.close()) };
}

for (const [family, dst] of [
  ['v4', '198.51.100.7'],
  ['v6', '2001:db8::7'],
] as const) {
  test(`any destination is accepted and local is the original destination (${family})`, async () => {
    const n = await setup();
    const accepted: TcpConnection[] = [];
    n.proxy.listen({ port: 0, transparent: true }, (c) => {
      accepted.push(c);
      c.markActive();
      c.on('readable', (d) => c.write(d));
    });
    const c = n.client.connect({ address: dst, port: 443 });
    const echo = collect(c);
    c.on('becameActive', () => c.write(new TextEncoder().encode('via proxy')));
    await until(n.clock, () => echo.length() === 9, 'echo');
    assert.is(accepted.length, 1);
    assert.is(accepted[0]!.local.address, dst);
    assert.is(accepted[0]!.local.port, 443);
    assert.is(accepted[0]!.peer.address, family === 'v4' ? '10.0.0.1' : 'fd00::1');
    assert.is(c.peer.address, dst, 'the client talks to the original destination');
    n.close();
  });
}

test('an ordinary listener still wins for its own address and port', async () => {
  const n = await setup();
  const seen: string[] = [];
  // Bound to the interface's address: a wildcard listener would also match
  // transparent traffic to its port (lwIP's rule for any-address listeners).
  n.proxy.listen({ address: '10.0.0.2', port: 80 }, (c) => (seen.push('plain'), c.markActive()));
  n.proxy.listen(
    { port: 0, transparent: true },
    (c) => (seen.push(`transparent:${c.local.port}`), c.markActive()),
  );
  const c1 = n.client.connect({ address: '10.0.0.2', port: 80 });
  const c2 = n.client.connect({ address: '10.0.0.2', port: 81 });
  const c3 = n.client.connect({ address: '198.51.100.9', port: 80 });
  await until(n.clock, () => c1.active && c2.active && c3.active, 'all three');
  assert.equal(seen.sort(), ['plain', 'transparent:80', 'transparent:81']);
  assert.throws(
    () => n.proxy.listen({ port: 0, transparent: true }, () => {}),
    (e: unknown) => (e as { code: string }).code === 'ERR_TRANSPARENT_LISTENER_EXISTS',
  );
  n.close();
});

test('a non-transparent interface does not take foreign destinations', async () => {
  const clock = new VirtualClock();
  const a = await Stack.create({ clock, seed: 1 });
  const b = await Stack.create({ clock, seed: 2 });
  linkInterfaces(a.addInterface({ ipv4: '10.0.0.1/24' }), b.addInterface({ ipv4: '10.0.0.2/24' }));
  let accepted = 0;
  b.listen({ port: 0, transparent: true }, () => accepted++);
  const c = a.connect({ address: '198.51.100.7', port: 443 });
  const log = record(c);
  await until(clock, () => !c.alive, 'timeout', 30 * 60_000);
  assert.is(accepted, 0);
  assert.equal(log, ['terminated:destroyed:ETIMEDOUT']);
  a.close();
  b.close();
});

test('held SYN: nothing is answered until accept(); the connection keeps the id', async () => {
  const n = await setup();
  const syns: HeldSyn[] = [];
  const accepted: TcpConnection[] = [];
  n.proxy.listen({ port: 0, transparent: true, onSyn: (s) => syns.push(s) }, (c) => {
    accepted.push(c);
    c.markActive();
  });
  const c = n.client.connect({ address: '198.51.100.7', port: 22 });
  await n.clock.advance(500);
  assert.is(syns.length, 1);
  assert.is(syns[0]!.local.address, '198.51.100.7');
  assert.is(syns[0]!.local.port, 22);
  assert.not.ok(c.active, 'no SYN-ACK while held');
  syns[0]!.accept();
  await until(n.clock, () => c.active && accepted.length === 1, 'handshake after accept');
  assert.is(accepted[0]!.id, syns[0]!.id);
  assert.is(syns[0]!.state, 'accepted');
  n.close();
});

test('held SYN: refuse() is "connection refused" for the client, not a reset after a handshake', async () => {
  const n = await setup();
  n.proxy.listen({ port: 0, transparent: true, onSyn: (s) => s.refuse() }, () =>
    assert.unreachable('no connection'),
  );
  const c = n.client.connect({ address: '198.51.100.7', port: 23 });
  const log = record(c);
  await until(n.clock, () => !c.alive, 'refusal');
  assert.equal(log, ['terminated:reset:ECONNREFUSED']);
  assert.is(n.proxy.stats().handles, 1, 'only the listener is left');
  n.close();
});

test('held SYN: drop() leaves the client without an answer until it times out', async () => {
  const n = await setup();
  let syns = 0;
  n.proxy.listen({ port: 0, transparent: true, onSyn: (s) => (syns++, s.drop()) }, () =>
    assert.unreachable('no connection'),
  );
  const c = n.client.connect({ address: '198.51.100.7', port: 24 });
  const log = record(c);
  await until(n.clock, () => !c.alive, 'timeout', 30 * 60_000);
  assert.equal(log, ['terminated:destroyed:ETIMEDOUT']);
  assert.ok(syns >= 2, `every retransmitted SYN is offered again (${syns})`);
  n.close();
});

test('held SYNs count in the backlog and expire by themselves', async () => {
  const n = await setup();
  const syns: HeldSyn[] = [];
  const expired: number[] = [];
  n.proxy.listen(
    {
      port: 0,
      transparent: true,
      backlog: 2,
      onSyn: (s) => {
        syns.push(s);
        s.on('expired', () => expired.push(s.id));
      },
    },
    () => {},
  );
  for (let i = 0; i < 3; i++) n.client.connect({ address: '198.51.100.7', port: 1000 + i });
  await n.clock.advance(100);
  assert.is(syns.length, 2, 'the third SYN waits for room in the backlog');
  await until(n.clock, () => expired.length >= 2, 'lwIP times held SYNs out', 120_000);
  assert.is(syns.length, 2, 'the third client gave up while the backlog was full');
  n.client.connect({ address: '198.51.100.7', port: 2000 });
  await until(n.clock, () => syns.length === 3, 'the freed backlog takes a new SYN');
  syns[0]!.accept(); // after expiry: a no-op
  assert.is(syns[0]!.state, 'expired');
  n.close();
});

test.run();
