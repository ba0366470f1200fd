/**
 * The JavaScript half of the TUN bridge over a fake addon, so it runs
 * anywhere (no root, no kernel): write() queueing when the kernel takes
 * only part of a batch, the writable hand-back, the queue limit, read
 * failures, and attachTun moving packets between a device and a real
 * stack (lwIP answers an ICMP echo written "by the kernel").
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Stack } from '../../src/index.js';
import { StackError } from '../../src/stack/errors.js';
import { attachTun } from '../../src/tun/attach.js';
import { TunDevice } from '../../src/tun/device.js';
import type { TunCallback, TunHandle, TunNative } from '../../src/tun/native.js';
import { echoReplySeq, echoRequest } from './icmp.js';

const test = suite('tun plumbing');

/** A stand-in for tun.node: records writes and polls; the test plays the kernel. */
class FakeNative implements TunNative {
  /** Packets the "kernel" takes per write call before saying EAGAIN. */
  accept = Infinity;
  written: Uint8Array[] = [];
  polls: string[] = [];
  callback: TunCallback | undefined;
  closed = false;

  open(): [TunHandle, string] {
    return [{} as TunHandle, 'fake0'];
  }
  configure(): number {
    return 1500;
  }
  poll(_h: TunHandle, readable: boolean, writable: boolean, cb: TunCallback | undefined): void {
    this.polls.push(`${readable ? 'r' : '-'}${writable ? 'w' : '-'}`);
    this.callback = cb;
  }
  read(): Uint8Array[] {
    return [];
  }
  write(_h: TunHandle, packets: readonly Uint8Array[], start: number): number {
    const n = Math.min(this.accept, packets.length - start);
    // The kernel copies what it takes: so do we (attachTun's packets are pooled).
    for (let i = start; i < start + n; i++) this.written.push(packets[i]!.slice());
    return n;
  }
  stats(): [number, number] {
    return [0, 0];
  }
  close(): void {
    this.closed = true;
  }
}

function device(fake: FakeNative, maxQueued = 4096): TunDevice {
  return new TunDevice(fake, {} as TunHandle, {
    name: 'fake0',
    mtu: 1500,
    multiQueue: false,
    offload: false,
    readBatch: 256,
    maxQueued,
  });
}

const pk = (n: number) => new Uint8Array([0x45, n]);
const tags = (ps: Uint8Array[]) => ps.map((p) => p[1]);

test('a short write queues the rest in order until the device is writable', () => {
  const fake = new FakeNative();
  const d = device(fake);
  fake.accept = 2;
  d.write([pk(1), pk(2), pk(3), pk(4)]);
  assert.equal(tags(fake.written), [1, 2]);
  assert.equal(fake.polls, ['-w'], 'asks for writability');
  d.write([pk(5)]); // queued behind, never ahead of, 3 and 4
  assert.equal(tags(fake.written), [1, 2]);
  assert.is(d.counters.queued, 3);
  fake.accept = Infinity;
  fake.callback!(1, undefined);
  assert.equal(tags(fake.written), [1, 2, 3, 4, 5]);
  assert.equal(fake.polls, ['-w', '--'], 'stops asking once drained');
  assert.equal(d.counters, {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 5,
    bytesOut: 10,
    writeDropped: 0,
    writeErrors: 0,
    queued: 0,
  });
  d.close();
  assert.ok(fake.closed);
});

test('past maxQueued, write() drops and counts', () => {
  const fake = new FakeNative();
  const d = device(fake, 2);
  fake.accept = 0;
  d.write([pk(1), pk(2), pk(3), pk(4), pk(5)]);
  assert.is(d.counters.queued, 2);
  assert.is(d.counters.writeDropped, 3);
  fake.accept = Infinity;
  fake.callback!(1, undefined);
  assert.equal(tags(fake.written), [1, 2]);
  d.close();
});

test('onPackets starts and stops reading; packets are counted', () => {
  const fake = new FakeNative();
  const d = device(fake);
  const got: Uint8Array[] = [];
  d.onPackets((ps) => got.push(...ps));
  assert.equal(fake.polls, ['r-']);
  fake.callback!(0, [pk(1), new Uint8Array(100)]);
  assert.equal(tags(got), [1, 0]);
  assert.is(d.counters.packetsIn, 2);
  assert.is(d.counters.bytesIn, 102);
  d.onPackets(undefined);
  assert.equal(fake.polls, ['r-', '--']);
  assert.throws(
    () => d.onPackets(42 as never),
    (e: unknown) => e instanceof StackError,
  );
  d.close();
  assert.throws(
    () => d.onPackets(() => {}),
    (e: unknown) => e instanceof StackError && e.code === 'ERR_TUN_CLOSED',
  );
});

test('a read failure reaches onError as a StackError keeping the errno name', () => {
  const fake = new FakeNative();
  const d = device(fake);
  const errors: StackError[] = [];
  d.onError((e) => errors.push(e));
  d.onPackets(() => {});
  const native = Object.assign(new Error('read: File descriptor in bad state'), {
    code: 'EBADFD',
    errno: 77,
  });
  fake.callback!(2, native);
  assert.is(errors.length, 1);
  assert.is(errors[0]!.code, 'EBADFD');
  assert.is(errors[0]!.errno, 77);
  assert.is(errors[0]!.cause, native);
  d.close();
});

test('attachTun: lwIP answers an echo request arriving from the device', async () => {
  const fake = new FakeNative();
  const d = device(fake);
  const stack = await Stack.create();
  const iface = stack.addInterface({ ipv4: '10.77.0.1/24' });
  const link = attachTun(d, iface);
  try {
    const replied = new Promise<void>((resolve) => {
      const original = fake.write.bind(fake);
      fake.write = (h, packets, start) => {
        const n = original(h, packets, start);
        resolve();
        return n;
      };
    });
    const request = echoRequest(7, 42, new Uint8Array(32), [10, 77, 0, 2], [10, 77, 0, 1]);
    fake.callback!(0, [request]);
    await replied;
    assert.equal(fake.written.map(echoReplySeq), [42]);
    assert.equal(link.delivered, { toInterface: 1, toDevice: 1 });
    link.close();
    assert.equal(fake.polls.at(-1), '--', 'close() stops reading');
    fake.callback = undefined;
  } finally {
    link.close();
    d.close();
    stack.close();
  }
});

test('attachTun: replies queued while the kernel takes nothing stay intact after the stack reuses its buffers', async () => {
  const fake = new FakeNative();
  const d = device(fake);
  const stack = await Stack.create();
  const iface = stack.addInterface({ ipv4: '10.77.0.1/24' });
  const link = attachTun(d, iface);
  // Each round's replies go out as one batch; wait for it before the next round.
  let batchWritten: (() => void) | undefined;
  const writeBorrowed = d.writeBorrowed.bind(d);
  d.writeBorrowed = (packets) => {
    writeBorrowed(packets);
    batchWritten?.();
  };
  const payload = (seq: number) => new Uint8Array(1400).map((_, i) => (seq * 7 + i) & 0xff);
  const rounds = 8;
  const perRound = 40;
  try {
    fake.accept = 0; // EAGAIN for everything: every reply is queued
    for (let r = 0; r < rounds; r++) {
      const requests = [];
      for (let i = 0; i < perRound; i++) {
        const seq = r * perRound + i;
        requests.push(echoRequest(7, seq, payload(seq), [10, 77, 0, 2], [10, 77, 0, 1]));
      }
      const written = new Promise<void>((resolve) => (batchWritten = resolve));
      fake.callback!(0, requests);
      await written;
    }
    assert.is(fake.written.length, 0);
    assert.is(d.counters.queued, rounds * perRound);
    fake.accept = Infinity;
    fake.callback!(1, undefined);
    assert.is(fake.written.length, rounds * perRound);
    fake.written.forEach((p, k) => {
      assert.is(echoReplySeq(p), k);
      assert.equal(p.subarray(28), payload(k), `reply ${k} intact`);
    });
  } finally {
    link.close();
    d.close();
    stack.close();
  }
});

test('attachTun checks its arguments', async () => {
  const stack = await Stack.create();
  const iface = stack.addInterface({ ipv4: '10.77.0.1/24' });
  const invalid = (e: unknown) => e instanceof StackError && e.code === 'ERR_INVALID_ARGUMENT';
  assert.throws(() => attachTun({} as never, iface), invalid);
  assert.throws(() => attachTun(device(new FakeNative()), {} as never), invalid);
  const closed = device(new FakeNative());
  closed.close();
  assert.throws(
    () => attachTun(closed, iface),
    (e: unknown) => e instanceof StackError && e.code === 'ERR_TUN_CLOSED',
  );
  stack.close();
});

test.run();
