/**
 * PacketProbe: a test plays the peer of one stack interface packet by
 * packet. It takes the interface's output (replacing any receiver), records
 * both directions with the stack clock's time, injects crafted packets, and
 * waits for the next output event-driven: it lets in-flight work settle and
 * then moves the VirtualClock only as far as the next timer that produces a
 * packet. Nothing sleeps, so a test of a 60-second backoff runs in
 * milliseconds and replays exactly.
 *
 *   const probe = new PacketProbe(iface);
 *   probe.inject(craftTcp({ ..., flags: 'S' }));
 *   const synAck = await probe.expectNext(ipv4({ src: '10.0.0.1' }), tcp({ flags: 'SA' }));
 */
import { VirtualClock, type Clock } from '../stack/clock.js';
import type { NetInterface } from '../stack/interface.js';
import { describePacket } from './describe.js';
import { expectPacket, mismatches, type PacketMatcher } from './match.js';
import type { ParsedPacket } from './parse.js';

/** One packet the probe saw: injected ('in') or emitted by the stack ('out'). */
export interface ProbeRecord {
  /** Stack clock time in ms. */
  at: number;
  direction: 'in' | 'out';
  /** The probe's own copy. */
  packet: Uint8Array;
}

/** Options of PacketProbe. */
export interface PacketProbeOptions {
  /** The clock to wait on; default the interface's stack clock (must be a VirtualClock to wait). */
  clock?: Clock;
  /** How much virtual time a wait may take before it fails; default 600 000 ms. */
  limitMs?: number;
}

/** Drives one interface from a test: inject, then expect what comes out. */
export class PacketProbe {
  readonly iface: NetInterface;
  readonly clock: Clock;
  /** Everything seen so far, both directions, in order. */
  readonly log: ProbeRecord[] = [];
  readonly #limitMs: number;
  readonly #unread: ProbeRecord[] = [];
  #closed = false;

  /** Attaches to `iface` as its output receiver. */
  constructor(iface: NetInterface, options: PacketProbeOptions = {}) {
    this.iface = iface;
    this.clock = options.clock ?? iface.clock;
    this.#limitMs = options.limitMs ?? 600_000;
    iface.onOutput((packets) => {
      if (this.#closed) return;
      const at = this.clock.now();
      for (const packet of packets) {
        const record: ProbeRecord = { at, direction: 'out', packet };
        this.log.push(record);
        this.#unread.push(record);
      }
    });
  }

  /** Hands packets to the stack now (in order), recording them. The probe keeps copies. */
  inject(...packets: Uint8Array[]): void {
    for (const packet of packets) {
      this.log.push({ at: this.clock.now(), direction: 'in', packet: packet.slice() });
      this.iface.input(packet);
    }
  }

  /** Output packets received and not yet taken. */
  get pending(): number {
    return this.#unread.length;
  }

  /** The next output packet not yet taken, without waiting. */
  take(): Uint8Array | undefined {
    return this.#unread.shift()?.packet;
  }

  /** Every output packet not yet taken, without waiting. */
  takeAll(): Uint8Array[] {
    return this.#unread.splice(0).map((r) => r.packet);
  }

  /** Lets work in flight at the current instant finish (delivers pending output). */
  async settle(): Promise<void> {
    if (this.clock instanceof VirtualClock) await this.clock.settle();
    else await new Promise<void>((resolve) => queueMicrotask(resolve));
  }

  /** Moves virtual time forward by `ms`, firing the stack's timers on the way. */
  async advance(ms: number): Promise<void> {
    await this.#virtual('advance').advance(ms);
  }

  /**
   * The next output packet with its record, advancing virtual time up to
   * `limitMs` if nothing is pending. Throws (with the recent trace) when
   * nothing comes.
   */
  async nextRecord(limitMs = this.#limitMs): Promise<ProbeRecord> {
    if (this.#unread.length === 0) await this.settle();
    if (this.#unread.length === 0) {
      const clock = this.#virtual('next');
      const start = clock.now();
      const ok = await clock.advanceUntil(() => this.#unread.length > 0, limitMs);
      if (!ok)
        throw new Error(
          `PacketProbe: no packet from the stack within ${limitMs} ms of virtual time ` +
            `(waited from ${start} to ${clock.now()} ms)\n${this.trace(8)}`,
        );
    }
    return this.#unread.shift()!;
  }

  /** The next output packet (see nextRecord). */
  async next(limitMs = this.#limitMs): Promise<Uint8Array> {
    return (await this.nextRecord(limitMs)).packet;
  }

  /**
   * Waits for the next output packet and asserts it satisfies every matcher;
   * returns it parsed. Throws PacketMismatchError naming each wrong field.
   */
  async expectNext(...matchers: PacketMatcher[]): Promise<ParsedPacket> {
    return expectPacket(await this.next(), ...matchers);
  }

  /**
   * Waits for the first output packet satisfying every matcher, dropping
   * the ones before it; returns it parsed. Throws when none comes in `limitMs`.
   */
  async waitFor(matchers: PacketMatcher[], limitMs = this.#limitMs): Promise<ParsedPacket> {
    const end = this.clock.now() + limitMs;
    for (;;) {
      const remaining = Math.max(0, end - this.clock.now());
      const packet = await this.next(remaining);
      if (mismatches(packet, ...matchers).length === 0) return expectPacket(packet, ...matchers);
    }
  }

  /**
   * Lets `ms` of virtual time pass and asserts the stack sent nothing
   * (nothing pending either). Throws listing what it sent.
   */
  async expectNone(ms = 0): Promise<void> {
    if (ms > 0) await this.advance(ms);
    else await this.settle();
    if (this.#unread.length > 0)
      throw new Error(
        `PacketProbe: expected no packet within ${ms} ms, got:\n  ` +
          this.#unread.map((r) => `${r.at} ${describePacket(r.packet)}`).join('\n  '),
      );
  }

  /** The last `count` records (all by default), one line each: time, direction, packet. */
  trace(count = Infinity): string {
    const records = count === Infinity ? this.log : this.log.slice(-count);
    return records
      .map(
        (r) =>
          `${r.at.toFixed(0).padStart(8)} ms ${r.direction === 'in' ? '>>' : '<<'} ${describePacket(r.packet)}`,
      )
      .join('\n');
  }

  /** Stops receiving (the interface's output is dropped afterwards). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.iface.onOutput(undefined);
  }

  #virtual(operation: string): VirtualClock {
    if (!(this.clock instanceof VirtualClock))
      throw new Error(`PacketProbe.${operation}: waiting needs a VirtualClock on the stack`);
    return this.clock;
  }
}
