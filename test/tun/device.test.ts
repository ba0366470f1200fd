/**
 * The TUN device against the real kernel, rule by rule: options and their
 * errors, naming and MTU, EBUSY/EPERM/EACCES/ENOENT, multi-queue, raw
 * packets both ways, the read-failure path, and no fd or device left behind
 * after many open/close cycles. Devices are created in our namespace but
 * never brought up there; traffic happens only inside a namespace the test
 * creates (see netns.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StackError } from '../../src/stack/errors.js';
import { openTun, type TunDevice } from '../../src/tun/device.js';
import { loadTunAddon } from '../../src/tun/native.js';
import { testUnless } from '../helpers/skip.js';
import { echoReplySeq, echoRequest } from './icmp.js';
import {
  Netns,
  deviceName,
  finish,
  netnsReason,
  removeStaleNamespaces,
  tunReason,
  uniqueTag,
} from './netns.js';

const test = suite('tun device');

const isCode = (c: string) => (e: unknown) => e instanceof StackError && e.code === c;

async function rejection(p: Promise<unknown>): Promise<StackError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, StackError, String(e));
    return e as StackError;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

const sysfs = (name: string, file: string): string | undefined => {
  const path = `/sys/class/net/${name}/${file}`;
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
};
const present = (name: string) => sysfs(name, 'flags') !== undefined;

if (netnsReason === undefined) removeStaleNamespaces();

test('an addon that is not built is ERR_TUN_UNAVAILABLE saying "run make tun"', async () => {
  const e = await rejection(loadTunAddon(new URL('./not-built.node', import.meta.url)));
  assert.is(e.code, 'ERR_TUN_UNAVAILABLE');
  if (process.platform === 'linux') assert.match(e.message, 'run make tun');
});

test('bad options are ERR_INVALID_ARGUMENT naming the field', async () => {
  for (const [options, field] of [
    [{ name: 'a-name-longer-than-15' }, 'name'],
    [{ name: 'has space' }, 'name'],
    [{ name: 'a/b' }, 'name'],
    [{ mtu: 67 }, 'mtu'],
    [{ mtu: 65536 }, 'mtu'],
    [{ mtu: 1500.5 }, 'mtu'],
    [{ multiQueue: 1 }, 'multiQueue'],
    [{ up: 'yes' }, 'up'],
    [{ offload: 'yes' }, 'offload'],
    [{ readBatch: 0 }, 'readBatch'],
  ] as const) {
    const e = await rejection(openTun(options as never));
    assert.is(e.code, 'ERR_INVALID_ARGUMENT', JSON.stringify(options));
    assert.match(e.message, field);
  }
});

testUnless(
  test,
  tunReason,
  'openTun creates the named device with its MTU; close() removes it',
  async () => {
    const name = deviceName(uniqueTag());
    const device = await openTun({ name, mtu: 65535 });
    try {
      assert.is(device.name, name);
      assert.is(device.mtu, 65535);
      assert.is(sysfs(name, 'mtu'), '65535');
      assert.is(Number(sysfs(name, 'flags')) & 1, 0, 'not up unless asked');
      assert.is(sysfs(name, 'type'), '65534', 'ARPHRD_NONE: a layer-3 TUN device');
      assert.equal(device.read(), [], 'a device that is down has nothing: an empty batch, no wait');
    } finally {
      device.close();
    }
    assert.ok(device.closed);
    assert.not.ok(present(name), 'the device is gone after close()');
    assert.throws(() => device.write([]), isCode('ERR_TUN_CLOSED'));
    assert.throws(() => device.read(), isCode('ERR_TUN_CLOSED'));
    device.close();
  },
);

testUnless(
  test,
  tunReason,
  'without a name the kernel picks one; the default MTU is kept',
  async () => {
    const device = await openTun();
    try {
      assert.match(device.name, /^tun\d+$/);
      assert.is(device.mtu, 1500);
      assert.ok(present(device.name));
    } finally {
      device.close();
    }
    assert.not.ok(present(device.name));
  },
);

testUnless(
  test,
  tunReason,
  'a name in use is EBUSY, whether a TUN device or another kind',
  async () => {
    const name = deviceName(uniqueTag());
    const first = await openTun({ name });
    try {
      const e = await rejection(openTun({ name }));
      assert.is(e.code, 'EBUSY');
      assert.is(e.errno, 16);
      assert.match(e.message, 'in use');
      const lo = await rejection(openTun({ name: 'lo' }));
      assert.is(lo.code, 'EBUSY');
      assert.match(lo.message, 'not a TUN device');
    } finally {
      first.close();
    }
    const again = await openTun({ name });
    again.close();
  },
);

testUnless(
  test,
  tunReason,
  "the MTU range 68..65535 is the kernel's: its low end works too",
  async () => {
    const name = deviceName(uniqueTag());
    const device = await openTun({ name, mtu: 68 });
    assert.is(device.mtu, 68);
    assert.is(sysfs(name, 'mtu'), '68');
    device.close();
    assert.not.ok(present(name));
  },
);

testUnless(test, tunReason, 'multiQueue opens several queues of one device', async () => {
  const name = deviceName(uniqueTag());
  const a = await openTun({ name, multiQueue: true });
  const b = await openTun({ name, multiQueue: true });
  try {
    assert.is(a.name, name);
    assert.is(b.name, name);
    assert.ok(a.multiQueue && b.multiQueue);
    assert.is(Number(sysfs(name, 'tun_flags')) & 0x100, 0x100, 'IFF_MULTI_QUEUE');
    const single = await rejection(openTun({ name }));
    assert.is(single.code, 'EBUSY', 'a single-queue open of a multi-queue device');
  } finally {
    a.close();
  }
  assert.ok(present(name), 'one queue still holds the device');
  b.close();
  assert.not.ok(present(name));
});

testUnless(test, tunReason, '200 open/close cycles leave no fd and no device behind', async () => {
  const fds = () => readdirSync('/proc/self/fd').length;
  const name = deviceName(uniqueTag());
  // Warm up: the first open loads the addon and may open files of its own.
  (await openTun({ name })).close();
  const before = fds();
  for (let i = 0; i < 200; i++) {
    const device = await openTun({ name, mtu: 1280 + (i % 7) });
    if (i % 2 === 0) device.onPackets(() => {}); // an active poll must be released too
    if (i % 4 === 0) device.write([new Uint8Array([0x45])]);
    device.close();
  }
  assert.is(fds(), before, 'open fds before and after');
  assert.not.ok(present(name));
});

testUnless(
  test,
  tunReason,
  'without access to /dev/net/tun or CAP_NET_ADMIN: EACCES/EPERM naming both',
  async () => {
    const peer = ['--import', 'tsx', 'test/tun/peer.ts', 'open-as'];
    const asNobody = await finish(spawn(process.execPath, [...peer, '65534']), 'open-as nobody');
    assert.is(asNobody.code, 0, asNobody.stderr);
    const nobody = JSON.parse(asNobody.stdout) as { code: string; message: string };
    // EACCES when /dev/net/tun is 0600; EPERM at TUNSETIFF when it is 0666 (some systems).
    assert.ok(['EACCES', 'EPERM'].includes(nobody.code), nobody.code);
    assert.match(nobody.message, 'root or the CAP_NET_ADMIN capability');
    if (spawnSync('setpriv', ['--version']).status !== 0) {
      console.log('  (setpriv missing: EPERM case not run)');
      return;
    }
    const noCap = await finish(
      spawn('setpriv', [
        '--bounding-set=-net_admin',
        '--inh-caps=-net_admin',
        process.execPath,
        ...peer,
        '0',
      ]),
      'open-as root without CAP_NET_ADMIN',
    );
    assert.is(noCap.code, 0, noCap.stderr);
    const capless = JSON.parse(noCap.stdout) as { code: string; message: string };
    assert.is(capless.code, 'EPERM');
    assert.match(capless.message, 'CAP_NET_ADMIN');
  },
);

const unshareReason =
  tunReason ??
  (spawnSync('unshare', ['--mount', 'true']).status === 0
    ? undefined
    : 'unshare --mount is not permitted here');

testUnless(test, unshareReason, 'without /dev/net/tun: ENOENT', async () => {
  // A private mount namespace whose /dev/net is an empty tmpfs.
  const r = await finish(
    spawn('unshare', [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs tmpfs /dev/net && exec "$0" --import tsx test/tun/peer.ts open-as 0',
      process.execPath,
    ]),
    'open without /dev/net/tun',
  );
  assert.is(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout) as { code: string; message: string };
  assert.is(e.code, 'ENOENT');
  assert.match(e.message, '/dev/net/tun is missing');
});

testUnless(test, netnsReason, 'up: true brings the link up (in a fresh namespace)', async () => {
  const ns = Netns.create(uniqueTag());
  try {
    const name = deviceName(uniqueTag());
    const r = await finish(ns.peer(['open-up', name]), 'open-up');
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      name: string;
      before: { up: boolean; mtu: number };
      goneAfterClose: boolean;
    };
    assert.equal(out, { name, before: { up: true, mtu: 9000 }, goneAfterClose: true });
    assert.not.ok(present(name), 'it never existed in our namespace');
  } finally {
    ns.delete();
  }
  assert.not.ok(ns.exists());
});

// ---- raw packets ----

/** Opens a TUN device, moves it into `ns` and gives the kernel end 10.77.0.2/24. */
async function deviceIn(ns: Netns, mtu = 1500): Promise<TunDevice> {
  const device = await openTun({ name: deviceName(uniqueTag()), mtu });
  try {
    ns.moveIn(device.name);
    ns.ip('addr', 'add', '10.77.0.2/24', 'dev', device.name);
    ns.ip('link', 'set', 'dev', device.name, 'up');
  } catch (error) {
    device.close();
    throw error;
  }
  return device;
}

testUnless(
  test,
  netnsReason,
  'write() reaches the kernel and its answers arrive through onPackets()',
  async () => {
    const ns = Netns.create(uniqueTag());
    const device = await deviceIn(ns);
    try {
      const replies: Uint8Array[] = [];
      const got = new Promise<void>((resolve) =>
        device.onPackets((packets) => {
          // Only echo replies to us count; the kernel may also send IPv6 chatter.
          for (const p of packets) if (echoReplySeq(p) !== undefined) replies.push(p);
          if (replies.length >= 8) resolve();
        }),
      );
      const payload = new TextEncoder().encode('lwip-wasm tun test');
      device.write(Array.from({ length: 8 }, (_, i) => echoRequest(0x1234, i, payload)));
      await got;
      assert.equal(replies.map(echoReplySeq), [0, 1, 2, 3, 4, 5, 6, 7], 'eight replies, in order');
      assert.equal(Array.from(replies[0]!.subarray(12, 20)), [10, 77, 0, 2, 10, 77, 0, 1]);
      assert.equal(replies[0]!.subarray(28), payload);
      // Without a receiver, read() pulls what is queued without waiting; the
      // kernel answers within a few event-loop turns (bounded here).
      device.onPackets(undefined);
      device.write([echoRequest(0x1234, 100, payload), echoRequest(0x1234, 101, payload)]);
      const pulled: number[] = [];
      const deadline = Date.now() + 5000;
      while (pulled.length < 2 && Date.now() < deadline) {
        for (const p of device.read(16)) {
          const seq = echoReplySeq(p);
          if (seq !== undefined) pulled.push(seq);
        }
        if (pulled.length < 2) await new Promise((r) => setImmediate(r));
      }
      assert.equal(pulled, [100, 101]);
      // A packet that is neither IPv4 nor IPv6 is refused by the kernel and counted.
      device.write([new Uint8Array(20)]);
      const c = device.counters;
      assert.is(c.writeErrors, 1);
      assert.is(c.packetsOut, 11);
      assert.ok(c.packetsIn >= 10);
      assert.is(c.queued, 0);
    } finally {
      device.close();
      ns.delete();
    }
  },
);

testUnless(
  test,
  netnsReason,
  'offload: packets that cannot be merged go out whole, reads come without the virtio header',
  async () => {
    const ns = Netns.create(uniqueTag());
    const device = await openTun({ name: deviceName(uniqueTag()), mtu: 1500, offload: true });
    try {
      assert.is(device.offload, true);
      ns.moveIn(device.name);
      ns.ip('addr', 'add', '10.77.0.2/24', 'dev', device.name);
      ns.ip('link', 'set', 'dev', device.name, 'up');
      const payload = new TextEncoder().encode('offload');
      const replies: Uint8Array[] = [];
      const got = new Promise<void>((resolve) =>
        device.onPackets((packets) => {
          for (const p of packets) if (echoReplySeq(p) !== undefined) replies.push(p.slice());
          if (replies.length >= 4) resolve();
        }),
      );
      device.write(Array.from({ length: 4 }, (_, i) => echoRequest(0x5678, i, payload)));
      await got;
      assert.equal(replies.map(echoReplySeq), [0, 1, 2, 3]);
      assert.equal(Array.from(replies[0]!.subarray(12, 20)), [10, 77, 0, 2, 10, 77, 0, 1]);
      assert.equal(replies[0]!.subarray(28), payload);
      assert.is(device.counters.writeErrors, 0);
    } finally {
      device.close();
      ns.delete();
    }
  },
);

testUnless(
  test,
  netnsReason,
  'borrowed packets are views of one reused buffer, valid during the call; a detached one is replaced',
  async () => {
    const ns = Netns.create(uniqueTag());
    const device = await deviceIn(ns);
    try {
      const payload = new TextEncoder().encode('borrowed');
      const seqs: number[] = [];
      const buffers = new Set<ArrayBufferLike>();
      let detach = false;
      let wanted = 0;
      let reached: () => void = () => {};
      device.onPackets(
        (packets) => {
          for (const p of packets) {
            const seq = echoReplySeq(p);
            if (seq === undefined) continue;
            // The bytes are right while the receiver runs.
            assert.equal(p.subarray(28), payload);
            seqs.push(seq);
            buffers.add(p.buffer);
          }
          if (detach && packets.length > 0) {
            const buffer = packets[0]!.buffer as ArrayBuffer;
            structuredClone(buffer, { transfer: [buffer] });
            assert.is(packets[0]!.length, 0, 'detached: the views are empty now');
            detach = false;
          }
          if (seqs.length >= wanted) reached();
        },
        { borrow: true },
      );
      const round = async (from: number) => {
        wanted = from + 4;
        const got = new Promise<void>((r) => (reached = r));
        device.write(Array.from({ length: 4 }, (_, i) => echoRequest(0x4321, from + i, payload)));
        await got;
      };
      await round(0);
      await round(4);
      assert.equal(seqs, [0, 1, 2, 3, 4, 5, 6, 7]);
      assert.is(buffers.size, 1, 'every batch in the same buffer');
      detach = true;
      await round(8);
      await round(12);
      assert.equal(seqs.slice(8), [8, 9, 10, 11, 12, 13, 14, 15]);
      assert.is(buffers.size, 2, 'a fresh buffer after the detach, then reused');
      assert.throws(
        () => device.onPackets(() => {}, { borrow: 1 as unknown as boolean }),
        isCode('ERR_INVALID_ARGUMENT'),
      );
    } finally {
      device.close();
      ns.delete();
    }
  },
);

testUnless(
  test,
  netnsReason,
  'reading stops with a StackError when the device is deleted',
  async () => {
    const ns = Netns.create(uniqueTag());
    const device = await deviceIn(ns);
    try {
      const failed = new Promise<StackError>((resolve) => device.onError(resolve));
      device.onPackets(() => {});
      ns.ip('link', 'del', 'dev', device.name);
      const e = await failed;
      assert.instance(e, StackError);
      assert.is(e.code, 'EBADFD');
      assert.is(e.errno, 77);
      assert.match(e.message, 'the TUN device was deleted');
    } finally {
      device.close();
      ns.delete();
    }
    assert.not.ok(ns.exists());
  },
);

test.run();
