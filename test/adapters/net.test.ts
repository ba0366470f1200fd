/**
 * The node:net adapter (stack.net) proven with Node's own modules over two
 * stacks on the real clock: node:http with a 10 MiB body, node:tls with a
 * certificate made for the test, stream.pipeline of a large stream, and the
 * socket API itself (events, errors with code, half-open, timeouts,
 * AbortSignal, backpressure).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tls from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Stack, linkInterfaces, type StackSocket } from '../../src/index.js';
import { testUnless } from '../helpers/skip.js';

const test = suite('net adapter');

async function twoStacks() {
  const a = await Stack.create({ seed: 1 });
  const b = await Stack.create({ seed: 2 });
  linkInterfaces(
    a.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64', mtu: 65535 }),
    b.addInterface({ ipv4: '10.0.0.2/24', ipv6: 'fd00::2/64', mtu: 65535 }),
  );
  return { a, b, close: () => (a.close(), b.close()) };
}

const hex = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');

test('node:http server and client: a 10 MiB request body, sha256 checked both ways', async () => {
  const n = await twoStacks();
  const body = randomBytes(10 << 20);
  const server = http.createServer((req, res) => {
    const h = createHash('sha256');
    req.on('data', (d: Buffer) => h.update(d));
    req.on('end', () =>
      res.end(JSON.stringify({ digest: h.digest('hex'), echo: req.headers['x-echo'] })),
    );
  });
  const listener = n.b.net.createServer((socket) => server.emit('connection', socket));
  listener.listen(80);
  await once(listener, 'listening');
  const reply = await new Promise<string>((resolve, reject) => {
    const req = http.request(
      {
        method: 'POST',
        path: '/upload',
        headers: { 'content-length': body.length, 'x-echo': 'hi' },
        createConnection: () => n.a.net.connect({ host: '10.0.0.2', port: 80 }),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(JSON.parse(reply), { digest: hex(body), echo: 'hi' });
  listener.close();
  n.close();
});

const opensslReason = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is not installed (needed to make a test certificate)';
  }
})();

testUnless(
  test,
  opensslReason,
  'node:tls over a stack socket with a self-signed certificate',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lwip-wasm-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=lwip-wasm.test',
          '-addext',
          'subjectAltName=IP:10.0.0.2',
        ],
        { stdio: 'ignore' },
      );
      const key = readFileSync(join(dir, 'key.pem'));
      const cert = readFileSync(join(dir, 'cert.pem'));
      const n = await twoStacks();
      const listener = n.b.net.createServer((socket) => {
        const secure = new tls.TLSSocket(socket, { isServer: true, key, cert });
        secure.on('data', (d: Buffer) =>
          secure.write(Buffer.from(d.toString('utf8').toUpperCase())),
        );
        secure.on('end', () => secure.end());
      });
      listener.listen(443);
      await once(listener, 'listening');
      const client = tls.connect({
        socket: n.a.net.connect(443, '10.0.0.2'),
        ca: cert,
        servername: undefined,
        checkServerIdentity: () => undefined,
      });
      await once(client, 'secureConnect');
      assert.ok(client.authorized, `certificate accepted (${client.authorizationError ?? ''})`);
      client.end('secret hello');
      let text = '';
      for await (const chunk of client) text += (chunk as Buffer).toString('utf8');
      assert.is(text, 'SECRET HELLO');
      listener.close();
      n.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('stream.pipeline of 64 MiB through a socket, in order and intact', async () => {
  const n = await twoStacks();
  const total = 64 << 20;
  const chunk = randomBytes(1 << 20);
  const expected = createHash('sha256');
  for (let i = 0; i < total / chunk.length; i++) expected.update(chunk);
  const received = new Promise<string>((resolve) => {
    n.b.net
      .createServer(async (socket) => {
        const h = createHash('sha256');
        await pipeline(socket, new Writable({ write: (d: Buffer, _e, cb) => (h.update(d), cb()) }));
        resolve(h.digest('hex'));
      })
      .listen(9);
  });
  const socket = n.a.net.connect(9, '10.0.0.2');
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < total / chunk.length; i++) yield chunk;
      })(),
    ),
    socket,
  );
  assert.is(await received, expected.digest('hex'));
  n.close();
});

test('socket API: connect, data, end, close, address(), remote fields; IPv6', async () => {
  const n = await twoStacks();
  const server = n.b.net.createServer((s) => s.pipe(s));
  server.listen({ port: 7 });
  await once(server, 'listening');
  assert.equal(server.address(), { address: '::', family: 'IPv6', port: 7 });
  const events: string[] = [];
  const s = n.a.net.connect({ host: 'fd00::2', port: 7 }, () => events.push('connect'));
  assert.ok(s.connecting);
  s.on('data', (d: Buffer) => events.push(`data:${d.toString()}`));
  s.on('end', () => events.push('end'));
  s.on('close', () => events.push('close'));
  await once(s, 'connect');
  assert.is(s.remoteAddress, 'fd00::2');
  assert.is(s.remotePort, 7);
  assert.is(s.remoteFamily, 'IPv6');
  assert.is(s.address().address, 'fd00::1');
  s.end('ping');
  await once(s, 'close');
  assert.equal(events, ['connect', 'data:ping', 'end', 'close']);
  assert.is(s.bytesWritten, 4);
  assert.is(s.bytesRead, 4);
  n.close();
});

test('setNoDelay and setKeepAlive reach the connection (info())', async () => {
  const n = await twoStacks();
  const server = n.b.net.createServer((s) => s.pipe(s));
  server.listen(7);
  await once(server, 'listening');
  const s = n.a.net.connect({ host: '10.0.0.2', port: 7 });
  await once(s, 'connect');
  const info = () => s.connection.info();
  assert.is(info().keepAlive, false, 'keepalive is off by default');
  s.setNoDelay(false);
  assert.is(info().noDelay, false);
  s.setNoDelay();
  assert.is(info().noDelay, true, 'setNoDelay() means true, as in node:net');
  s.setNoDelay(false);
  assert.is(info().noDelay, false);
  s.setKeepAlive(true, 5000);
  assert.is(info().keepAlive, true);
  assert.is(info().keepAliveIdleMs, 5000, 'initialDelay is the idle time before the first probe');
  s.setKeepAlive(false);
  assert.is(info().keepAlive, false);
  s.destroy();
  server.close();
  n.close();
});

test('the noDelay / keepAlive connect options do the same', async () => {
  const n = await twoStacks();
  const server = n.b.net.createServer((s) => s.pipe(s));
  server.listen(7);
  await once(server, 'listening');
  const plain = n.a.net.connect({ host: '10.0.0.2', port: 7 });
  await once(plain, 'connect');
  const s = n.a.net.connect({
    host: '10.0.0.2',
    port: 7,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: 7000,
  });
  await once(s, 'connect');
  assert.is(plain.connection.info().keepAlive, false);
  const info = s.connection.info();
  assert.is(info.noDelay, true);
  assert.is(info.keepAlive, true);
  assert.is(info.keepAliveIdleMs, 7000);
  assert.is.not(plain.connection.info().keepAliveIdleMs, 7000);
  plain.destroy();
  s.destroy();
  server.close();
  n.close();
});

test('createConnection works like connect: one echo, both signatures', async () => {
  const n = await twoStacks();
  const server = n.b.net.createServer((s) => s.pipe(s));
  server.listen(7);
  await once(server, 'listening');
  const echo = async (s: StackSocket) => {
    await once(s, 'connect');
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.end('hello');
    await once(s, 'close');
    return Buffer.concat(chunks).toString();
  };
  let listenerRan = false;
  const a = n.a.net.createConnection({ host: '10.0.0.2', port: 7 }, () => (listenerRan = true));
  assert.is(await echo(a), 'hello');
  assert.ok(listenerRan, 'the connect listener ran');
  assert.is(a.remotePort, 7);
  assert.is(await echo(n.a.net.createConnection(7, '10.0.0.2')), 'hello');
  server.close();
  n.close();
});

test('errors carry a code: ECONNREFUSED; bad hosts throw typed errors', async () => {
  const n = await twoStacks();
  const s = n.a.net.connect(1, '10.0.0.2');
  const [error] = (await once(s, 'error')) as [NodeJS.ErrnoException];
  assert.is(error.code, 'ECONNREFUSED');
  assert.is(error.errno, 111);
  assert.throws(
    () => n.a.net.connect(80, 'example.invalid'),
    (e: unknown) => (e as { code: string }).code === 'ERR_INVALID_ARGUMENT',
  );
  n.close();
});

test('allowHalfOpen keeps writing after the peer ended; without it the socket ends too', async () => {
  const n = await twoStacks();
  const server = n.b.net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('end', () => {
      s.write('after your FIN');
      s.end();
    });
    s.resume();
  });
  server.listen(7);
  await once(server, 'listening');
  const s = n.a.net.connect({ host: '10.0.0.2', port: 7, allowHalfOpen: true });
  s.end('bye');
  let text = '';
  for await (const d of s) text += (d as Buffer).toString();
  assert.is(text, 'after your FIN');
  n.close();
});

test('setTimeout emits timeout after idleness; AbortSignal cancels a connect', async () => {
  const n = await twoStacks();
  n.b.net.createServer(() => {}).listen(7);
  const s = n.a.net.connect({ host: '10.0.0.2', port: 7, timeout: 50 });
  await once(s, 'timeout');
  s.destroy();
  const controller = new AbortController();
  const t = n.a.net.connect({ host: '10.0.0.99', port: 7, signal: controller.signal });
  controller.abort();
  const [error] = (await once(t, 'error')) as [NodeJS.ErrnoException];
  assert.is(error.name, 'AbortError');
  assert.is(error.code, 'ABORT_ERR');
  assert.not.ok(t.connection.alive, 'the connection attempt was aborted');
  n.close();
});

test('backpressure: a reader that does not read stops the writer; memory stays bounded', async () => {
  const n = await twoStacks();
  let serverSocket: StackSocket | undefined;
  n.b.net.createServer({ pauseOnConnect: true }, (s) => (serverSocket = s)).listen(7);
  const s = n.a.net.connect(7, '10.0.0.2');
  await once(s, 'connect');
  const chunk = Buffer.alloc(1 << 20, 1);
  let written = 0;
  // More than the receive window and send buffer together can absorb.
  for (let i = 0; i < 8; i++) {
    s.write(chunk);
    written += chunk.length;
  }
  written -= chunk.length;
  await new Promise((r) => setTimeout(r, 200)); // let the pipe fill: not a synchronisation point
  assert.ok(
    !serverSocket!.connection.recvEnabled || serverSocket!.readableLength > 0,
    'the reader is backed up',
  );
  assert.ok(s.writableLength > 0, 'the writer is held back');
  const heap = n.b.stats().heap.lwipBytes;
  assert.ok(heap < 16 << 20, `receiver heap bounded (${heap})`);
  let got = 0;
  const total = written + chunk.length;
  s.end();
  serverSocket!.on('data', (d: Buffer) => (got += d.length));
  serverSocket!.resume();
  await once(serverSocket!, 'end');
  assert.is(got, total);
  n.close();
});

test.run();
