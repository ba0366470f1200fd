/**
 * Web streams over a connection (connection.streams): an echo through
 * ReadableStream/WritableStream, byte backpressure that pauses delivery, and
 * FIN/abort mapping. Virtual clock: the streams are event-driven.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpConnection } from '../../src/index.js';
import { bytes, concat, pair, sha256, until } from '../helpers/net.js';

const test = suite('web streams');

test('echo through ReadableStream / WritableStream; close() is a FIN', async () => {
  const p = await pair();
  p.b.listen({ port: 7 }, (c) => {
    c.markActive();
    void c.streams.readable.pipeTo(c.streams.writable);
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 7 });
  const data = bytes(3 << 20);
  const writer = c.streams.writable.getWriter();
  const sent = (async () => {
    await writer.write(data);
    await writer.close();
  })();
  const chunks: Uint8Array[] = [];
  let done = false;
  void (async () => {
    const reader = c.streams.readable.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    done = true;
  })();
  await until(p.clock, () => done, 'the echo ends with the peer FIN');
  await sent;
  assert.is(sha256(concat(chunks)), sha256(data));
  p.close();
});

test('a reader that does not read pauses delivery (setRecvEnabled) and resumes on pull', async () => {
  const p = await pair();
  let server: TcpConnection | undefined;
  p.b.listen({ port: 7 }, (c) => {
    server = c;
    void c.streams; // streams created before any data, so nothing is missed
    c.markActive();
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 7 });
  const data = bytes(4 << 20);
  const writer = c.streams.writable.getWriter();
  let written = false;
  void writer.write(data).then(() => (written = true));
  await until(p.clock, () => server !== undefined, 'accepted');
  const reader = server!.streams.readable.getReader(); // locked, nothing read yet
  await p.clock.advance(2_000);
  assert.is(server!.recvEnabled, false, 'delivery paused by the full queue');
  assert.is(written, false, 'the writer is held back');
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total < data.length) {
    const r = reader.read();
    await until(p.clock, () => true, 'turn');
    const { value } = await r;
    chunks.push(value!);
    total += value!.length;
  }
  assert.is(sha256(concat(chunks)), sha256(data));
  await until(p.clock, () => written, 'the write completed');
  p.close();
});

test('a reset errors the readable side; abort() resets the peer', async () => {
  const p = await pair();
  let server: TcpConnection | undefined;
  p.b.listen({ port: 7 }, (c) => {
    server = c;
    void c.streams;
    c.markActive();
  });
  const c = p.a.connect({ address: '10.0.0.2', port: 7 });
  await until(p.clock, () => c.active && server !== undefined, 'connected');
  const reading = server!.streams.readable
    .getReader()
    .read()
    .then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
  await c.streams.writable.abort();
  await p.clock.settle();
  const error = await reading;
  assert.is(error?.code, 'ECONNRESET');
  p.close();
});

test.run();
