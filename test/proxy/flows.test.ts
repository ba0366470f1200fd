/**
 * TransparentProxy, one rule per test: flows set up the way the destination
 * answers (connected, refused, no answer), bytes arrive intact both ways,
 * half-close and reset propagate, and the policy, the flow limit, the idle
 * timeout and shutdown do what they say. A client stack dials the gateway
 * address through the proxy stack; the proxy maps it to a loopback server.
 * Nothing here dials anything but 127.0.0.1 and ::1.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpConnection } from '../../src/index.js';
import type { Dialer, RejectedFlow, Relay, RelaySummary } from '../../src/proxy/index.js';
import {
  GATEWAY4,
  GATEWAY6,
  bytes,
  cleanup,
  closedPort,
  collect,
  drain,
  ended,
  loopbackServer,
  proxyNet,
  record,
  sha256,
  within,
  writeAll,
  writeSocket,
} from './helpers.js';

const test = suite('proxy flows');
test.after.each(cleanup);
const text = (s: string) => new TextEncoder().encode(s);
const MiB = 1 << 20;

for (const [family, gateway, host] of [
  ['IPv4', GATEWAY4, '127.0.0.1'],
  ['IPv6', GATEWAY6, '::1'],
] as const) {
  test(`bytes arrive intact both ways at once (sha256 of 4 MiB each way, ${family})`, async () => {
    const n = await proxyNet();
    const up = bytes(4 * MiB, 11);
    const down = bytes(4 * MiB, 12);
    const server = await loopbackServer((socket) => {
      void writeSocket(socket, down).then((ok) => ok && socket.end());
    }, host);
    const serverGot = server.nextSocket().then(drain);
    const flows: Relay[] = [];
    n.proxy.on('flow', (r) => flows.push(r));
    const c = n.client.connect({ address: gateway, port: server.port });
    const got = collect(c);
    writeAll(c, up, () => c.shutdownWrite());
    assert.is(await within(30_000, ended(c), 'the client connection to close'), 'close');
    const s = await within(10_000, serverGot, 'the server socket to close');
    assert.ok(s.ended, 'the server saw the FIN');
    assert.is(s.data.length, up.length);
    assert.is(sha256(s.data), sha256(up), 'client -> upstream intact');
    assert.ok(got.eof());
    assert.is(got.length(), down.length);
    assert.is(sha256(got.bytes()), sha256(down), 'upstream -> client intact');
    assert.is(flows.length, 1);
    assert.is(flows[0]!.destination.address, gateway, 'the relay knows the original destination');
    assert.is(flows[0]!.destination.port, server.port);
    const st = n.proxy.stats();
    assert.is(st.bytesUp, up.length);
    assert.is(st.bytesDown, down.length);
    assert.is(st.flowsTotal, 1);
    await server.close();
    await n.close();
  });

  test(`an upstream that refuses is "connection refused" for the client (${family})`, async () => {
    const n = await proxyNet();
    const port = await closedPort(host);
    const rejected: RejectedFlow[] = [];
    n.proxy.on('rejected', (r) => rejected.push(r));
    const c = n.client.connect({ address: gateway, port });
    const log = record(c);
    await within(10_000, ended(c), 'the refusal');
    assert.equal(log, ['terminated:reset:ECONNREFUSED'], 'an RST answers the SYN: no handshake');
    assert.is(rejected.length, 1);
    assert.is(rejected[0]!.answer, 'refuse');
    assert.is(rejected[0]!.why, 'ECONNREFUSED');
    assert.is(n.proxy.stats().refused, 1);
    assert.is(n.proxy.stats().flowsTotal, 0);
    await n.close();
  });
}

test('an upstream that never answers leaves the client without any answer', async () => {
  const never: Dialer = {
    description: 'never',
    dial: (_target, signal) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
  };
  const n = await proxyNet({ dialer: never, dialTimeoutMs: 200 });
  const toClient: string[] = [];
  n.clientIface.addTap((p, dir) => {
    if (dir === 'in') toClient.push(`${p.length}`);
  });
  const rejected = new Promise<RejectedFlow>((resolve) => n.proxy.once('rejected', resolve));
  const c = n.client.connect({ address: GATEWAY4, port: 80 });
  const r = await within(5000, rejected, 'the dial timeout');
  assert.is(r.answer, 'drop');
  assert.is(r.why, 'ETIMEDOUT');
  assert.is(n.proxy.stats().dropped, 1);
  assert.equal(toClient, [], 'no SYN-ACK, no RST: nothing at all came back');
  assert.ok(c.alive && !c.active, 'the client is still waiting for an answer (SYN-SENT)');
  assert.is(c.info().state, 'SYN_SENT');
  c.abort();
  await n.close();
});

test('half-close, client first: the request FIN reaches the upstream, the answer comes back', async () => {
  const n = await proxyNet();
  const server = await loopbackServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => socket.end(`got ${Buffer.concat(chunks).toString()}`));
  });
  const summaries: RelaySummary[] = [];
  n.proxy.on('flowClosed', (s) => summaries.push(s));
  const c = n.client.connect({ address: GATEWAY4, port: server.port });
  const got = collect(c);
  c.on('becameActive', () => {
    c.write(text('request'));
    c.shutdownWrite();
  });
  assert.is(await within(10_000, ended(c), 'close'), 'close');
  assert.is(new TextDecoder().decode(got.bytes()), 'got request');
  assert.ok(got.eof());
  await within(5000, waitFlowClosed(n.proxy, summaries), 'the relay to finish');
  assert.is(summaries[0]!.outcome, 'closed');
  await server.close();
  await n.close();
});

test('half-close, upstream first: the client reads EOF and can still send', async () => {
  const n = await proxyNet();
  const server = await loopbackServer((socket) => socket.end('hello, then FIN'));
  const serverGot = server.nextSocket().then(drain);
  const c = n.client.connect({ address: GATEWAY4, port: server.port });
  const got = collect(c);
  const eof = new Promise<void>((resolve) => c.on('readEOF', resolve));
  await within(10_000, eof, 'readEOF at the client');
  assert.is(new TextDecoder().decode(got.bytes()), 'hello, then FIN');
  assert.ok(c.alive, 'half-closed, not closed');
  assert.is(c.write(text('still talking')), 13);
  c.shutdownWrite();
  const s = await within(10_000, serverGot, 'the upstream to close');
  assert.is(s.data.toString(), 'still talking', 'data after the upstream FIN arrived');
  assert.ok(s.ended);
  assert.is(await within(10_000, ended(c), 'close'), 'close');
  await server.close();
  await n.close();
});

test('resets propagate: client abort resets the upstream, upstream reset resets the client', async () => {
  const n = await proxyNet();
  const server = await loopbackServer();
  // Client aborts.
  const c1 = n.client.connect({ address: GATEWAY4, port: server.port });
  const s1 = await within(10_000, server.nextSocket(), 'first upstream connection');
  const s1End = drain(s1);
  await within(5000, activeSoon(c1), 'client 1 active');
  c1.abort();
  const r1 = await within(5000, s1End, 'upstream 1 to close');
  assert.is(r1.error, 'ECONNRESET', 'the upstream got a reset, not a FIN');
  // Upstream resets.
  const c2 = n.client.connect({ address: GATEWAY4, port: server.port });
  const s2 = await within(10_000, server.nextSocket(), 'second upstream connection');
  await within(5000, activeSoon(c2), 'client 2 active');
  s2.resetAndDestroy();
  assert.is(await within(5000, ended(c2), 'client 2 reset'), 'reset:ECONNRESET');
  await server.close();
  await n.close();
});

test('a denied destination is refused without dialling', async () => {
  const dialled: string[] = [];
  const recording: Dialer = {
    description: 'recording',
    dial: (t) => (dialled.push(t.host), Promise.reject(new Error('unexpected dial'))),
  };
  const n = await proxyNet({
    dialer: recording,
    policy: { map: [`${GATEWAY4}=127.0.0.1`], deny: ['10.0.2.0/24'] },
  });
  const c = n.client.connect({ address: GATEWAY4, port: 80 });
  assert.is(await within(5000, ended(c), 'refusal'), 'reset:ECONNREFUSED');
  assert.equal(dialled, []);
  assert.is(n.proxy.stats().denied, 1);
  await n.close();
});

test('maxFlows: flows beyond the limit are refused; a freed slot is reused', async () => {
  const n = await proxyNet({ maxFlows: 2 });
  const server = await loopbackServer();
  const a = n.client.connect({ address: GATEWAY4, port: server.port });
  const b = n.client.connect({ address: GATEWAY4, port: server.port });
  await within(10_000, Promise.all([activeSoon(a), activeSoon(b)]), 'two flows');
  const c = n.client.connect({ address: GATEWAY4, port: server.port });
  assert.is(await within(5000, ended(c), 'the third flow'), 'reset:ECONNREFUSED');
  assert.is(n.proxy.stats().overLimit, 1);
  const closed = new Promise((resolve) => n.proxy.once('flowClosed', resolve));
  a.abort();
  await within(5000, closed, 'flow a to finish');
  const d = n.client.connect({ address: GATEWAY4, port: server.port });
  await within(10_000, activeSoon(d), 'a new flow in the freed slot');
  assert.is(n.proxy.stats().flowsActive, 2);
  assert.is(n.proxy.flowCount, 2, 'two relaying, none dialing');
  await server.close();
  await n.close();
});

test('idle timeout: a silent flow is reset both ways while a busy one lives on', async () => {
  const idleMs = 300;
  const n = await proxyNet({ idleTimeoutMs: idleMs });
  const server = await loopbackServer((socket) =>
    socket.on('data', (d: Buffer) => socket.write(d)),
  );
  const upstreamSilent = server.nextSocket().then(drain);
  const idleClosed = new Promise<RelaySummary>((resolve) =>
    n.proxy.on('flowClosed', (s) => s.outcome === 'idle' && resolve(s)),
  );
  const silent = n.client.connect({ address: GATEWAY4, port: server.port });
  await within(10_000, activeSoon(silent), 'silent flow');
  const t0 = performance.now();
  const silentEnd = ended(silent);
  // Busy: ping-pong (echoed by the upstream) until the silent flow is gone.
  const busy = n.client.connect({ address: GATEWAY4, port: server.port });
  let silentGone = false;
  let rounds = 0;
  void silentEnd.then(() => (silentGone = true));
  const pingPong = new Promise<void>((resolve) => {
    busy.on('readable', () => {
      rounds++;
      if (silentGone) resolve();
      else busy.write(text('p'));
    });
    busy.on('becameActive', () => busy.write(text('p')));
  });
  assert.is(await within(5000, silentEnd, 'idle reset'), 'reset:ECONNRESET');
  assert.ok(performance.now() - t0 >= idleMs * 0.9, 'not before the idle time');
  assert.is((await within(5000, upstreamSilent, 'upstream close')).error, 'ECONNRESET');
  await within(5000, pingPong, 'ping-pong');
  assert.ok(busy.alive, `the busy flow lives on after ${rounds} rounds`);
  assert.ok(rounds > 10, `it really was busy (${rounds} rounds)`);
  const summary = await within(5000, idleClosed, 'the idle flow summary');
  assert.is(summary.client.port, silent.local.port, 'the silent flow, not the busy one');
  assert.is(n.proxy.stats().idleClosed, 1);
  busy.abort();
  await server.close();
  await n.close();
});

test('shutdown: FIN both ways, flows that do not finish are reset at the deadline', async () => {
  const n = await proxyNet();
  const server = await loopbackServer();
  const accepted = Promise.all([server.nextSocket(), server.nextSocket()]);
  const polite = n.client.connect({ address: GATEWAY4, port: server.port });
  const stubborn = n.client.connect({ address: GATEWAY4, port: server.port });
  polite.on('readEOF', () => polite.gracefulClose());
  await within(10_000, Promise.all([activeSoon(polite), activeSoon(stubborn)]), 'two flows');
  const upstreams = (await within(5000, accepted, 'two upstream sockets')).map((s) => {
    // The upstreams close when they see our FIN.
    s.on('end', () => s.end());
    return drain(s);
  });
  const summaries: RelaySummary[] = [];
  n.proxy.on('flowClosed', (s) => summaries.push(s));
  const stubbornEOF = new Promise<void>((resolve) => stubborn.on('readEOF', resolve));
  await within(10_000, n.proxy.shutdown({ timeoutMs: 500 }), 'shutdown');
  assert.is(n.proxy.state, 'stopped');
  await stubbornEOF;
  assert.is(await ended(polite), 'close');
  assert.is(await within(5000, ended(stubborn), 'stubborn'), 'reset:ECONNRESET');
  assert.equal(summaries.map((s) => s.outcome).sort(), ['aborted', 'closed']);
  for (const u of await Promise.all(upstreams)) assert.ok(u.ended, 'each upstream saw a FIN');
  assert.is(n.proxy.stats().flowsActive, 0);
  assert.is(n.proxy.flowCount, 0);
  assert.is(n.proxyStack.stats().connections, 0, 'no connection left in the proxy stack');
  await server.close();
  await n.close();
});

/** Resolves when the connection is active (or rejects if it ends first). */
function activeSoon(c: TcpConnection): Promise<void> {
  if (c.active) return Promise.resolve();
  return new Promise((resolve, reject) => {
    c.on('becameActive', resolve);
    c.on('terminated', (r, e) => reject(new Error(`ended before active: ${r} ${e?.code ?? ''}`)));
  });
}

function waitFlowClosed(
  proxy: { once(e: 'flowClosed', f: () => void): unknown },
  seen: unknown[],
): Promise<void> {
  if (seen.length > 0) return Promise.resolve();
  return new Promise((resolve) => proxy.once('flowClosed', () => resolve()));
}

test.run();
