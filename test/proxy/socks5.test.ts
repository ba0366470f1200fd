/**
 * The SOCKS5 dialer against a tiny SOCKS5 server written here (RFC 1928
 * CONNECT, RFC 1929 user/password) on loopback, which itself connects only
 * to loopback targets and refuses anything else with reply 2. The server's
 * reply decides what the proxy's client sees: success relays, "refused"
 * refuses, "host unreachable" drops, and a failed authentication refuses.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSocks5Url, socks5Dialer, type RejectedFlow } from '../../src/proxy/index.js';
import { socksServer } from './socks-server.js';
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

const test = suite('proxy socks5');
test.after.each(cleanup);

for (const [family, gateway, host] of [
  ['IPv4', GATEWAY4, '127.0.0.1'],
  ['IPv6', GATEWAY6, '::1'],
] as const) {
  test(`through SOCKS5 without authentication, bytes arrive intact both ways (${family})`, async () => {
    const socks = await socksServer();
    const n = await proxyNet({ dialer: socks5Dialer(`socks5://127.0.0.1:${socks.port}`) });
    const up = bytes(1 << 20, 31);
    const down = bytes(1 << 20, 32);
    const server = await loopbackServer(
      (s) => void writeSocket(s, down).then((ok) => ok && s.end()),
      host,
    );
    const serverGot = server.nextSocket().then(drain);
    const c = n.client.connect({ address: gateway, port: server.port });
    const got = collect(c);
    writeAll(c, up, () => c.shutdownWrite());
    assert.is(await within(20_000, ended(c), 'close'), 'close');
    const s = await within(10_000, serverGot, 'the upstream');
    assert.is(sha256(s.data), sha256(up));
    assert.is(sha256(got.bytes()), sha256(down));
    assert.equal(socks.requests, [`-@${host} ${server.port}`], 'the mapped address was requested');
  });
}

test('user/password: the right credentials connect, wrong ones are refused', async () => {
  const socks = await socksServer({ auth: { user: 'ali ce', pass: 's3:cr@t' } });
  const server = await loopbackServer((s) => s.end('welcome'));
  const good = await proxyNet({
    dialer: socks5Dialer(`socks5://ali%20ce:s3%3Acr%40t@127.0.0.1:${socks.port}`),
  });
  const c = good.client.connect({ address: GATEWAY4, port: server.port });
  const got = collect(c);
  c.on('readEOF', () => c.gracefulClose());
  assert.is(await within(10_000, ended(c), 'close'), 'close');
  assert.is(new TextDecoder().decode(got.bytes()), 'welcome');
  assert.equal(socks.requests, [`ali ce@127.0.0.1 ${server.port}`]);

  const bad = await proxyNet({
    dialer: socks5Dialer({
      host: '127.0.0.1',
      port: socks.port,
      username: 'ali ce',
      password: 'no',
    }),
  });
  const rejected = new Promise<RejectedFlow>((resolve) => bad.proxy.once('rejected', resolve));
  const d = bad.client.connect({ address: GATEWAY4, port: server.port });
  const log = record(d);
  await within(10_000, ended(d), 'refusal');
  assert.equal(log, ['terminated:reset:ECONNREFUSED']);
  assert.equal(await rejected, {
    client: (await rejected).client,
    destination: { family: 4, address: GATEWAY4, port: server.port },
    answer: 'refuse',
    why: 'ERR_SOCKS_AUTH',
  });
});

test('the SOCKS server reports "refused": the client gets connection refused', async () => {
  const socks = await socksServer();
  const n = await proxyNet({ dialer: socks5Dialer(`socks5://127.0.0.1:${socks.port}`) });
  const port = await closedPort();
  const c = n.client.connect({ address: GATEWAY4, port });
  const log = record(c);
  await within(10_000, ended(c), 'refusal');
  assert.equal(log, ['terminated:reset:ECONNREFUSED']);
  assert.is(n.proxy.stats().refused, 1);
});

test('the SOCKS server reports "host unreachable": the client gets no answer', async () => {
  const socks = await socksServer({ reply: 4 });
  const n = await proxyNet({ dialer: socks5Dialer(`socks5://127.0.0.1:${socks.port}`) });
  const rejected = new Promise<RejectedFlow>((resolve) => n.proxy.once('rejected', resolve));
  const back: number[] = [];
  n.clientIface.addTap((p, dir) => dir === 'in' && back.push(p.length));
  const c = n.client.connect({ address: GATEWAY4, port: 80 });
  const r = await within(10_000, rejected, 'the failed dial');
  assert.is(r.answer, 'drop');
  assert.is(r.why, 'EHOSTUNREACH');
  assert.equal(back, [], 'nothing came back to the client');
  assert.is(c.info().state, 'SYN_SENT');
  c.abort();
});

test('bytes the destination sends right after the reply are not lost', async () => {
  const socks = await socksServer({ coalesce: true });
  const n = await proxyNet({ dialer: socks5Dialer(`socks5://127.0.0.1:${socks.port}`) });
  const server = await loopbackServer((s) => s.end('SSH-2.0-banner\r\n'));
  const c = n.client.connect({ address: GATEWAY4, port: server.port });
  const got = collect(c);
  c.on('readEOF', () => c.gracefulClose());
  assert.is(await within(10_000, ended(c), 'close'), 'close');
  assert.is(new TextDecoder().decode(got.bytes()), 'SSH-2.0-banner\r\n');
});

test('parseSocks5Url: hosts, ports, credentials and errors', () => {
  assert.equal(parseSocks5Url('socks5://127.0.0.1:1080'), { host: '127.0.0.1', port: 1080 });
  assert.equal(parseSocks5Url('socks5://[::1]:9050'), { host: '::1', port: 9050 });
  assert.equal(parseSocks5Url('socks5://localhost'), { host: 'localhost', port: 1080 });
  assert.equal(parseSocks5Url('socks5://u%40x:p%3A@127.0.0.1:1'), {
    host: '127.0.0.1',
    port: 1,
    username: 'u@x',
    password: 'p:',
  });
  assert.throws(() => parseSocks5Url('http://127.0.0.1:1'), /unsupported upstream scheme/);
  assert.throws(() => parseSocks5Url('socks5://127.0.0.1:1/path'), /no path/);
  assert.throws(() => parseSocks5Url('nonsense'), /not a URL/);
  assert.throws(
    () => socks5Dialer({ host: '127.0.0.1', port: 1, username: '', password: 'x' }),
    /username must be 1..255 bytes/,
  );
});

test.run();
