/**
 * The native fuzzer's program format, written from TypeScript: opcodes,
 * address and handle selectors, and Program, which encodes one program
 * byte for byte as test/fuzz/ops.c and packets.c decode it (the format is
 * documented in test/fuzz/harness.h). corpus.ts builds the seed corpus with
 * it.
 */
import { tryParseIp } from '../../src/stack/address.js';

/** Opcodes; the same values as enum fuzz_op in test/fuzz/harness.h. */
export const Op = {
  INPUT: 0,
  TCP: 1,
  ADVANCE: 2,
  PUMP: 3,
  LISTEN: 4,
  CONNECT: 5,
  WRITE: 6,
  CLOSE: 7,
  ABORT: 8,
  SHUTDOWN: 9,
  ACTIVE: 10,
  RECV: 11,
  LCLOSE: 12,
  SYN: 13,
  INFO: 14,
  OPTS: 15,
  RESERVE: 16,
  LIMITS: 17,
  NETIF: 18,
  BUF: 19,
  STATS: 20,
} as const;

/** OP_INPUT fix-up bits (harness.h FIX_*). */
export const Fix = { LEN: 1, IP: 2, L4: 4, ALL: 7 } as const;

/** Family codes of OP_LISTEN / OP_CONNECT. */
export const Family = { V4: 0, V6: 1, ANY: 2 } as const;

/** Address selectors: indexes into the harness's tables (ops.c v4[] / v6[]). */
export const V4 = ['10.0.0.1', '10.0.0.2', '10.0.1.1', '10.0.2.1', '10.0.2.77'];
export const V6 = ['fd00::1', 'fd00::2', 'fd01::1', 'fd02::1', 'fd02::77'];
export const NULL_ADDR = 0xfe;

/** Handle selectors pick pool[sel % size]: in the order handles appeared. */
export const H = { first: 0, second: 1, third: 2 } as const;

/** Builds one program in the harness's format (harness.h). */
export class Program {
  readonly #out: number[] = [];

  u8(v: number): this {
    this.#out.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.#out.push(x);
    return this;
  }

  input(netif: number, packet: Uint8Array, fix = 0): this {
    return this.u8(Op.INPUT).u8(netif).u8(fix).u16(packet.length).raw(packet);
  }

  advance(ms: number): this {
    const v = ms < 0xf000 ? Math.max(0, Math.round(ms)) : 0xf000 + Math.min(0xfff, ms >>> 20);
    return this.u8(Op.ADVANCE).u16(v);
  }

  pump(mode: number, n = 0): this {
    return this.u8(Op.PUMP).u8(mode).u8(n);
  }

  listen(family: number, addr: number, port: number, flags = 0, backlog = 8): this {
    return this.u8(Op.LISTEN).u8(family).u8(addr).u16(port).u8(backlog).u8(flags);
  }

  connect(family: number, addr: number, port: number, local = 0, localPort = 0): this {
    return this.u8(Op.CONNECT).u8(family).u8(addr).u16(port).u8(local).u16(localPort);
  }

  write(handle: number, len: number, mode = 0): this {
    return this.u8(Op.WRITE).u8(handle).u16(len).u8(mode);
  }

  /** CLOSE, ABORT, SHUTDOWN, ACTIVE, LCLOSE: a handle and nothing else. */
  call(op: number, handle: number, ...extra: number[]): this {
    this.u8(op).u8(handle);
    for (const e of extra) this.u8(e);
    return this;
  }

  tcp(f: TcpFields): this {
    const v6 = f.v6 ?? false;
    let mode = (v6 ? 1 : 0) | (f.aim ? 2 : 0) | (f.relSeq ? 4 : 0) | (f.relAck ? 8 : 0);
    if (f.badChecksum) mode |= 0x10;
    if (f.fragment !== undefined) mode |= 0x20;
    if (f.netif !== undefined) mode |= 0x80;
    this.u8(Op.TCP).u8(mode);
    if (f.netif !== undefined) this.u8(f.netif);
    this.u8(f.target ?? 0);
    this.#addr(v6, f.src);
    this.#addr(v6, f.dst);
    this.u16(f.sport)
      .u16(f.dport)
      .u32(f.seq >>> 0)
      .u32(f.ack >>> 0);
    this.u8(f.flags)
      .u16(f.window ?? 65535)
      .u16(0);
    const opts = f.options ?? new Uint8Array(0);
    this.u8(opts.length).raw(opts);
    if (f.fragment !== undefined) this.u8(f.fragment);
    // Payloads as a pattern of the recorded length: content does not steer lwIP.
    return this.u16(0x8000 | Math.min(f.payload ?? 0, 0x7fff));
  }

  #addr(v6: boolean, text: string): void {
    const i = (v6 ? V6 : V4).indexOf(text);
    if (i >= 0) {
      this.u8(i);
      return;
    }
    const ip = tryParseIp(text);
    if (!ip || ip.family !== (v6 ? 6 : 4))
      throw new Error(`not an IPv${v6 ? 6 : 4} address: ${text}`);
    this.u8(0xff).raw(ip.bytes);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.#out);
  }
}

export interface TcpFields {
  v6?: boolean;
  /** Aim at pcb number `target` (active, TIME_WAIT, then listening). */
  aim?: boolean;
  target?: number;
  relSeq?: boolean;
  relAck?: boolean;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window?: number;
  options?: Uint8Array;
  payload?: number;
  badChecksum?: boolean;
  fragment?: number;
  netif?: number;
}
