/**
 * Socket options of the three watcher option types (TcpAcceptOption,
 * TcpConnectOption, TcpConnectionOption): each path reaches the connection,
 * seen in TcpConnection.info(), and the send buffer size bounds what
 * trySend takes while the receiver reads nothing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Stack, TcpConnection, TcpConnectionInfo } from '../../src/index.js';
import {
  createTcpConnectWatcher,
  ipEndpoint,
  watchStats,
  type TcpSocketOptions,
  type TcpStream,
} from '../../src/watch/index.js';
import { bytes, pair, until, type Pair } from '../helpers/net.js';
import { acceptOn, connectTo, streamPair, watch } from './helpers.js';

const test = suite('watch options');

const options: TcpSocketOptions = {
  tcpNoDelay: true,
  keepAlive: true,
  keepAliveIdleSec: 3,
  keepAliveIntervalSec: 2,
  keepAliveCount: 4,
  recvBufBytes: 32 * 1024,
  sendBufBytes: 16 * 1024,
};

/** What `options` must show in info(). */
const expected: Partial<TcpConnectionInfo> = {
  noDelay: true,
  keepAlive: true,
  keepAliveIdleMs: 3000,
  keepAliveIntervalMs: 2000,
  keepAliveCount: 4,
  receiveWindowSize: 32 * 1024,
  sendBufferSize: 16 * 1024,
};

/** The single live connection of a stack (each test has one per side). */
function only(stack: Stack): TcpConnection {
  const all = [...stack.connections()];
  assert.is(all.length, 1, 'one connection on this side');
  return all[0]!;
}

function shows(conn: TcpConnection, want: Partial<TcpConnectionInfo>, what: string): void {
  const info = conn.info();
  const got = Object.fromEntries(
    Object.keys(want).map((k) => [k, info[k as keyof TcpConnectionInfo]]),
  );
  assert.equal(got, want, what);
}

/** The defaults a connection has when no option is set. */
function showsDefaults(conn: TcpConnection, what: string): void {
  const info = conn.info();
  assert.is(info.keepAlive, false, `${what}: keepalive off`);
  assert.is(info.receiveWindowSize, 1 << 20, `${what}: stack-wide window`);
  assert.is(info.sendBufferSize, 1 << 20, `${what}: stack-wide send buffer`);
}

test('TcpAcceptOption: socket options reach each accepted connection', async () => {
  const p = await pair();
  await streamPair(p, options);
  shows(only(p.b), expected, 'accepted connection');
  showsDefaults(only(p.a), 'the client, which set nothing');
  assert.is(watchStats(p.b).watch.optionsSkipped, 0);
  p.close();
});

test('TcpConnectOption: socket options reach the outgoing connection', async () => {
  const p = await pair();
  const { streams } = acceptOn(p);
  await connectTo(p, '10.0.0.2', 80, options);
  await until(p.clock, () => streams.length === 1, 'accept');
  shows(only(p.a), expected, 'outgoing connection');
  showsDefaults(only(p.b), 'the server, which set nothing');
  assert.is(watchStats(p.a).watch.optionsSkipped, 0);
  p.close();
});

test('TcpConnectionOption: socket options reach the watched connection', async () => {
  const p = await pair();
  const { client } = await streamPair(p);
  showsDefaults(only(p.a), 'before the watcher');
  watch(p, 'a', client, options);
  shows(only(p.a), expected, 'watched connection');
  assert.is(watchStats(p.a).watch.optionsSkipped, 0);
  p.close();
});

const WINDOW = 4096;

test('sendBufBytes bounds what trySend takes while the receiver reads nothing', async () => {
  /** Bytes trySend accepts in total before the sender stalls, with the server never reading. */
  const acceptedWith = async (
    where: 'accept' | 'connect' | 'connection',
    sendBufBytes?: number,
  ) => {
    // A small receive window on both sides bounds what the silent reader absorbs.
    const tcp = { window: WINDOW };
    const p = await pair({ a: { tcp }, b: { tcp } });
    const set = sendBufBytes === undefined ? {} : { sendBufBytes };
    // The writer is the server side (accept option) or the client side (the others).
    const { client, server } = await streamPair(p, where === 'accept' ? set : {});
    let writerStream = where === 'accept' ? server : client;
    if (where === 'connect') {
      // Redo the client with the option on its connect watcher.
      client.close();
      server.close();
      await p.clock.settle();
      const { streams } = acceptOn(p, { localBind: ipEndpoint('0.0.0.0', 81) });
      let stream: TcpStream | undefined;
      createTcpConnectWatcher(p.a, ipEndpoint('10.0.0.2', 81), set, (s) => (stream = s)).start();
      await until(p.clock, () => stream !== undefined && streams.length === 1, 'connect');
      writerStream = stream!;
    }
    const side = where === 'accept' ? 'b' : 'a';
    // The reading side is never handed to a watcher, and its delivery is
    // off: lwIP keeps one refused segment and drops the rest unacknowledged.
    only(side === 'a' ? p.b : p.a).setRecvEnabled(false);
    const writer = watch(p, side, writerStream, where === 'connection' ? set : {});
    const data = bytes(4 << 20);
    let off = 0;
    const pump = () => {
      for (;;) {
        const r = writer.w.trySend(data.subarray(off));
        off += r.n;
        if (r.wouldBlock || r.n === 0) return;
      }
    };
    writer.log.then.sendReady = pump;
    pump();
    // Let everything that can move move: ACKs, retransmissions, window probes.
    await p.clock.advance(10_000);
    pump();
    await p.clock.advance(10_000);
    pump();
    p.close();
    return off;
  };
  const mss = 1460;
  for (const where of ['accept', 'connect', 'connection'] as const) {
    const small = await acceptedWith(where, 16 * 1024);
    const large = await acceptedWith(where, 64 * 1024);
    // The send buffer plus at most the reader's window (and a segment of slack).
    for (const [size, took] of [
      [16 * 1024, small],
      [64 * 1024, large],
    ] as const) {
      assert.ok(took >= size && took <= size + WINDOW + mss, `${where} ${size}: took ${took}`);
    }
  }
  const unset = await acceptedWith('connection');
  const small = await acceptedWith('connection', 16 * 1024);
  assert.ok(
    unset - small > 512 * 1024,
    `unset (stack-wide 1 MiB buffer) took ${unset}, 16 KiB ${small}`,
  );
});

test.run();
