/**
 * A packet interface of a stack: raw IPv4/IPv6 packets go in with input()
 * and come out through the onOutput() receiver. What carries them (a memory
 * link, a TUN device, a simulator) is the caller's business.
 *
 * Ownership: every packet handed to the receiver is a fresh copy the
 * receiver owns; it never aliases WASM memory and never changes. Small
 * packets are views into a pooled buffer shared with other packets, so to
 * transfer one to a worker, transfer `packet.slice().buffer`. input() copies
 * too, so the caller may reuse its buffer as soon as input() returns.
 */
import type { Cidr } from './address.js';
import type { Clock } from './clock.js';
import type { StackHost } from './host.js';
import { StackError } from './errors.js';
import { rethrowLater } from '../util/emitter.js';

/** Receives outgoing packets, in order, in batches. */
export type OutputReceiver = (packets: Uint8Array[]) => void;

/**
 * Observes every packet crossing an interface (for captures and traces):
 * 'in' as input() takes it, before the stack sees it; 'out' as it is handed
 * to the receiver (also when no receiver is set). The packet is shared with
 * the sender or the receiver: read it during the call, copy it to keep it,
 * never modify it. A tap that throws is reported asynchronously and does not
 * disturb the packet's way.
 */
export type PacketTap = (packet: Uint8Array, direction: 'in' | 'out') => void;

/** Options of Stack.addInterface. */
export interface InterfaceOptions {
  /** IPv4 address with prefix, e.g. '10.0.0.1/24'. */
  ipv4?: string;
  /** IPv6 address with prefix, e.g. 'fd00::1/64'. */
  ipv6?: string;
  /** 576..65535; default 1500. Large MTUs give big segments (window scaling is always on). */
  mtu?: number;
  /**
   * Take TCP to any destination address, not just this interface's own
   * (for transparent proxies; see ListenOptions.transparent). Other protocols
   * are still only answered for the interface's own addresses.
   */
  transparent?: boolean;
}

/** Counters of one interface. */
export interface InterfaceCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Outgoing packets dropped because no receiver was registered. */
  outputDropped: number;
}

const BATCH_PACKETS = 1024;

export class NetInterface {
  /** The stack's id for this interface. */
  readonly id: number;
  readonly mtu: number;
  readonly ipv4: Cidr | undefined;
  readonly ipv6: Cidr | undefined;
  readonly counters: InterfaceCounters = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    outputDropped: 0,
  };
  readonly #host: StackHost;
  #receiver: OutputReceiver | undefined;
  #transient = false;
  #taps: PacketTap[] = [];
  #pending: Uint8Array[] = [];
  #removed = false;

  /** @internal Created by Stack.addInterface. */
  constructor(host: StackHost, id: number, mtu: number, ipv4?: Cidr, ipv6?: Cidr) {
    this.#host = host;
    this.id = id;
    this.mtu = mtu;
    this.ipv4 = ipv4;
    this.ipv6 = ipv6;
  }

  /** Takes one raw IPv4 or IPv6 packet. Malformed packets are dropped and counted by the stack. */
  input(packet: Uint8Array): void {
    if (!(packet instanceof Uint8Array))
      throw StackError.invalidArgument('NetInterface.input', 'packet', 'must be a Uint8Array');
    if (this.#removed) return;
    this.counters.packetsIn++;
    this.counters.bytesIn += packet.length;
    this.#tap(packet, 'in');
    this.#host.call('NetInterface.input', (x, rt) => {
      const ptr = rt.copyIn(packet);
      x.lw_netif_input(this.id, ptr, packet.length);
    });
  }

  /** Takes a batch of packets in order (cheaper than one input() each). */
  inputMany(packets: readonly Uint8Array[]): void {
    if (!Array.isArray(packets))
      throw StackError.invalidArgument(
        'NetInterface.inputMany',
        'packets',
        'must be an array of Uint8Array',
      );
    for (let i = 0; i < packets.length; i++) {
      if (!(packets[i] instanceof Uint8Array))
        throw StackError.invalidArgument(
          'NetInterface.inputMany',
          `packets[${i}]`,
          'must be a Uint8Array',
        );
    }
    if (this.#removed || packets.length === 0) return;
    if (this.#taps.length > 0) for (const p of packets) this.#tap(p, 'in');
    for (let start = 0; start < packets.length; start += BATCH_PACKETS) {
      this.#inputBatch(packets, start, Math.min(packets.length, start + BATCH_PACKETS));
    }
  }

  /** Copies packets straight into pbufs the glue reserved (wasm/abi.h, lw_input_reserve). */
  #inputBatch(packets: readonly Uint8Array[], start: number, end: number): void {
    const count = end - start;
    this.#host.call('NetInterface.inputMany', (x, rt) => {
      const base = rt.scratch(count * 8);
      let words = rt.u32();
      for (let i = 0; i < count; i++) {
        const p = packets[start + i]!;
        words[(base >>> 2) + i] = p.length;
        this.counters.packetsIn++;
        this.counters.bytesIn += p.length;
      }
      x.lw_input_reserve(base, base + count * 4, count);
      const mem = rt.u8(); // the reservation may have grown memory
      words = rt.u32();
      for (let i = 0; i < count; i++) {
        const ptr = words[(base >>> 2) + count + i]!;
        if (ptr !== 0) mem.set(packets[start + i]!, ptr);
      }
      x.lw_input_commit(this.id, count);
    });
  }

  /**
   * Registers the receiver of outgoing packets (replacing any previous one).
   * It is called after the stack's work returns, never from inside WASM.
   * Without a receiver, outgoing packets are dropped and counted.
   */
  onOutput(receiver: OutputReceiver | undefined): void {
    if (receiver !== undefined && typeof receiver !== 'function')
      throw StackError.invalidArgument('NetInterface.onOutput', 'receiver', 'must be a function');
    this.#receiver = receiver;
    this.#transient = false;
  }

  /**
   * @internal Like onOutput, for a receiver that is done with each batch
   * when it has called releaseOutput(batch) (a memory link, which copies the
   * packets into the other stack): the packets are pooled copies, reused
   * after release, so they must not be read afterwards. A packet never
   * released is collected as usual.
   */
  onTransientOutput(receiver: OutputReceiver): void {
    this.#receiver = receiver;
    this.#transient = true;
  }

  /** @internal Whether outgoing packets are transient copies (see onTransientOutput). */
  get transientOutput(): boolean {
    return this.#transient;
  }

  /** @internal Gives back a batch received through onTransientOutput. */
  releaseOutput(packets: readonly Uint8Array[]): void {
    if (this.#transient) this.#host.releaseOutput(packets);
  }

  /** Adds a tap that sees every packet in and out, in order; returns the function that removes it. */
  addTap(tap: PacketTap): () => void {
    if (typeof tap !== 'function')
      throw StackError.invalidArgument('NetInterface.addTap', 'tap', 'must be a function');
    this.#taps = [...this.#taps, tap];
    return () => {
      this.#taps = this.#taps.filter((t) => t !== tap);
    };
  }

  #tap(packet: Uint8Array, direction: 'in' | 'out'): void {
    for (const tap of this.#taps) {
      try {
        tap(packet, direction);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  /** Detaches the interface from the stack; later input is ignored. */
  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    this.#pending = [];
    this.#host.removeInterface(this);
  }

  /** True after remove() or after the stack closed. */
  get removed(): boolean {
    return this.#removed || !this.#host.isOpen;
  }

  /** @internal The clock of this interface's stack (links hold it while packets are in flight). */
  get clock(): Clock {
    return this.#host.clock;
  }

  /** @internal A packet from WASM (already a copy). Returns true if it was the first pending one. */
  queueOutput(packet: Uint8Array): boolean {
    this.counters.packetsOut++;
    this.counters.bytesOut += packet.length;
    this.#pending.push(packet);
    return this.#pending.length === 1;
  }

  /** @internal Hands pending packets to the receiver. */
  flushOutput(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    if (this.#taps.length > 0) for (const p of batch) this.#tap(p, 'out');
    if (!this.#receiver || this.#removed) {
      this.counters.outputDropped += batch.length;
      return;
    }
    this.#receiver(batch);
  }
}
