/**
 * lwIP against the Linux kernel through a TUN device. Each test makes a
 * fresh network namespace, moves a TUN device into it (kernel end
 * 10.77.0.2/24 and fd77::2/64), attaches the device to a stack interface
 * (10.77.0.1, fd77::1) and runs kernel tools inside the namespace: ping,
 * and Node sockets (test/tun/peer.ts) as TCP client and server. No traffic
 * leaves the namespace. Namespace, device and children are always removed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Stack, type NetInterface, type TcpConnection } from '../../src/index.js';
import { attachTun, type TunLink } from '../../src/tun/attach.js';
import { openTun, type TunDevice } from '../../src/tun/device.js';
import { bytes, collect, next, sha256, writeAll } from '../helpers/net.js';
import { testUnless } from '../helpers/skip.js';
import {
  Netns,
  deviceName,
  finish,
  netnsReason,
  pingReason,
  removeStaleNamespaces,
  uniqueTag,
  waitForLine,
} from './netns.js';

const test = suite('tun + stack');

if (netnsReason === undefined) removeStaleNamespaces();

interface Fixture {
  ns: Netns;
  device: TunDevice;
  stack: Stack;
  iface: NetInterface;
  link: TunLink;
}

/** Runs `fn` with a stack wired to a kernel namespace over TUN; tears everything down after. */
async function withKernel(mtu: number, fn: (f: Fixture) => Promise<void>): Promise<void> {
  const ns = Netns.create(uniqueTag());
  let device: TunDevice | undefined;
  let stack: Stack | undefined;
  let link: TunLink | undefined;
  try {
    device = await openTun({ name: deviceName(uniqueTag()), mtu });
    ns.moveIn(device.name);
    ns.ip('addr', 'add', '10.77.0.2/24', 'dev', device.name);
    ns.ip('addr', 'add', 'fd77::2/64', 'dev', device.name, 'nodad');
    ns.ip('link', 'set', 'dev', device.name, 'mtu', String(mtu), 'up');
    stack = await Stack.create();
    const iface = stack.addInterface({ ipv4: '10.77.0.1/24', ipv6: 'fd77::1/64', mtu });
    link = attachTun(device, iface);
    await fn({ ns, device, stack, iface, link });
  } finally {
    link?.close();
    device?.close();
    stack?.close();
    ns.delete();
  }
  assert.not.ok(ns.exists(), 'the namespace is gone');
}

/** Echoes every connection of `stack` on `port`, with backpressure, and closes after the peer's FIN. */
function echoServer(stack: Stack, port: number): void {
  stack.listen({ port }, (conn: TcpConnection) => {
    const pending: Uint8Array[] = [];
    let eof = false;
    const pump = () => {
      while (pending.length > 0) {
        const head = pending[0]!;
        const n = conn.write(head);
        if (n < head.length) {
          pending[0] = head.subarray(n);
          conn.setRecvEnabled(false);
          return;
        }
        pending.shift();
      }
      if (eof) conn.gracefulClose();
      else conn.setRecvEnabled(true);
    };
    conn.on('readable', (d) => {
      pending.push(d);
      pump();
    });
    conn.on('writable', pump);
    conn.on('readEOF', () => {
      eof = true;
      pump();
    });
    conn.markActive();
  });
}

/** Runs the kernel-side echo client in the namespace and checks what came back. */
async function kernelEcho(ns: Netns, host: string, size: number, seed: number): Promise<void> {
  const r = await finish(
    ns.peer(['echo-client', host, '7', String(size), String(seed)]),
    `echo-client ${host}`,
    120_000,
  );
  assert.is(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { received: number; sha256: string };
  assert.equal(got, { received: size, sha256: sha256(bytes(size, seed)) });
}

testUnless(test, pingReason, 'the kernel pings lwIP over IPv4 and IPv6', () =>
  withKernel(1500, async ({ ns, iface }) => {
    for (const [flag, host] of [
      ['-4', '10.77.0.1'],
      ['-6', 'fd77::1'],
    ] as const) {
      const r = await ns.run('ping', [flag, '-c', '3', '-i', '0.2', '-W', '2', host]);
      assert.is(r.code, 0, `ping ${host}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, '3 received');
    }
    assert.ok(iface.counters.packetsIn >= 6 && iface.counters.packetsOut >= 6);
  }),
);

testUnless(
  test,
  netnsReason,
  'a kernel TCP client gets its bytes echoed by lwIP, IPv4 and IPv6',
  () =>
    withKernel(1500, async ({ ns, stack }) => {
      echoServer(stack, 7);
      await kernelEcho(ns, '10.77.0.1', 1000, 1);
      await kernelEcho(ns, 'fd77::1', 1000, 2);
    }),
);

testUnless(test, netnsReason, 'lwIP connects to a kernel TCP server and gets the echo', () =>
  withKernel(1500, async ({ ns, stack }) => {
    for (const host of ['10.77.0.2', 'fd77::2']) {
      const server = ns.peer(['serve', host, '9000']);
      await waitForLine(server, 'listening');
      const exited = finish(server, `serve ${host}`);
      const conn = stack.connect({ address: host, port: 9000 });
      const received = collect(conn);
      const data = bytes(200_000, 3);
      const terminated = next(conn, 'terminated');
      writeAll(conn, data, () => conn.shutdownWrite());
      const [reason, error] = await terminated;
      assert.is(error, undefined, `terminated ${reason} ${error?.code}`);
      assert.ok(received.eof());
      assert.is(received.length(), data.length);
      assert.is(sha256(received.bytes()), sha256(data));
      const r = await exited;
      assert.is(r.code, 0, r.stderr);
    }
  }),
);

testUnless(test, netnsReason, 'bulk: 4 MiB echoed at MTU 1500 over IPv4, sha256 intact', () =>
  withKernel(1500, async ({ ns, stack, device, link }) => {
    echoServer(stack, 7);
    await kernelEcho(ns, '10.77.0.1', 4 << 20, 4);
    assert.ok(
      link.delivered.toInterface > (4 << 20) / 1460, // at least the data segments
      `${link.delivered.toInterface} packets in`,
    );
    assert.ok(link.delivered.toDevice > (4 << 20) / 1460);
    assert.is(device.counters.writeErrors, 0);
    assert.is(device.counters.writeDropped, 0);
  }),
);

testUnless(test, netnsReason, 'bulk: 8 MiB echoed at MTU 65535 over IPv6, sha256 intact', () =>
  withKernel(65535, async ({ ns, stack, device }) => {
    echoServer(stack, 7);
    await kernelEcho(ns, 'fd77::1', 8 << 20, 5);
    assert.is(device.counters.writeErrors, 0);
  }),
);

test.run();
