/**
 * The proxy against a real peer: the Linux kernel. Each test makes a
 * network namespace whose default route is a TUN device leading to the
 * proxy (running in this process), and kernel clients inside it fetch
 * through the proxy's gateway address, which the proxy maps to servers on
 * this host's loopback. Only the gateways are allowed as destinations; the
 * namespace and device are always removed. Skipped, with the reason, without
 * root or /dev/net/tun.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Relay } from '../../src/proxy/index.js';
import { testUnless } from '../helpers/skip.js';
import {
  cleanup,
  closedPort,
  drain,
  loopbackServer,
  settles,
  sha256,
  within,
  writeSocket,
} from '../proxy/helpers.js';
import { bytes } from '../helpers/net.js';
import {
  GW4,
  GW6,
  curlReason,
  finish,
  kernelReason,
  lineStarting,
  pingReason,
  removeStaleNamespaces,
  resultOf,
  withKernelProxy,
} from './kernel.js';

const test = suite('proxy against the kernel');
test.after.each(cleanup);

if (kernelReason === undefined) removeStaleNamespaces();

const MiB = 1 << 20;
const FAMILIES = [
  ['IPv4', GW4, '127.0.0.1'],
  ['IPv6', GW6, '::1'],
] as const;

testUnless(test, pingReason, 'ICMP echo to the gateway is answered (IPv4 and IPv6)', () =>
  withKernelProxy(async ({ ns }) => {
    for (const [flag, gw] of [
      ['-4', GW4],
      ['-6', GW6],
    ] as const) {
      const r = await ns.run('ping', [flag, '-c', '3', '-i', '0.2', '-W', '2', gw]);
      assert.is(r.code, 0, `ping ${gw}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, '3 received');
    }
  }),
);

testUnless(test, curlReason, 'curl fetches from a loopback HTTP server through the proxy', () =>
  withKernelProxy(async ({ ns, running }) => {
    for (const [family, gw, host] of FAMILIES) {
      const body = `hello over ${family}`;
      const server = await loopbackServer((s) => {
        s.once('data', () =>
          s.end(
            `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
          ),
        );
      }, host);
      const url =
        family === 'IPv4' ? `http://${gw}:${server.port}/` : `http://[${gw}]:${server.port}/`;
      const r = await ns.run('curl', ['-sS', '--max-time', '20', url]);
      assert.is(r.code, 0, `curl ${url}: ${r.stderr}`);
      assert.is(r.stdout, body);
    }
    assert.is(running.proxy.stats().flowsTotal, 2);
  }),
);

for (const [family, gw, host] of FAMILIES) {
  testUnless(
    test,
    kernelReason,
    `data integrity both ways at once: sha256 of 4 MiB each way (${family})`,
    () =>
      withKernelProxy(async ({ ns }) => {
        const up = 4 * MiB;
        const down = bytes(4 * MiB, 42);
        const server = await loopbackServer(
          (s) => void writeSocket(s, down).then((ok) => ok && s.end()),
          host,
        );
        const upstream = server.nextSocket().then(drain);
        const r = await finish(
          ns.client(['exchange', gw, String(server.port), String(up), '41']),
          'exchange',
          120_000,
        );
        assert.equal(
          resultOf(r),
          { received: down.length, sha256: sha256(down) },
          'upstream -> kernel',
        );
        const got = await within(10_000, upstream, 'the upstream to close');
        assert.ok(got.ended);
        assert.is(got.data.length, up);
        assert.is(sha256(got.data), sha256(bytes(up, 41)), 'kernel -> upstream');
      }),
  );

  testUnless(
    test,
    kernelReason,
    `a refusing upstream is ECONNREFUSED for the kernel client (${family})`,
    () =>
      withKernelProxy(async ({ ns, running }) => {
        const port = await closedPort(host);
        const r = await finish(ns.client(['connect', gw, String(port)]), 'connect', 60_000);
        const result = resultOf(r);
        assert.is(result.error, 'ECONNREFUSED');
        assert.ok((result.ms as number) < 1000, `refused after ${String(result.ms)} ms`);
        assert.is(running.proxy.stats().refused, 1);
      }),
  );
}

testUnless(
  test,
  kernelReason,
  'a destination outside the allow list is refused, never dialled',
  () =>
    withKernelProxy(async ({ ns, running }) => {
      // 10.0.2.7 is on the namespace's link but not a gateway: the proxy must not dial it.
      const r = await finish(ns.client(['connect', '10.0.2.7', '80']), 'connect', 60_000);
      assert.is(resultOf(r).error, 'ECONNREFUSED');
      assert.is(running.proxy.stats().denied, 1);
    }),
);

testUnless(
  test,
  kernelReason,
  'half-close both ways: kernel FIN first, then upstream FIN first',
  () =>
    withKernelProxy(async ({ ns }) => {
      const answering = await loopbackServer((s) => {
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('end', () => s.end(`after your FIN: ${Buffer.concat(chunks).toString()}`));
      });
      const r1 = await finish(
        ns.client(['request', GW4, String(answering.port), 'GET']),
        'request',
      );
      assert.equal(resultOf(r1), { response: 'after your FIN: GET' });

      const first = await loopbackServer((s) => s.end('bye first'));
      const upstream = first.nextSocket().then(drain);
      const r2 = await finish(
        ns.client(['late', GW4, String(first.port), 'said after EOF']),
        'late',
      );
      assert.equal(resultOf(r2), { received: 'bye first', eofFirst: true });
      const got = await within(10_000, upstream, 'the upstream');
      assert.is(got.data.toString(), 'said after EOF', 'the kernel could still send after our FIN');
      assert.ok(got.ended);
    }),
);

testUnless(
  test,
  kernelReason,
  'backpressure: a slow upstream reader holds the kernel sender back',
  () =>
    withKernelProxy(async ({ ns, running }) => {
      const total = 64 * MiB;
      const server = await loopbackServer((s) => s.pause());
      const upstream = server.nextSocket();
      const flow = new Promise<Relay>((resolve) => running.proxy.once('flow', resolve));
      const client = ns.client(['upload', GW4, String(server.port), String(total), '43']);
      const done = finish(client, 'upload', 180_000);
      const relay = await within(30_000, flow, 'the flow');
      const peak = { relay: 0, heap: 0 };
      const sample = () => {
        peak.relay = Math.max(peak.relay, relay.buffered);
        peak.heap = Math.max(peak.heap, running.stack.stats().heap.lwipBytes);
      };
      relay.on('paused', sample);
      const stalledAt = await settles(() => (sample(), relay.bytesUp), 'the kernel sender', {
        stableMs: 500,
      });
      assert.ok(relay.pausedUp, 'delivery from the kernel client is paused');
      assert.ok(stalledAt < total / 2, `the kernel sender stalled at ${stalledAt} of ${total}`);
      assert.ok(peak.relay <= 1.5 * MiB, `relay held at most ${peak.relay} bytes`);
      assert.ok(peak.heap <= 4 * MiB, `proxy heap peaked at ${peak.heap} bytes`);
      const socket = await upstream;
      const received = drain(socket);
      socket.on('end', () => socket.end());
      socket.resume();
      const got = await within(120_000, received, 'the upload');
      assert.is(got.data.length, total);
      assert.is(sha256(got.data), sha256(bytes(total, 43)));
      assert.equal(resultOf(await done), { sent: total });
    }),
);

testUnless(
  test,
  kernelReason,
  'backpressure: a slow kernel reader holds the upstream sender back',
  () =>
    withKernelProxy(async ({ ns, running }) => {
      const total = 64 * MiB;
      const data = bytes(total, 44);
      const progress = { taken: 0 };
      const server = await loopbackServer(
        (s) => void writeSocket(s, data, progress).then((ok) => ok && s.end()),
      );
      const flow = new Promise<Relay>((resolve) => running.proxy.once('flow', resolve));
      const client = ns.client(['slow-read', GW4, String(server.port)]);
      const done = finish(client, 'slow-read', 180_000);
      await lineStarting(client, 'connected');
      const relay = await within(30_000, flow, 'the flow');
      const peak = { relay: 0, heap: 0 };
      const sample = () => {
        peak.relay = Math.max(peak.relay, relay.buffered);
        peak.heap = Math.max(peak.heap, running.stack.stats().heap.lwipBytes);
      };
      relay.on('paused', sample);
      const stalledAt = await settles(() => (sample(), progress.taken), 'the upstream sender', {
        stableMs: 500,
      });
      assert.ok(relay.pausedDown, 'reading from the upstream is paused');
      assert.ok(stalledAt < total / 2, `the upstream sender stalled at ${stalledAt} of ${total}`);
      assert.ok(peak.relay <= 1.5 * MiB, `relay held at most ${peak.relay} bytes`);
      assert.ok(peak.heap <= 4 * MiB, `proxy heap peaked at ${peak.heap} bytes`);
      if (client.exitCode !== null || client.signalCode !== null) {
        const r = await done;
        throw new Error(`the kernel client ended early (${r.code}): ${r.stdout}${r.stderr}`);
      }
      process.kill(client.pid!, 'SIGUSR1');
      assert.equal(resultOf(await done), { received: total, sha256: sha256(data) });
    }),
);

testUnless(test, kernelReason, 'many concurrent flows: 200 kernel connections at once', () =>
  withKernelProxy(async ({ ns, running }) => {
    const server = await loopbackServer((s) => {
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('end', () => s.end(text.replace('ping', 'pong')));
    });
    let peak = 0;
    running.proxy.on('flow', () => (peak = Math.max(peak, running.proxy.stats().flowsActive)));
    const r = await finish(ns.client(['many', GW4, String(server.port), '200']), 'many', 120_000);
    assert.equal(resultOf(r), { ok: 200, errors: [] });
    const st = running.proxy.stats();
    assert.is(st.flowsTotal, 200);
    assert.ok(peak > 1, `flows overlapped (peak ${peak})`);
  }),
);

test.run();
