/**
 * Test helpers: two stacks on a memory link under one virtual clock,
 * waiting on events (never on sleeps), and byte utilities.
 */
import { createHash } from 'node:crypto';
import {
  Stack,
  VirtualClock,
  linkInterfaces,
  type NetInterface,
  type StackOptions,
  type TcpConnection,
  type TcpConnectionEvents,
} from '../../src/index.js';

export interface Pair {
  clock: VirtualClock;
  a: Stack;
  b: Stack;
  ia: NetInterface;
  ib: NetInterface;
  close(): void;
}

/** Two stacks, a (10.0.0.1, fd00::1) and b (10.0.0.2, fd00::2), linked in memory. */
export async function pair(
  options: { mtu?: number; a?: StackOptions; b?: StackOptions; link?: boolean } = {},
): Promise<Pair> {
  const clock = new VirtualClock();
  const a = await Stack.create({ clock, seed: 1, ...options.a });
  const b = await Stack.create({ clock, seed: 2, ...options.b });
  const mtu = options.mtu ?? 1500;
  const ia = a.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64', mtu });
  const ib = b.addInterface({ ipv4: '10.0.0.2/24', ipv6: 'fd00::2/64', mtu });
  if (options.link !== false) linkInterfaces(ia, ib);
  return {
    clock,
    a,
    b,
    ia,
    ib,
    close() {
      a.close();
      b.close();
    },
  };
}

/**
 * Advances virtual time until `done()` holds (checking after every timer
 * and every settled exchange); fails the test if it does not within `limitMs`
 * of virtual time.
 */
export async function until(
  clock: VirtualClock,
  done: () => boolean,
  what: string,
  limitMs = 600_000,
): Promise<void> {
  if (!(await clock.advanceUntil(done, limitMs)))
    throw new Error(`timed out (virtual ${limitMs} ms) waiting for ${what}`);
}

/** Records every event of a connection in order, as 'name' or 'name:detail'. */
export function record(conn: TcpConnection): string[] {
  const log: string[] = [];
  conn.on('becameActive', () => log.push('becameActive'));
  conn.on('readable', (d) => log.push(`readable:${d.length}`));
  conn.on('readEOF', () => log.push('readEOF'));
  conn.on('writable', () => log.push('writable'));
  conn.on('terminated', (r, e) => log.push(e ? `terminated:${r}:${e.code}` : `terminated:${r}`));
  return log;
}

/** Collects everything a connection reads. */
export function collect(conn: TcpConnection): {
  bytes(): Uint8Array;
  length(): number;
  eof(): boolean;
} {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let eof = false;
  conn.on('readable', (d) => {
    chunks.push(d);
    total += d.length;
  });
  conn.on('readEOF', () => (eof = true));
  return {
    bytes: () => concat(chunks),
    length: () => total,
    eof: () => eof,
  };
}

/** Writes all of `data`, waiting for `writable` edges; calls done() after the last byte was taken. */
export function writeAll(conn: TcpConnection, data: Uint8Array, done?: () => void): void {
  let off = 0;
  const pump = () => {
    while (off < data.length) {
      const n = conn.write(data.subarray(off, Math.min(data.length, off + (1 << 20))));
      if (n === 0) return;
      off += n;
    }
    conn.off('writable', pump);
    conn.off('becameActive', pump);
    done?.();
  };
  conn.on('writable', pump);
  if (conn.active) pump();
  else conn.on('becameActive', pump);
}

/** Deterministic pseudo-random bytes. */
export function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resolves with the arguments of the next `event` of `conn`. */
export function next<K extends keyof TcpConnectionEvents>(
  conn: TcpConnection,
  event: K,
): Promise<TcpConnectionEvents[K]> {
  return new Promise((resolve) =>
    conn.once(event, (...args: TcpConnectionEvents[K]) => resolve(args)),
  );
}
