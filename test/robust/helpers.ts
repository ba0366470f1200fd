/**
 * Helpers of the robustness tests (floods, limits, misuse, soak, scale):
 * a seeded random source, crafted SYN floods, paced transfers whose bytes
 * are checked at the end, and a seeded lossy wire between two interfaces.
 * Everything is deterministic for a given seed, so a failure replays.
 */
import type { Test } from 'uvu';
import { craftTcp, type NetInterface, type Stack, type TcpConnection } from '../../src/index.js';
import { sha256 } from '../helpers/net.js';
import { testUnless } from '../helpers/skip.js';

/** splitmix32: small, fast, and good enough to pick addresses and losses. */
export class Rng {
  #x: number;
  constructor(seed: number) {
    this.#x = seed >>> 0;
  }
  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    let z = (this.#x = (this.#x + 0x9e3779b9) | 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
  /** A uniform float in [0, 1). */
  float(): number {
    return this.u32() / 0x100000000;
  }
  /** A uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }
}

/**
 * `count` SYNs to `dst`:`dstPort` from random unicast IPv4 sources outside
 * 10/8 (the test networks) and random ports, as a spoofing attacker sends them.
 */
export function craftSynFlood(rng: Rng, count: number, dst: string, dstPort: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    let first = rng.int(1, 223);
    if (first === 10 || first === 127) first = 11;
    const src = `${first}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
    out.push(
      craftTcp({
        src,
        dst,
        srcPort: rng.int(1024, 65535),
        dstPort,
        seq: rng.u32(),
        flags: 'S',
        window: 65535,
        options: { mss: 1460 },
      }),
    );
  }
  return out;
}

/**
 * Deterministic bytes of a stream: byte i of stream `id` is a function of
 * (id, i), so any slice can be produced or checked on its own without
 * keeping the data.
 */
export function streamBytes(id: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const k = offset + i;
    out[i] = (Math.imul(k ^ (k >>> 7), 0x9e3779b1) + Math.imul(id, 0x85ebca6b)) >>> 24;
  }
  return out;
}

/**
 * Checks a received stream incrementally against streamBytes(id, ...):
 * `take` every chunk as it arrives; `bad` counts mismatched bytes.
 */
export class StreamCheck {
  received = 0;
  bad = 0;
  constructor(readonly id: number) {}
  take(chunk: Uint8Array): void {
    const want = streamBytes(this.id, this.received, chunk.length);
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== want[i]) this.bad++;
    this.received += chunk.length;
  }
}

/**
 * A sender that writes stream `id` in steps: each step() queues up to
 * `perStep` more bytes (as far as the send buffer takes them), so a
 * transfer is spread over virtual time instead of finishing in one settle.
 */
export class PacedWriter {
  sent = 0;
  constructor(
    readonly conn: TcpConnection,
    readonly id: number,
    readonly total: number,
    readonly perStep: number,
  ) {}
  get done(): boolean {
    return this.sent >= this.total;
  }
  step(): void {
    if (!this.conn.active || !this.conn.alive || this.conn.writeEnded) return;
    let budget = Math.min(this.perStep, this.total - this.sent);
    while (budget > 0) {
      const n = this.conn.write(streamBytes(this.id, this.sent, budget));
      if (n === 0) break;
      this.sent += n;
      budget -= n;
    }
  }
}

/** Impairments of one direction of the lossy wire. */
export interface WireFaults {
  loss?: number;
  duplicate?: number;
  /** Probability that a batch of packets is delivered in reverse order. */
  reorder?: number;
}

/**
 * A seeded lossy wire between two interfaces: packets are dropped,
 * duplicated or reordered (within a batch) by chance, then delivered on a
 * later turn while the clock is held, like linkInterfaces. `cut` drops
 * everything (a partition) until set back to false.
 */
export class LossyWire {
  cut = false;
  faults: WireFaults;
  readonly stats = { sent: 0, dropped: 0, delivered: 0 };
  #closed = false;

  constructor(
    readonly a: NetInterface,
    readonly b: NetInterface,
    readonly rng: Rng,
    faults: WireFaults,
  ) {
    this.faults = faults;
    a.onOutput((packets) => this.#carry(packets, b));
    b.onOutput((packets) => this.#carry(packets, a));
  }

  close(): void {
    this.#closed = true;
    this.a.onOutput(undefined);
    this.b.onOutput(undefined);
  }

  #carry(packets: Uint8Array[], to: NetInterface): void {
    const out: Uint8Array[] = [];
    const f = this.faults;
    for (const p of packets) {
      this.stats.sent++;
      if (this.cut || this.rng.chance(f.loss ?? 0)) {
        this.stats.dropped++;
        continue;
      }
      out.push(p);
      if (this.rng.chance(f.duplicate ?? 0)) out.push(p);
    }
    if (out.length > 1 && this.rng.chance(f.reorder ?? 0)) out.reverse();
    if (out.length === 0) return;
    const release = to.clock.hold();
    setImmediate(() => {
      try {
        if (!this.#closed && !to.removed) {
          this.stats.delivered += out.length;
          to.inputMany(out);
        }
      } finally {
        release();
      }
    });
  }
}

/** sha256 of a whole stream, for end-to-end checks of smaller transfers. */
export function streamDigest(id: number, length: number): string {
  return sha256(streamBytes(id, 0, length));
}

/**
 * A test that documents a bug in the stack: it asserts the behaviour the
 * issue asks for and fails today, so it is registered as skipped (printing
 * the bug) unless LWIP_WASM_KNOWN_BUGS=1, which runs it to show the failure.
 */
export function knownBug(test: Test, bug: string, name: string, fn: () => Promise<void>): void {
  testUnless(
    test,
    process.env.LWIP_WASM_KNOWN_BUGS === '1'
      ? undefined
      : `documents a bug (${bug}); LWIP_WASM_KNOWN_BUGS=1 runs it`,
    `[bug] ${name}`,
    fn,
  );
}

type Exports = {
  lw_buf_alloc(size: number): number;
  lw_buf_free(ptr: number): number;
};

/** The stack's internal call(), for tests that must reach the WASM exports. */
function internal(stack: Stack): { call<T>(op: string, fn: (x: Exports) => T): T } {
  return stack as unknown as { call<T>(op: string, fn: (x: Exports) => T): T };
}

/**
 * Takes (almost) every byte the stack's C heap can still get, as if WASM
 * memory could not grow any further: greedy allocations from 1 GiB down to
 * 16 bytes (the module's memory maximum is 2 GiB; the big blocks are never
 * touched, so they cost address space, not RAM). `reserve` bytes are set
 * aside first and freed at the end, leaving about that much free. Returns
 * the function that gives everything back.
 */
export function exhaustHeap(stack: Stack, reserve = 0): () => void {
  const taken = internal(stack).call('test: exhaust heap', (x) => {
    const r = reserve > 0 ? x.lw_buf_alloc(reserve) : 0;
    const ptrs: number[] = [];
    // lw_buf_alloc keeps at most 64 buffers; the runtime holds two.
    for (let size = 1 << 30; size >= 16 && ptrs.length < 56;) {
      const ptr = x.lw_buf_alloc(size);
      if (ptr) ptrs.push(ptr);
      else size >>>= 1;
    }
    if (r) x.lw_buf_free(r);
    return ptrs;
  });
  return () => {
    if (stack.isOpen)
      internal(stack).call('test: release heap', (x) => {
        for (const ptr of taken) x.lw_buf_free(ptr);
      });
  };
}
