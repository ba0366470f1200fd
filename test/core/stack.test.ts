/**
 * Stack, interfaces, clock and link: options, errors, determinism, idle
 * cost, large MTU, real-clock operation, close().
 */
import { readFile } from 'node:fs/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RealClock, Stack, StackError, VirtualClock, linkInterfaces } from '../../src/index.js';
import { bytes, collect, pair, record, sha256, until, writeAll } from '../helpers/net.js';

const test = suite('stack');

const code = (c: string) => (e: unknown) => e instanceof StackError && e.code === c;
const names = (field: string) => (e: unknown) =>
  e instanceof StackError && e.kind === 'configuration' && e.message.includes(field);

test('bad options throw StackError naming the field', async () => {
  await Stack.create({ maxConnections: -1 }).then(
    () => assert.unreachable('negative maxConnections accepted'),
    (e: unknown) => assert.ok(names('maxConnections')(e)),
  );
  let caught: unknown;
  try {
    await Stack.create({ tcp: { window: 10 } });
  } catch (e) {
    caught = e;
  }
  assert.ok(names('tcp.window')(caught), String(caught));
  const s = await Stack.create();
  assert.throws(() => s.addInterface({ mtu: 100 }), names('mtu'));
  assert.throws(() => s.addInterface({ mtu: 70000 }), names('mtu'));
  assert.throws(() => s.addInterface({ ipv4: '10.0.0.300/24' }), names('ipv4'));
  assert.throws(() => s.addInterface({ ipv4: 'fd00::1/64' }), names('ipv4'));
  assert.throws(() => s.addInterface({ ipv6: 'fd00::1/129' }), names('ipv6'));
  assert.throws(() => s.connect({ address: 'nonsense', port: 80 }), names('address'));
  assert.throws(() => s.connect({ address: '10.0.0.1', port: 0 }), names('port'));
  assert.throws(() => s.connect({ address: '10.0.0.1', port: 70000 }), names('port'));
  assert.throws(() => s.listen({ port: -1 }, () => {}), names('port'));
  assert.throws(() => s.listen({ port: 1, backlog: 0 }, () => {}), names('backlog'));
  const iface = s.addInterface({ ipv4: '10.0.0.1/24' });
  assert.throws(() => iface.input('x' as never), names('packet'));
  s.close();
});

test('listening on a port in use throws EADDRINUSE; port 0 picks one', async () => {
  const s = await Stack.create();
  s.addInterface({ ipv4: '10.0.0.1/24' });
  const l = s.listen({ port: 8080 }, () => {});
  assert.throws(() => s.listen({ port: 8080 }, () => {}), code('EADDRINUSE'));
  l.close();
  s.listen({ port: 8080 }, () => {}).close();
  const any = s.listen({ port: 0 }, () => {});
  assert.ok(any.local.port > 0, `picked port ${any.local.port}`);
  s.close();
});

test('the loader accepts bytes, a URL and a compiled module', async () => {
  const url = new URL('../../build/lwip.wasm', import.meta.url);
  const raw = await readFile(url);
  for (const wasm of [raw, url, await WebAssembly.compile(raw)]) {
    const s = await Stack.create({ wasm });
    assert.is(s.addInterface({ ipv4: '10.1.0.1/24' }).id, 0);
    s.close();
  }
});

test('an idle stack has no timer pending', async () => {
  const clock = new VirtualClock();
  const s = await Stack.create({ clock });
  s.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64' });
  s.listen({ port: 80 }, () => {});
  await clock.settle();
  assert.is(clock.nextDeadline(), undefined);
  s.close();
});

test('same seed and virtual clock give the same packets', async () => {
  const run = async () => {
    const p = await pair();
    const trace: string[] = [];
    const tap = (from: string) => (pkts: Uint8Array[]) => {
      for (const pk of pkts)
        trace.push(`${p.clock.now()} ${from} ${Buffer.from(pk).toString('hex')}`);
    };
    // Record what each side emits, then deliver it as the link would.
    p.ia.onOutput((pkts) => {
      tap('a')(pkts);
      queueMicrotask(() => p.ib.inputMany(pkts));
    });
    p.ib.onOutput((pkts) => {
      tap('b')(pkts);
      queueMicrotask(() => p.ia.inputMany(pkts));
    });
    p.b.listen({ port: 80 }, (c) => {
      c.markActive();
      c.on('readable', (d) => c.write(d));
      c.on('readEOF', () => c.gracefulClose());
    });
    const c = p.a.connect({ address: '10.0.0.2', port: 80 });
    const got = collect(c);
    writeAll(c, bytes(200_000), () => c.shutdownWrite());
    await until(p.clock, () => !c.alive, 'end');
    assert.is(got.length(), 200_000);
    p.close();
    return sha256(new TextEncoder().encode(trace.join('\n')));
  };
  const first = await run();
  assert.is(await run(), first);
});

test('different seeds choose different ISNs and ports', async () => {
  const synOf = async (seed: number) => {
    const clock = new VirtualClock();
    const s = await Stack.create({ clock, seed });
    const iface = s.addInterface({ ipv4: '10.0.0.1/24' });
    let syn: Uint8Array | undefined;
    iface.onOutput((p) => (syn ??= p[0]));
    s.connect({ address: '10.0.0.2', port: 80 });
    await clock.settle();
    s.close();
    return Buffer.from(syn!.subarray(20, 28)).toString('hex'); // ports + sequence number
  };
  assert.is.not(await synOf(1), await synOf(2));
  assert.is(await synOf(3), await synOf(3));
});

test('MTU 65535: big segments and an intact 8 MiB transfer', async () => {
  const p = await pair({ mtu: 65535 });
  let got: ReturnType<typeof collect> | undefined;
  p.b.listen({ port: 80 }, (s) => {
    got = collect(s);
    s.markActive();
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const data = bytes(8 << 20);
  writeAll(c, data, () => c.shutdownWrite());
  await until(p.clock, () => got?.eof() === true, 'all data');
  assert.ok(c.info().mss > 60000, `mss ${c.info().mss}`);
  assert.is(sha256(got!.bytes()), sha256(data));
  p.close();
});

test('stats().packets: packet and byte counts match the interfaces and the other side', async () => {
  const p = await pair();
  const zero = p.a.stats().packets;
  assert.equal(zero, { in: 0, inDropped: 0, out: 0, bytesIn: 0, bytesOut: 0 });
  p.b.listen({ port: 7 }, (s) => {
    s.markActive();
    s.on('readable', (d) => s.write(d));
    s.on('readEOF', () => s.gracefulClose());
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 7 });
  const got = collect(c);
  const payload = bytes(10_000);
  writeAll(c, payload, () => c.shutdownWrite());
  await until(p.clock, () => got.eof(), 'the echo');
  assert.is(got.length(), payload.length);
  await p.clock.settle();
  for (const [stack, iface] of [
    [p.a, p.ia],
    [p.b, p.ib],
  ] as const) {
    const k = stack.stats().packets;
    const n = iface.counters;
    assert.is(k.in, n.packetsIn);
    assert.is(k.out, n.packetsOut);
    assert.is(k.bytesIn, n.bytesIn);
    assert.is(k.bytesOut, n.bytesOut);
    assert.is(k.inDropped, 0);
    // Every packet carries at least a 20-byte IPv4 and a 20-byte TCP header,
    // and the payload crossed once each way.
    assert.ok(
      k.bytesOut >= 40 * k.out + payload.length,
      `out ${k.out} packets, ${k.bytesOut} bytes`,
    );
    assert.ok(k.bytesIn >= 40 * k.in + payload.length, `in ${k.in} packets, ${k.bytesIn} bytes`);
  }
  // A lossless link: what one side sent, the other received.
  const sa = p.a.stats().packets;
  const sb = p.b.stats().packets;
  assert.is(sa.out, sb.in);
  assert.is(sa.bytesOut, sb.bytesIn);
  assert.is(sb.out, sa.in);
  assert.is(sb.bytesOut, sa.bytesIn);
  // Removing an interface does not take its bytes out of the totals.
  p.ia.remove();
  assert.is(p.a.stats().packets.bytesIn, sa.bytesIn);
  assert.is(p.a.stats().packets.bytesOut, sa.bytesOut);
  p.close();
});

test('output packets are copies the receiver owns', async () => {
  const clock = new VirtualClock();
  const s = await Stack.create({ clock });
  const iface = s.addInterface({ ipv4: '10.0.0.1/24' });
  const seen: Uint8Array[] = [];
  iface.onOutput((p) => seen.push(...p));
  s.connect({ address: '10.0.0.2', port: 80 });
  s.connect({ address: '10.0.0.2', port: 81 });
  await clock.settle();
  assert.is(seen.length, 2);
  const copy = seen[0]!.slice();
  seen[1]!.fill(0);
  assert.equal(seen[0], copy, 'one packet does not alias another');
  assert.ok(!(seen[0]!.buffer instanceof SharedArrayBuffer));
  // Much more traffic through the same WASM memory leaves the copy untouched.
  for (let port = 100; port < 400; port++) s.connect({ address: '10.0.0.2', port });
  await clock.settle();
  assert.is(seen.length, 302);
  assert.equal(seen[0], copy, 'a delivered packet never changes');
  s.close();
});

test('close() terminates every connection with Destroyed and later calls throw ERR_STACK_CLOSED', async () => {
  const p = await pair();
  p.b.listen({ port: 80 }, (c) => c.markActive());
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const log = record(c);
  await until(p.clock, () => c.active, 'connected');
  p.a.close();
  p.a.close();
  await p.clock.settle();
  assert.equal(log, ['becameActive', 'terminated:destroyed:ERR_STACK_CLOSED']);
  assert.is(c.write(new Uint8Array(1)), 0);
  assert.throws(() => p.a.connect({ address: '10.0.0.2', port: 80 }), code('ERR_STACK_CLOSED'));
  assert.throws(() => p.a.addInterface({}), code('ERR_STACK_CLOSED'));
  assert.is(p.a.stats().handles, 0);
  p.b.close();
});

test('several stacks in one process, on the real clock', async () => {
  const stacks = await Promise.all(
    [1, 2, 3].map((seed) => Stack.create({ clock: new RealClock(), seed })),
  );
  const [hub, x, y] = stacks as [Stack, Stack, Stack];
  const h1 = hub.addInterface({ ipv4: '10.1.0.1/24' });
  const h2 = hub.addInterface({ ipv4: '10.2.0.1/24' });
  linkInterfaces(h1, x.addInterface({ ipv4: '10.1.0.2/24' }));
  linkInterfaces(h2, y.addInterface({ ipv4: '10.2.0.2/24' }));
  hub.listen({ port: 7 }, (c) => {
    c.markActive();
    c.on('readable', (d) => c.write(d));
    c.on('readEOF', () => c.gracefulClose());
  });
  const echo = (s: Stack, to: string) =>
    new Promise<string>((resolve, reject) => {
      const c = s.connect({ address: to, port: 7 });
      const got = collect(c);
      c.on('becameActive', () => {
        c.write(new TextEncoder().encode(`hi from ${to}`));
        c.shutdownWrite();
      });
      c.on('terminated', (r, e) =>
        e ? reject(e) : resolve(new TextDecoder().decode(got.bytes())),
      );
    });
  assert.equal(await Promise.all([echo(x, '10.1.0.1'), echo(y, '10.2.0.1')]), [
    'hi from 10.1.0.1',
    'hi from 10.2.0.1',
  ]);
  for (const s of stacks) s.close();
});

test('a trap is caught: fatal event, every connection Destroyed, other stacks carry on', async () => {
  const p = await pair();
  p.b.listen({ port: 80 }, (c) => {
    c.markActive();
    c.on('readable', (d) => c.write(d));
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const log = record(c);
  await until(p.clock, () => c.active, 'connected');
  const fatal: StackError[] = [];
  p.a.on('fatal', (e) => fatal.push(e));
  const internal = p.a as unknown as {
    call(op: string, fn: (x: { lw_debug_fail(): void }) => void): void;
  };
  assert.throws(() => internal.call('test', (x) => x.lw_debug_fail()), code('ERR_STACK_FAILED'));
  await p.clock.settle();
  assert.is(fatal.length, 1);
  assert.match(fatal[0]!.message, /lw_debug_fail called/);
  assert.equal(log, ['becameActive', 'terminated:destroyed:ERR_STACK_FAILED']);
  assert.throws(() => p.a.connect({ address: '10.0.0.2', port: 80 }), code('ERR_STACK_FAILED'));
  // The other stack is untouched and still serves new peers.
  const x = await Stack.create({ clock: p.clock });
  linkInterfaces(
    x.addInterface({ ipv4: '10.0.1.1/24' }),
    p.b.addInterface({ ipv4: '10.0.1.2/24' }),
  );
  const d = x.connect({ address: '10.0.1.2', port: 80 });
  const echo = collect(d);
  d.on('becameActive', () => d.write(new Uint8Array([1, 2, 3])));
  await until(p.clock, () => echo.length() === 3, 'echo from the healthy stack');
  x.close();
  p.close();
});

test.run();
