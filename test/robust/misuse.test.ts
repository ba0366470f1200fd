/**
 * API misuse (issue 6 §3), one test per misuse: each gives a typed
 * StackError (asserted by `code`) or is a documented no-op, never a crash,
 * a hang or an event out of order. Cases test/core already covers (bad
 * Stack/addInterface options, EADDRINUSE on a plain port, markActive twice,
 * calls after abort()) are only extended here, not repeated.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Stack,
  StackError,
  VirtualClock,
  linkInterfaces,
  type HeldSyn,
  type TcpConnection,
} from '../../src/index.js';
import { bytes, collect, concat, pair, record, sha256, until, type Pair } from '../helpers/net.js';

const test = suite('misuse');

const code = (c: string) => (e: unknown) => e instanceof StackError && e.code === c;
const invalid = (field: string) => (e: unknown) =>
  e instanceof StackError &&
  e.code === 'ERR_INVALID_ARGUMENT' &&
  e.kind === 'configuration' &&
  e.message.includes(field);

/** A pair with a server that hands over accepted connections (not yet active). */
async function served(): Promise<Pair & { accepted: TcpConnection[] }> {
  const p = await pair();
  const accepted: TcpConnection[] = [];
  p.b.listen({ port: 80 }, (c) => accepted.push(c));
  return Object.assign(p, { accepted });
}

/** Calls every connection method; none may throw on a connection that is not alive. */
function everyMethod(c: TcpConnection): void {
  c.markActive();
  assert.is(c.write(new Uint8Array(10)), 0);
  c.setRecvEnabled(false);
  c.setRecvEnabled(true);
  c.shutdownWrite();
  c.gracefulClose();
  c.abort();
  c.setNoDelay(true);
  c.setKeepAlive(true, 1000, 1000, 3);
  assert.is(c.info().state, 'TERMINATED');
}

test('calls after termination: an accepted connection reset before markActive takes every call as a no-op', async () => {
  const p = await served();
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => p.accepted.length === 1 && c.active, 'accepted');
  const s = p.accepted[0]!;
  const log = record(s);
  c.abort(); // RST reaches s while it is still on hold
  await until(p.clock, () => !s.alive, 'reset');
  assert.equal(log, ['terminated:reset:ECONNRESET']);
  everyMethod(s);
  await p.clock.advance(5_000);
  assert.equal(log, ['terminated:reset:ECONNRESET'], 'no event after terminated');
  assert.is(p.b.stats().connections, 0);
  p.close();
});

for (const how of ['closed', 'failed'] as const) {
  const expected = how === 'closed' ? 'ERR_STACK_CLOSED' : 'ERR_STACK_FAILED';
  test(`after the stack ${how}: stack calls throw ${expected}, object calls are no-ops`, async () => {
    const p = await served();
    const c = p.a.connect({ address: '10.0.0.2', port: 80 });
    await until(p.clock, () => p.accepted.length === 1 && c.active, 'connected');
    const s = p.accepted[0]!;
    const held: HeldSyn[] = [];
    const holding = p.b.listen({ port: 81, onSyn: (syn) => held.push(syn) }, () => {});
    p.a.connect({ address: '10.0.0.2', port: 81 });
    await until(p.clock, () => held.length === 1, 'a held SYN');
    const log = record(s);
    if (how === 'closed') p.b.close();
    else {
      const fatal: StackError[] = [];
      p.b.on('fatal', (e) => fatal.push(e));
      const internal = p.b as unknown as {
        call(op: string, fn: (x: { lw_debug_fail(): void }) => void): void;
      };
      assert.throws(() => internal.call('test', (x) => x.lw_debug_fail()), code(expected));
      assert.is(fatal.length, 1);
    }
    await p.clock.settle();
    assert.equal(log, [`terminated:destroyed:${expected}`]);
    assert.throws(() => p.b.listen({ port: 82 }, () => {}), code(expected));
    assert.throws(() => p.b.connect({ address: '10.0.0.1', port: 80 }), code(expected));
    assert.throws(() => p.b.addInterface({ ipv4: '10.1.0.1/24' }), code(expected));
    assert.throws(() => p.b.setLimits({ maxConnections: 5 }), code(expected));
    // Objects of the dead stack: documented no-ops.
    everyMethod(s);
    holding.close();
    assert.is(holding.listening, false);
    held[0]!.accept();
    held[0]!.refuse();
    held[0]!.drop();
    p.ib.input(new Uint8Array(40));
    p.ib.inputMany([new Uint8Array(40)]);
    p.ib.remove();
    assert.is(p.ib.removed, true);
    assert.is(p.b.stats().handles, 0, 'stats() still answers, with no handle left');
    p.b.close(); // and closing again does nothing
    await p.clock.advance(10_000);
    assert.equal(log, [`terminated:destroyed:${expected}`], 'nothing after terminated');
    // The peer is unaffected and can still make (failing) attempts.
    const again = p.a.connect({ address: '10.0.0.2', port: 80 });
    await until(p.clock, () => !again.alive, 'no answer', 60_000);
    assert.is(again.error?.code, 'ETIMEDOUT');
    p.close();
  });
}

test('double close: second calls of every close-like method are no-ops', async () => {
  const p = await served();
  const listener = p.b.listen({ port: 81 }, (s) => {
    s.markActive();
    s.on('readEOF', () => s.gracefulClose());
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 81 });
  const log = record(c);
  await until(p.clock, () => c.active, 'connected');
  c.gracefulClose();
  c.gracefulClose();
  c.shutdownWrite(); // after gracefulClose: nothing to shut
  listener.close();
  listener.close();
  await until(p.clock, () => !c.alive, 'closed');
  assert.equal(log, ['becameActive', 'terminated:close']);
  c.gracefulClose();
  c.abort();
  // Interfaces and links too.
  const extra = p.a.addInterface({ ipv4: '10.5.0.1/24' });
  const other = p.b.addInterface({ ipv4: '10.5.0.2/24' });
  const link = linkInterfaces(extra, other);
  link.close();
  link.close();
  extra.remove();
  extra.remove();
  assert.is(extra.removed, true);
  // A removed interface's id can be reused and the stack still works.
  const reused = p.a.addInterface({ ipv4: '10.6.0.1/24' });
  assert.is(reused.id, extra.id);
  const d = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => p.accepted.length === 1 && d.active, 'the stack still connects');
  p.close();
  p.close();
});

test('write after shutdownWrite or gracefulClose throws ERR_WRITE_AFTER_END; what was written arrives intact', async () => {
  const p = await served();
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => p.accepted.length === 1 && c.active, 'connected');
  const s = p.accepted[0]!;
  const got = collect(s);
  s.markActive();
  const data = bytes(10_000);
  assert.is(c.write(data), data.length);
  c.shutdownWrite();
  c.shutdownWrite(); // again: nothing
  assert.is(c.writable, false);
  assert.throws(() => c.write(new Uint8Array(1)), code('ERR_WRITE_AFTER_END'));
  await until(p.clock, () => got.eof(), 'FIN after the data');
  assert.equal(got.bytes(), data);
  s.gracefulClose();
  assert.throws(() => s.write(new Uint8Array(1)), code('ERR_WRITE_AFTER_END'));
  await until(p.clock, () => !c.alive && !s.alive, 'both closed');
  assert.is(c.terminationReason, 'close');
  p.close();
});

test('calls before the connection is active: shutdownWrite throws ERR_NOT_ACTIVE, write takes nothing and writable follows', async () => {
  const p = await served();
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  const log = record(c);
  assert.throws(() => c.shutdownWrite(), code('ERR_NOT_ACTIVE'));
  assert.is(c.write(new Uint8Array(100)), 0);
  assert.is(c.writable, false);
  await until(p.clock, () => c.active, 'connected');
  assert.equal(log, ['becameActive', 'writable'], 'the refused write is told when to retry');
  await until(p.clock, () => p.accepted.length === 1, 'accepted');
  const s = p.accepted[0]!;
  assert.throws(() => s.shutdownWrite(), code('ERR_NOT_ACTIVE'), 'accepted, not marked active');
  assert.is(s.write(new Uint8Array(1)), 0);
  p.close();
});

test('markActive misuse: twice throws ERR_ALREADY_ACTIVE, on an outgoing connection ERR_NOT_ACCEPTED', async () => {
  const p = await served();
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  assert.throws(() => c.markActive(), code('ERR_NOT_ACCEPTED'));
  await until(p.clock, () => p.accepted.length === 1 && c.active, 'connected');
  assert.throws(() => c.markActive(), code('ERR_NOT_ACCEPTED'));
  const s = p.accepted[0]!;
  const log = record(s);
  s.markActive();
  assert.throws(() => s.markActive(), code('ERR_ALREADY_ACTIVE'));
  await p.clock.settle();
  assert.equal(log, ['becameActive'], 'becameActive once');
  p.close();
});

test('listening on a port in use: EADDRINUSE for every overlap; a second transparent listener: ERR_TRANSPARENT_LISTENER_EXISTS', async () => {
  const p = await served(); // b listens on any address, port 80
  const inUse = code('EADDRINUSE');
  assert.throws(() => p.b.listen({ port: 80 }, () => {}), inUse);
  assert.throws(() => p.b.listen({ address: '10.0.0.2', port: 80 }, () => {}), inUse);
  const specific = p.b.listen({ address: '10.0.0.2', port: 90 }, () => {});
  assert.throws(() => p.b.listen({ address: '10.0.0.2', port: 90 }, () => {}), inUse);
  assert.throws(() => p.b.listen({ port: 90 }, () => {}), inUse);
  // The local port of an outgoing connection is in use too.
  const out = p.b.connect({ address: '10.0.0.1', port: 9, localPort: 4000 });
  assert.throws(() => p.b.listen({ port: 4000 }, () => {}), inUse);
  // Port 0 never collides.
  const any = p.b.listen({ port: 0 }, () => {});
  assert.ok(any.local.port > 0 && any.local.port !== 80);
  const t = p.b.listen({ port: 0, transparent: true }, () => {});
  assert.throws(
    () => p.b.listen({ port: 0, transparent: true }, () => {}),
    code('ERR_TRANSPARENT_LISTENER_EXISTS'),
  );
  t.close();
  p.b.listen({ port: 0, transparent: true }, () => {}).close(); // free again after close
  // The refused calls left the first listener working.
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => p.accepted.length === 1 && c.active, 'the original listener serves');
  specific.close();
  out.abort();
  p.close();
});

test('a dual-stack listener holds its port for every IPv4 and IPv6 address; specific addresses of different families share a port (patch 0007)', async () => {
  const p = await served(); // b listens on every address, IPv4 and IPv6, port 80
  const inUse = code('EADDRINUSE');
  assert.throws(() => p.b.listen({ address: '10.0.0.2', port: 80 }, () => {}), inUse);
  // lwIP itself compared the IP type and let this one through (its "@todo:
  // check accept_any_ip_version"), taking fd00::2's connections from the first.
  assert.throws(() => p.b.listen({ address: 'fd00::2', port: 80 }, () => {}), inUse);
  assert.throws(() => p.b.listen({ address: '::', port: 80 }, () => {}), inUse);
  // An outgoing connection's local port, either family, against the listener.
  const ended: string[] = [];
  for (const address of ['10.0.0.1', 'fd00::1']) {
    const c = p.b.connect({ address, port: 9, localPort: 80 });
    c.on('terminated', (_reason, error) => ended.push(`${address} ${error?.code}`));
  }
  await p.clock.settle();
  assert.equal(ended, ['10.0.0.1 EADDRINUSE', 'fd00::1 EADDRINUSE']);
  // Specific addresses of the two families do not overlap.
  const v4 = p.b.listen({ address: '10.0.0.2', port: 90 }, () => {});
  const v6 = p.b.listen({ address: 'fd00::2', port: 90 }, () => {});
  assert.throws(() => p.b.listen({ address: 'fd00::2', port: 90 }, () => {}), inUse);
  // ...but a dual-stack listener overlaps both.
  assert.throws(() => p.b.listen({ port: 90 }, () => {}), inUse);
  v4.close();
  assert.throws(() => p.b.listen({ port: 90 }, () => {}), inUse, 'the IPv6 one still holds it');
  v6.close();
  p.b.listen({ port: 90 }, () => {}).close(); // free once both are closed
  // The IPv6 connection still reaches the dual-stack listener.
  const c = p.a.connect({ address: 'fd00::2', port: 80 });
  await until(
    p.clock,
    () => p.accepted.length === 1 && c.active,
    'the dual-stack listener serves IPv6',
  );
  p.close();
});

test('invalid options and arguments: ERR_INVALID_ARGUMENT naming the field, nothing changed', async () => {
  const bad: [Promise<unknown>, string][] = [
    [Stack.create({ memoryLimit: 1.5 }), 'memoryLimit'],
    [Stack.create({ maxConnections: Number.NaN }), 'maxConnections'],
    [Stack.create({ tcp: { sendBuffer: 100 } }), 'tcp.sendBuffer'],
    [Stack.create({ tcp: { window: 16 << 20 } }), 'tcp.window'],
  ];
  for (const [promise, field] of bad) {
    const e = await promise.then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(invalid(field)(e), `${field}: ${String(e)}`);
  }
  const p = await served();
  const before = p.b.stats().handles;
  const fn = () => {};
  assert.throws(() => p.b.listen({ port: 81, backlog: 256 }, fn), invalid('backlog'));
  assert.throws(() => p.b.listen({ port: 81, backlog: 1.5 }, fn), invalid('backlog'));
  assert.throws(() => p.b.listen({ port: 81 }, 'x' as never), invalid('onConnection'));
  assert.throws(() => p.b.listen({ port: 81, onSyn: 1 as never }, fn), invalid('onSyn'));
  assert.throws(() => p.b.listen({ port: 81, address: 'nope' }, fn), invalid('address'));
  assert.throws(
    () => p.b.listen({ port: 81, address: '10.0.0.2', transparent: true }, fn),
    invalid('address'),
  );
  assert.throws(() => p.b.listen(undefined as never, fn), invalid('port'));
  assert.throws(() => p.a.connect(null as never), invalid('options'));
  assert.throws(() => p.a.connect({ address: '10.0.0.2', port: 1.5 }), invalid('port'));
  assert.throws(
    () => p.a.connect({ address: '10.0.0.2', port: 80, localPort: -1 }),
    invalid('localPort'),
  );
  assert.throws(
    () => p.a.connect({ address: '10.0.0.2', port: 80, localAddress: 'fd00::1' }),
    invalid('localAddress'),
  );
  assert.throws(() => p.a.setLimits({ memoryLimit: -1 }), invalid('memoryLimit'));
  assert.throws(() => p.ia.inputMany('x' as never), invalid('packets'));
  assert.throws(() => p.ia.inputMany([new Uint8Array(1), 'x' as never]), invalid('packets[1]'));
  assert.throws(() => p.ia.onOutput(5 as never), invalid('receiver'));
  assert.throws(() => p.ia.addTap(5 as never), invalid('tap'));
  assert.throws(() => linkInterfaces(p.ia, p.ia), invalid('b'));
  assert.throws(() => linkInterfaces(p.ia, p.ib, { batch: 0 }), invalid('batch'));
  assert.is(p.b.stats().handles, before, 'refused calls created nothing');
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => c.active, 'the stacks still work');
  assert.throws(() => c.write('text' as never), invalid('data'));
  assert.throws(() => c.setRecvEnabled(1 as never), invalid('enabled'));
  // Garbage packets are dropped and counted, never thrown.
  const dropped = p.b.stats().packets.inDropped;
  p.ib.inputMany([new Uint8Array(0), new Uint8Array(3), new Uint8Array(70_000)]);
  assert.ok(p.b.stats().packets.inDropped > dropped);
  p.close();
});

test('held SYN answered twice or after it expired: later answers are no-ops', async () => {
  const p = await pair();
  const held: HeldSyn[] = [];
  const accepted: TcpConnection[] = [];
  p.b.listen({ port: 80, onSyn: (s) => held.push(s) }, (c) => {
    accepted.push(c);
    c.markActive();
  });
  const c1 = p.a.connect({ address: '10.0.0.2', port: 80 });
  const c2 = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => held.length === 2, 'two held SYNs');
  const [h1, h2] = held as [HeldSyn, HeldSyn];
  h1.accept();
  h1.accept();
  h1.refuse();
  h1.drop();
  assert.is(h1.state, 'accepted');
  await until(p.clock, () => c1.active && accepted.length === 1, 'accepted once');
  let expired = 0;
  h2.on('expired', () => expired++);
  await until(p.clock, () => h2.state === 'expired', 'the second expires', 60_000);
  h2.accept();
  h2.refuse();
  assert.is(expired, 1);
  await until(p.clock, () => !c2.alive, 'its client gives up', 60_000);
  assert.is(c2.error?.code, 'ETIMEDOUT');
  assert.is(accepted.length, 1);
  p.close();
});

test('re-entrant calls inside callbacks: connect, abort, write and listen from event handlers keep events in order', async () => {
  const p = await pair();
  const order: string[] = [];
  let round = 0;
  p.b.listen({ port: 80 }, (s) => {
    s.markActive();
    s.on('readable', (d) => {
      order.push(`s:readable:${d.length}`);
      s.write(d); // echo from inside the delivery
      s.abort(); // ...then abort in the same callback
      assert.is(s.write(d), 0, 'write after abort in the same callback is a no-op');
      // A new listener from inside a callback.
      if (round === 0)
        p.b.listen({ port: 81 }, (t) => {
          t.markActive();
          t.on('readEOF', () => t.gracefulClose());
        });
    });
    s.on('terminated', (r) => order.push(`s:terminated:${r}`));
  });
  const open = () => {
    const c = p.a.connect({ address: '10.0.0.2', port: round === 0 ? 80 : 81 });
    c.on('becameActive', () => {
      order.push(`c${round}:active`);
      if (round === 0) c.write(new Uint8Array(5));
      else c.gracefulClose(); // close from inside becameActive
    });
    c.on('terminated', (r, e) => {
      order.push(`c${round}:terminated:${r}:${e?.code}`);
      round++;
      if (round < 2) open(); // connect again from inside terminated
    });
    return c;
  };
  open();
  await until(p.clock, () => round === 2, 'two rounds');
  assert.equal(order, [
    'c0:active',
    's:readable:5',
    's:terminated:abort',
    'c0:terminated:reset:ECONNRESET',
    'c1:active',
    'c1:terminated:close:undefined',
  ]);
  p.close();
});

test('re-entrant stack.close() from a connection event, an output receiver and a fatal handler', async () => {
  // From becameActive.
  let p = await pair();
  p.b.listen({ port: 80 }, (s) => s.markActive());
  let c = p.a.connect({ address: '10.0.0.2', port: 80 });
  let log = record(c);
  c.on('becameActive', () => p.a.close());
  await p.clock.advance(1_000);
  assert.equal(log, ['becameActive', 'terminated:destroyed:ERR_STACK_CLOSED']);
  p.close();
  // From an output receiver, in the middle of a batch.
  p = await pair({ link: false });
  let batches = 0;
  p.ia.onOutput(() => {
    batches++;
    p.a.close();
  });
  c = p.a.connect({ address: '10.0.0.2', port: 80 });
  log = record(c);
  const c2 = p.a.connect({ address: '10.0.0.2', port: 81 });
  await p.clock.advance(10_000);
  assert.is(batches, 1);
  assert.equal(log, ['terminated:destroyed:ERR_STACK_CLOSED']);
  assert.is(c2.alive, false);
  p.close();
  // From a fatal handler: closing again and creating a new stack both work.
  const clock = new VirtualClock();
  const s = await Stack.create({ clock });
  let replacement: Stack | undefined;
  s.on('fatal', () => {
    s.close();
    void Stack.create({ clock }).then((n) => (replacement = n));
  });
  const internal = s as unknown as {
    call(op: string, fn: (x: { lw_debug_fail(): void }) => void): void;
  };
  assert.throws(() => internal.call('test', (x) => x.lw_debug_fail()), code('ERR_STACK_FAILED'));
  await until(clock, () => replacement !== undefined, 'a new stack');
  replacement!.addInterface({ ipv4: '10.0.0.1/24' });
  replacement!.close();
});

test('a callback that throws: the error surfaces asynchronously, delivery to others goes on', async () => {
  const thrown: unknown[] = [];
  const onError = (e: unknown) => thrown.push(e);
  process.on('uncaughtException', onError);
  try {
    const p = await pair();
    const got: number[] = [];
    p.b.listen({ port: 80 }, (s) => {
      s.markActive();
      s.on('readable', () => {
        throw new Error('user bug');
      });
      s.on('readable', (d) => got.push(d.length));
    });
    const c = p.a.connect({ address: '10.0.0.2', port: 80 });
    c.on('becameActive', () => {
      c.write(new Uint8Array(3));
      c.write(new Uint8Array(4));
    });
    await until(
      p.clock,
      () => got.reduce((a, b) => a + b, 0) === 7,
      'all bytes to the good listener',
    );
    await p.clock.advance(100);
    assert.ok(thrown.length >= 1 && thrown.every((e) => (e as Error).message === 'user bug'));
    p.close();
  } finally {
    process.off('uncaughtException', onError);
  }
});

/** A server whose first 'readable' handler runs `act`; records what it gets after. */
async function afterFirstChunk(act: (s: TcpConnection, p: Pair) => void) {
  const p = await pair();
  const after: string[] = [];
  let s: TcpConnection | undefined;
  p.b.listen({ port: 80 }, (c) => {
    s = c;
    c.on('readable', (d) => {
      if (after.length === 0 && !after.includes('acted')) {
        after.push('acted');
        act(c, p);
        return;
      }
      after.push(`readable:${d.length}`);
    });
    c.on('terminated', (r, e) => after.push(`terminated:${r}:${e?.code ?? ''}`));
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => c.active && s !== undefined, 'connected');
  c.setNoDelay(true);
  // Five segments that arrive in one batch, delivered by one WASM call.
  for (let i = 0; i < 5; i++) c.write(bytes(1000, i + 1));
  await p.clock.settle();
  s!.markActive();
  await p.clock.advance(3_000);
  p.close();
  return after;
}

test('gracefulClose() inside readable: no more data is delivered (as documented)', async () => {
  const after = await afterFirstChunk((s) => s.gracefulClose());
  assert.not.ok(
    after.some((e) => e.startsWith('readable')),
    `events after gracefulClose: ${after.join(', ')}`,
  );
});

test('setRecvEnabled(false) inside readable: delivery pauses at once and resumes with the rest', async () => {
  let paused: TcpConnection | undefined;
  const after = await afterFirstChunk((s) => {
    s.setRecvEnabled(false);
    paused = s;
  });
  assert.ok(paused);
  assert.not.ok(
    after.some((e) => e.startsWith('readable')),
    `events while paused: ${after.join(', ')}`,
  );
});

test('setRecvEnabled(true) after a pause inside readable: the held chunks come first, in order, then the FIN', async () => {
  const p = await pair();
  const got: Uint8Array[] = [];
  const events: string[] = [];
  let s: TcpConnection | undefined;
  p.b.listen({ port: 80 }, (c) => {
    s = c;
    c.on('readable', (d) => {
      got.push(d);
      events.push('data');
      if (got.length === 1) c.setRecvEnabled(false);
    });
    c.on('readEOF', () => events.push('eof'));
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 80 });
  await until(p.clock, () => c.active && s !== undefined, 'connected');
  c.setNoDelay(true);
  const sent = [1, 2, 3, 4, 5].map((i) => bytes(1000, i));
  for (const chunk of sent) c.write(chunk);
  c.shutdownWrite();
  await p.clock.settle();
  s!.markActive();
  await p.clock.advance(3_000);
  assert.equal(events, ['data'], 'one chunk, then the pause holds the rest and the FIN');
  s!.setRecvEnabled(true);
  await until(p.clock, () => events.includes('eof'), 'the FIN after the held chunks');
  assert.is(events.at(-1), 'eof');
  assert.is(sha256(concat(got)), sha256(concat(sent)));
  p.close();
});

test('stack.close() inside readable: the next event of the connection is its termination', async () => {
  const after = await afterFirstChunk((_s, p) => p.b.close());
  assert.equal(after, ['acted', 'terminated:destroyed:ERR_STACK_CLOSED']);
});

test.run();
