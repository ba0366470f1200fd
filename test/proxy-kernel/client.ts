/**
 * Kernel TCP clients for the proxy tests, run inside the test's network
 * namespace (`ip netns exec NS node --import tsx test/proxy-kernel/client.ts
 * MODE ...`), so their sockets are the Linux kernel's and their packets go
 * through the TUN device to the proxy. Each prints one JSON line and exits.
 *
 *   exchange HOST PORT BYTES SEED   send bytes(BYTES, SEED), half-close, read to EOF,
 *                                   wait for close: {"received":n,"sha256":...}
 *   connect HOST PORT               {"connected":true,"ms":t} or {"error":"ECONNREFUSED","ms":t}
 *                                   (t: ms from connect() to the outcome)
 *   download HOST PORT              half-close at once, hash what arrives to EOF:
 *                                   {"received":n,"sha256":...} or {"error":...,"received":n}
 *   ask HOST PORT TEXT [N TEXT2]    send TEXT without half-closing (and TEXT2 once N bytes
 *                                   arrived), read to EOF: {"received":n,"eof":true} or
 *                                   {"error":...,"received":n}
 *   sequential HOST PORT COUNT      COUNT connections one after another, each "ping i" ->
 *                                   "pong i": {"ok":n,"errors":[...]}
 *   request HOST PORT TEXT          send TEXT, half-close, read to EOF: {"response":...}
 *   late HOST PORT TEXT             read to the server's EOF, then send TEXT and close:
 *                                   {"received":...,"eofFirst":true}
 *   upload HOST PORT BYTES SEED     send with backpressure, half-close, wait for close: {"sent":n}
 *   slow-read HOST PORT             do not read until SIGUSR1, then read to EOF:
 *                                   {"received":n,"sha256":...}; prints "connected" first
 *   hold HOST PORT                  print "connected", wait for EOF: {"eof":true}
 *   many HOST PORT COUNT            COUNT connections at once, each "ping i" -> "pong i":
 *                                   {"ok":n,"errors":[...]}
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { bytes, sha256 } from '../helpers/net.js';

const [mode, host, portText, ...args] = process.argv.slice(2);
const rest = (i: number) => args[i] ?? '';
const port = Number(portText);

function print(result: unknown): void {
  console.log(JSON.stringify(result));
}

const started = performance.now();
const elapsed = () => Math.round(performance.now() - started);

function open(extra: () => Record<string, unknown> = () => ({})): Socket {
  const s = connect({ host: host!, port, allowHalfOpen: true });
  s.on('error', (e: Error & { code?: string }) => {
    print({ error: e.code ?? e.message, ...extra() });
    process.exit(0);
  });
  return s;
}

/** Collects what the socket reads; `onClosed` runs once both directions are done (no reset). */
function readAll(s: Socket, onClosed: (data: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let ended = false;
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('end', () => (ended = true));
  s.on('close', () => {
    if (ended) onClosed(Buffer.concat(chunks));
  });
}

switch (mode) {
  case 'exchange': {
    const data = bytes(Number(rest(0)), Number(rest(1)));
    const s = open();
    s.on('connect', () => s.end(data));
    readAll(s, (got) => print({ received: got.length, sha256: sha256(got) }));
    break;
  }
  case 'connect': {
    const s = open(() => ({ ms: elapsed() }));
    s.on('connect', () => {
      print({ connected: true, ms: elapsed() });
      s.destroy();
    });
    break;
  }
  case 'request': {
    const s = open();
    s.on('connect', () => s.end(rest(0)));
    readAll(s, (got) => print({ response: got.toString() }));
    break;
  }
  case 'late': {
    const s = open();
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => s.end(rest(0)));
    s.on('close', () => print({ received: Buffer.concat(chunks).toString(), eofFirst: true }));
    break;
  }
  case 'upload': {
    const data = bytes(Number(rest(0)), Number(rest(1)));
    const s = open();
    s.on('connect', () => {
      let off = 0;
      const pump = () => {
        while (off < data.length) {
          const end = Math.min(data.length, off + (256 << 10));
          const ok = s.write(data.subarray(off, end));
          off = end;
          if (!ok) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    s.resume();
    s.on('close', () => print({ sent: data.length }));
    break;
  }
  case 'slow-read': {
    const s = open();
    s.pause();
    const hash = { n: 0, chunks: [] as Buffer[] };
    s.on('connect', () => console.log('connected'));
    // A paused socket does not keep the event loop alive; this does, until SIGUSR1.
    const keepAlive = setInterval(() => {}, 60_000);
    process.on('SIGUSR1', () => {
      clearInterval(keepAlive);
      s.on('data', (d: Buffer) => {
        hash.n += d.length;
        hash.chunks.push(d);
      });
      s.on('end', () => {
        const all = Buffer.concat(hash.chunks);
        print({ received: all.length, sha256: sha256(all) });
        s.destroy();
      });
      s.resume();
    });
    break;
  }
  case 'hold': {
    const s = open();
    s.on('connect', () => console.log('connected'));
    s.on('end', () => {
      print({ eof: true });
      s.end();
    });
    s.resume();
    break;
  }
  case 'many': {
    const count = Number(rest(0));
    let ok = 0;
    const errors: string[] = [];
    let left = count;
    const done = () => {
      if (--left === 0) print({ ok, errors: [...new Set(errors)] });
    };
    for (let i = 0; i < count; i++) {
      const s = connect({ host: host!, port, allowHalfOpen: true });
      let reply = '';
      s.on('connect', () => s.end(`ping ${i}`));
      s.on('data', (d: Buffer) => (reply += d.toString()));
      s.on('error', (e: Error & { code?: string }) => {
        errors.push(e.code ?? e.message);
        s.destroy();
        done();
      });
      s.on('end', () => {
        if (reply === `pong ${i}`) ok++;
        else errors.push(`bad reply ${JSON.stringify(reply)}`);
        s.destroy();
        done();
      });
    }
    break;
  }
  case 'download': {
    const hash = createHash('sha256');
    let received = 0;
    const s = open(() => ({ received }));
    s.on('connect', () => s.end());
    s.on('data', (d: Buffer) => {
      received += d.length;
      hash.update(d);
    });
    s.on('end', () => print({ received, sha256: hash.digest('hex') }));
    break;
  }
  case 'ask': {
    let received = 0;
    const s = open(() => ({ received }));
    const then = Number(rest(1) || Infinity);
    s.on('connect', () => s.write(rest(0)));
    s.on('data', (d: Buffer) => {
      const before = received;
      received += d.length;
      if (before < then && received >= then) s.write(rest(2));
    });
    s.on('end', () => {
      print({ received, eof: true });
      s.destroy();
    });
    break;
  }
  case 'sequential': {
    const count = Number(rest(0));
    let ok = 0;
    const errors: string[] = [];
    const one = (i: number) => {
      if (i === count) return print({ ok, errors: [...new Set(errors)] });
      const s = connect({ host: host!, port, allowHalfOpen: true });
      let reply = '';
      s.on('connect', () => s.end(`ping ${i}`));
      s.on('data', (d: Buffer) => (reply += d.toString()));
      s.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message));
      s.on('end', () => {
        if (reply === `pong ${i}`) ok++;
        else errors.push(`bad reply ${JSON.stringify(reply)}`);
      });
      s.on('close', () => one(i + 1));
    };
    one(0);
    break;
  }
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
