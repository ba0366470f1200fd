/**
 * The direct dialer and the translation of dial failures into answers to
 * the client's SYN: a refusing port is 'refuse'; a listener whose accept
 * queue is full (its process stopped) never answers, so the dial times out
 * and the SYN is dropped. Everything is on 127.0.0.1; the stopped listener
 * is a child process this test starts and kills by PID.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { DialError, directDialer, synAnswerFor, type RejectedFlow } from '../../src/proxy/index.js';
import { borrowedReads } from '../../src/proxy/dialer.js';
import { GATEWAY4, cleanup, closedPort, proxyNet, track, within } from './helpers.js';

const test = suite('proxy dialer');
test.after.each(cleanup);

const signal = () => new AbortController().signal;

test('a closed port: ECONNREFUSED, answered with refuse', async () => {
  const port = await closedPort();
  const error = await directDialer()
    .dial({ host: '127.0.0.1', port }, signal())
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.is((error as { code?: string }).code, 'ECONNREFUSED');
  assert.is(synAnswerFor(error), 'refuse');
});

test('answers: DialError says it itself; unreachable, timeouts and unknown errors drop', () => {
  assert.is(synAnswerFor(new DialError('X', 'x', 'refuse')), 'refuse');
  assert.is(synAnswerFor(new DialError('ECONNREFUSED', 'x', 'drop')), 'drop');
  for (const code of ['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EACCES', undefined])
    assert.is(synAnswerFor(Object.assign(new Error('x'), { code })), 'drop', String(code));
  assert.is(synAnswerFor(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'refuse');
});

test('the direct dialer borrows reads: early bytes are kept, then chunks go to the sink, no data events', async () => {
  const server = createServer((s) => {
    s.write('hello '); // before the sink is set
    setTimeout(() => s.end('world'), 50);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const socket = await directDialer().dial({ host: '127.0.0.1', port }, signal());
    const reads = borrowedReads(socket);
    assert.ok(reads, 'a borrowed-reads socket');
    let dataEvents = 0;
    socket.on('data', () => dataEvents++);
    const until = Date.now() + 2000;
    while (reads!.early.length === 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 5));
    const got: string[] = reads!.early.splice(0).map((c) => Buffer.from(c).toString());
    let shared: ArrayBufferLike | undefined;
    reads!.sink = (chunk) => {
      shared ??= chunk.buffer;
      assert.is(chunk.buffer, shared, 'every chunk is a view of the same buffer');
      got.push(Buffer.from(chunk).toString());
    };
    const ended = new Promise((r) => socket.once('end', r));
    socket.resume();
    await within(2000, ended, "the socket's end");
    socket.destroy();
    assert.is(got.join(''), 'hello world');
    assert.is(dataEvents, 0);
  } finally {
    server.close();
  }
});

test('an aborted dial rejects with the reason and leaves no socket', async () => {
  const controller = new AbortController();
  const reason = new DialError('ECANCELED', 'stop', 'drop');
  controller.abort(reason);
  const error = await directDialer()
    .dial({ host: '127.0.0.1', port: 9 }, controller.signal)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.is(error, reason);
});

/** A listener on 127.0.0.1 with backlog 1 in a child process, then stopped (SIGSTOP). */
async function stoppedListener(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "require('net').createServer().listen({port:0,host:'127.0.0.1',backlog:1},function(){console.log(this.address().port)})",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  track(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(child.pid, 'SIGKILL');
  });
  const port = await within(
    10_000,
    new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (code) => reject(new Error(`listener exited (${code})`)));
    }),
    'the listener child',
  );
  process.kill(child.pid!, 'SIGSTOP');
  return { port, child };
}

test('a listener that never accepts: the dial times out and the SYN is dropped', async () => {
  const { port } = await stoppedListener();
  // Fill its accept queue: connections complete until it is full, then SYNs go unanswered.
  const fillers: Socket[] = [];
  track(() => fillers.forEach((s) => s.destroy()));
  let timedOut = false;
  for (let i = 0; i < 8 && !timedOut; i++) {
    const result = await directDialer()
      .dial({ host: '127.0.0.1', port }, AbortSignal.timeout(500))
      .then(
        (s) => (fillers.push(s), s.on('error', () => {}), 'connected'),
        (e: unknown) => (e as { name?: string }).name ?? 'error',
      );
    timedOut = result === 'TimeoutError';
  }
  assert.ok(timedOut, `the accept queue filled up after ${fillers.length} connections`);

  const n = await proxyNet({ dialTimeoutMs: 300 });
  const rejected = new Promise<RejectedFlow>((resolve) => n.proxy.once('rejected', resolve));
  const back: number[] = [];
  n.clientIface.addTap((p, dir) => dir === 'in' && back.push(p.length));
  const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap');
  const before = sockets().length;
  const c = n.client.connect({ address: GATEWAY4, port });
  const r = await within(5000, rejected, 'the dial timeout');
  assert.equal([r.answer, r.why], ['drop', 'ETIMEDOUT']);
  // Its handle closes on a later turn of the event loop.
  for (let turns = 0; sockets().length > before && turns < 100; turns++)
    await new Promise((resolve) => setImmediate(resolve));
  assert.is(sockets().length, before, 'the socket of the abandoned dial is closed');
  assert.equal(back, [], 'the client got no answer at all');
  assert.is(c.info().state, 'SYN_SENT');
  assert.is(n.proxy.stats().dropped, 1);
  c.abort();
});

test.run();
