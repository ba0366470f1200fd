/**
 * TcpConnection.setTransientReads / releaseRead: received chunks as pooled
 * copies. What a relay relies on: the bytes are right, memory given back is
 * reused, memory not given back is never overwritten, and misuse is a
 * typed error while calls on a terminated connection are harmless.
 * Two stacks on a memory link under a virtual clock.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StackError, type TcpConnection } from '../../src/index.js';
import { bytes, concat, pair, sha256, until, writeAll, type Pair } from '../helpers/net.js';

const test = suite('transient reads');

/** A connection from a to b's port 9 whose server side is returned once active. */
async function connected(p: Pair): Promise<{ client: TcpConnection; server: TcpConnection }> {
  let server: TcpConnection | undefined;
  p.b.listen({ port: 9 }, (c) => {
    server = c;
    c.markActive();
  });
  const client = p.a.connect({ address: '10.0.0.2', port: 9 });
  await until(p.clock, () => client.active && server !== undefined, 'the connection');
  return { client, server: server! };
}

/**
 * Sends `data` from client to server; `keep` sees each chunk the server
 * reads and returns what to keep of it. Resolves with what was kept, in order.
 */
async function transfer(
  p: Pair,
  client: TcpConnection,
  server: TcpConnection,
  data: Uint8Array,
  keep: (chunk: Uint8Array) => Uint8Array,
): Promise<Uint8Array> {
  const kept: Uint8Array[] = [];
  let total = 0;
  server.on('readable', (chunk) => {
    total += chunk.length;
    kept.push(keep(chunk));
  });
  writeAll(client, data);
  await until(p.clock, () => total === data.length, 'all data');
  return concat(kept);
}

test('chunks given back at once: every byte arrives, and the same memory carries later chunks', async () => {
  const p = await pair();
  const { client, server } = await connected(p);
  server.setTransientReads(true);
  const data = bytes(4 << 20);
  const buffers = new Set<ArrayBufferLike>();
  let chunks = 0;
  const got = await transfer(p, client, server, data, (chunk) => {
    const copy = chunk.slice();
    buffers.add(chunk.buffer);
    chunks++;
    server.releaseRead(chunk);
    return copy;
  });
  assert.is(sha256(got), sha256(data));
  // Reused slabs: far fewer distinct buffers than chunks (fresh copies: one each, or one per 256 KiB).
  assert.ok(chunks > 50, `only ${chunks} chunks`);
  assert.ok(buffers.size <= 4, `${buffers.size} distinct buffers for ${chunks} chunks`);
  p.close();
});

test('chunks kept without release are never overwritten by later ones', async () => {
  const p = await pair();
  const { client, server } = await connected(p);
  server.setTransientReads(true);
  let n = 0;
  // Every other chunk is kept (not given back) and read only at the end.
  const data = bytes(2 << 20, 11);
  const got = await transfer(p, client, server, data, (chunk) => {
    if (n++ % 2 === 0) return chunk;
    const copy = chunk.slice();
    server.releaseRead(chunk);
    return copy;
  });
  assert.is(sha256(got), sha256(data));
  p.close();
});

// Without the mode (never set, or set and cleared), chunks are fresh copies:
// giving one back is ignored and nothing is reused.
for (const [name, seed, setUp] of [
  ['without setTransientReads, chunks are never reused even when given back', 3, () => {}],
  [
    'setTransientReads(false) goes back to fresh copies',
    5,
    (server: TcpConnection) => {
      server.setTransientReads(true);
      server.setTransientReads(false);
    },
  ],
] as const) {
  test(name, async () => {
    const p = await pair();
    const { client, server } = await connected(p);
    setUp(server);
    const data = bytes(1 << 20, seed);
    const got = await transfer(p, client, server, data, (chunk) => {
      server.releaseRead(chunk); // ignored: not a transient copy
      return chunk;
    });
    assert.is(sha256(got), sha256(data));
    p.close();
  });
}

test('misuse is a typed error; calls after termination and after close are harmless', async () => {
  const p = await pair();
  const { client, server } = await connected(p);
  for (const call of [
    () => server.setTransientReads('yes' as never),
    () => server.releaseRead([1, 2] as never),
  ]) {
    try {
      call();
      assert.unreachable('no error');
    } catch (error) {
      assert.instance(error, StackError);
      assert.is((error as StackError).code, 'ERR_INVALID_ARGUMENT');
    }
  }
  server.setTransientReads(true);
  let last: Uint8Array | undefined;
  server.on('readable', (chunk) => (last = chunk));
  client.write(bytes(100));
  await until(p.clock, () => last !== undefined, 'a chunk');
  client.abort();
  await until(p.clock, () => !server.alive, 'the reset');
  server.setTransientReads(true);
  server.releaseRead(last!);
  p.close();
  server.releaseRead(new Uint8Array(4));
  assert.is(last!.length, 100);
});

test.run();
