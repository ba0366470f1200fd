/**
 * A simulated wire between two interfaces with seeded impairments per
 * direction: the memory link of src/stack/link.ts plus the fault model of
 * impairments.ts and the scripted faults of script.ts.
 *
 * Timing: a packet whose arrival time is now (no delay) is delivered on a
 * later event-loop turn while the link holds the clock, exactly like
 * linkInterfaces, so virtual time does not move past it. A packet with a
 * later arrival time waits in a queue ordered by (arrival, send order), and
 * the link asks the clock to wake it then (clock.schedule): under a
 * VirtualClock it arrives at its exact virtual instant, and the clock jumps
 * over the idle time in between; under a RealClock a host timer wakes it.
 * The same code serves both.
 *
 * Observers see every packet as it is sent, dropped (with the reason) and
 * delivered (trace.ts builds packet traces from these events).
 */
import type { Clock, TimerClient } from '../stack/clock.js';
import { StackError } from '../stack/errors.js';
import type { NetInterface } from '../stack/interface.js';
import { nextTurn } from '../util/yield.js';
import { rethrowLater } from '../util/emitter.js';
import { DirectionFaults, type DropReason, type Impairments } from './impairments.js';
import { SimRandom, checkSeed } from './random.js';
import { Script, packetInfo, type LinkDirection, type ScriptRule } from './script.js';

/** Options of impairLink(): impairments for both directions, with per-direction overrides. */
export interface ImpairedLinkOptions extends Impairments {
  /** Fields that override the shared ones for packets a sends to b. */
  ab?: Impairments;
  /** Fields that override the shared ones for packets b sends to a. */
  ba?: Impairments;
  /** Scripted faults (script.ts), evaluated in send order before the random impairments. */
  script?: readonly ScriptRule[];
  /** Seed of every random choice of this link (default 1). */
  seed?: number;
  /** Zero-delay packets delivered per event-loop turn and direction (default 1024). */
  batch?: number;
  /** Clock that times delays (default: a's stack clock; give both stacks the same clock). */
  clock?: Clock;
}

/** One thing that happened to a packet on the link. */
export interface LinkEvent {
  kind: 'send' | 'drop' | 'deliver';
  direction: LinkDirection;
  /** Link clock time (ms). */
  time: number;
  /** 1-based send index of the packet in its direction. */
  index: number;
  /**
   * 'send' and 'drop': the packet as the stack sent it; 'deliver': the bytes
   * delivered (a corrupted copy when `corrupted`). Shared: do not modify.
   */
  packet: Uint8Array;
  /** For 'drop'. */
  reason?: DropReason;
  /** For 'deliver': one bit was flipped. */
  corrupted?: boolean;
  /** For 'deliver': an extra copy. */
  duplicate?: boolean;
  /** For 'deliver': held back so later packets overtook it. */
  reordered?: boolean;
}

/** Receives link events synchronously; must not throw (a throw is reported asynchronously). */
export type LinkObserver = (event: LinkEvent) => void;

/** Counters of one direction. */
export interface LinkDirectionStats {
  /** Packets the sending stack emitted. */
  sent: number;
  bytesSent: number;
  /** Copies handed to the receiving stack (duplicates count, corrupted ones too). */
  delivered: number;
  bytesDelivered: number;
  dropped: Record<DropReason, number>;
  /** Extra copies delivered. */
  duplicated: number;
  /** Copies delivered with a flipped bit. */
  corrupted: number;
  /** Copies held back and overtaken. */
  reordered: number;
  /** Copies waiting to be delivered now. */
  inFlight: number;
}

/** A running impaired link. close() stops it and drops what is in flight. */
export interface ImpairedLink {
  readonly a: NetInterface;
  readonly b: NetInterface;
  /** Live counters per direction. */
  readonly stats: { readonly ab: LinkDirectionStats; readonly ba: LinkDirectionStats };
  /** Adds an observer of every send, drop and delivery; returns the function that removes it. */
  observe(observer: LinkObserver): () => void;
  /** Detaches both interfaces and drops the packets in flight (counted as dropped 'closed'). */
  close(): void;
  readonly closed: boolean;
}

interface Pending {
  packet: Uint8Array;
  at: number;
  seq: number;
  index: number;
  corrupted: boolean;
  duplicate: boolean;
  reordered: boolean;
}

/** A binary min-heap of pending copies by (at, seq): equal times keep send order. */
class ArrivalQueue {
  readonly #items: Pending[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): Pending | undefined {
    return this.#items[0];
  }

  push(item: Pending): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Pending | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }

  drain(): Pending[] {
    return this.#items.splice(0);
  }
}

function before(x: Pending, y: Pending): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

function emptyStats(): LinkDirectionStats {
  return {
    sent: 0,
    bytesSent: 0,
    delivered: 0,
    bytesDelivered: 0,
    dropped: { script: 0, mtu: 0, loss: 0, queue: 0, closed: 0 },
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
    inFlight: 0,
  };
}

/** State shared by both lanes of one link. */
interface Shared {
  clock: Clock;
  script: Script;
  observers: LinkObserver[];
  linkIndex: number;
  seq: number;
  closed: boolean;
}

/** One direction of the link. */
class Lane implements TimerClient {
  readonly stats = emptyStats();
  #index = 0;
  #now: Pending[] = [];
  #nowHead = 0;
  #turnScheduled = false;
  #releases: (() => void)[] = [];
  readonly #later = new ArrivalQueue();
  #wakeAt = Infinity;

  constructor(
    readonly name: LinkDirection,
    readonly from: NetInterface,
    readonly to: NetInterface,
    readonly faults: DirectionFaults,
    readonly shared: Shared,
    readonly batch: number,
  ) {}

  send(packets: Uint8Array[]): void {
    const s = this.shared;
    // A perfect direction without a script skips the fault model (the common busy case).
    const plain = this.faults.perfect && s.script.empty;
    for (const packet of packets) {
      if (s.closed) return;
      const now = s.clock.now();
      const index = ++this.#index;
      const linkIndex = ++s.linkIndex;
      this.stats.sent++;
      this.stats.bytesSent += packet.length;
      if (s.observers.length > 0)
        this.#emit({ kind: 'send', direction: this.name, time: now, index, packet });
      if (plain) {
        this.stats.inFlight++;
        this.#pushNow({
          packet,
          at: now,
          seq: ++s.seq,
          index,
          corrupted: false,
          duplicate: false,
          reordered: false,
        });
        continue;
      }
      const effect = s.script.empty
        ? undefined
        : s.script.evaluate(packet, packetInfo(packet, this.name, index, linkIndex, now));
      const decision = this.faults.decide(packet, now, effect);
      if (decision.dropped !== undefined) {
        this.#drop(packet, index, decision.dropped, now);
        continue;
      }
      for (const a of decision.arrivals) {
        const item: Pending = {
          packet: a.packet,
          at: a.at,
          seq: ++s.seq,
          index,
          corrupted: a.corrupted,
          duplicate: a.duplicate,
          reordered: a.reordered,
        };
        this.stats.inFlight++;
        if (a.at <= now) this.#pushNow(item);
        else this.#pushLater(item);
      }
    }
  }

  #drop(packet: Uint8Array, index: number, reason: DropReason, time: number): void {
    this.stats.dropped[reason]++;
    if (this.shared.observers.length > 0)
      this.#emit({ kind: 'drop', direction: this.name, time, index, packet, reason });
  }

  #emit(event: LinkEvent): void {
    for (const o of this.shared.observers) {
      try {
        o(event);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  // ---- zero-delay deliveries: a later turn, holding the clock ----

  #pushNow(item: Pending): void {
    this.#now.push(item);
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    const clocks = new Set([this.shared.clock, this.from.clock, this.to.clock]);
    this.#releases = [...clocks].map((c) => c.hold());
    nextTurn(() => this.#deliverNow());
  }

  #deliverNow(): void {
    if (this.shared.closed) return this.#releaseHolds();
    const end = Math.min(this.#now.length, this.#nowHead + this.batch);
    const items = this.#now.slice(this.#nowHead, end);
    this.#nowHead = end;
    if (this.#nowHead === this.#now.length) {
      this.#now = [];
      this.#nowHead = 0;
    }
    this.#deliver(items);
    if (this.#now.length > 0 && !this.shared.closed) {
      nextTurn(() => this.#deliverNow());
      return;
    }
    this.#releaseHolds();
  }

  #releaseHolds(): void {
    this.#turnScheduled = false;
    const releases = this.#releases;
    this.#releases = [];
    for (const r of releases) r();
  }

  // ---- delayed deliveries: a clock deadline ----

  #pushLater(item: Pending): void {
    this.#later.push(item);
    this.#arm();
  }

  #arm(): void {
    const top = this.#later.peek();
    if (!top) {
      if (this.#wakeAt !== Infinity) this.shared.clock.cancel(this);
      this.#wakeAt = Infinity;
      return;
    }
    if (top.at === this.#wakeAt) return;
    this.#wakeAt = top.at;
    this.shared.clock.schedule(this, top.at);
  }

  /** @internal TimerClient: the earliest delayed copy is due. */
  fire(): void {
    this.#wakeAt = Infinity;
    if (this.shared.closed) return;
    const now = this.shared.clock.now();
    const due: Pending[] = [];
    for (let top = this.#later.peek(); top && top.at <= now; top = this.#later.peek())
      due.push(this.#later.pop()!);
    this.#deliver(due);
    this.#arm();
  }

  // ---- both ----

  #deliver(items: Pending[]): void {
    if (items.length === 0) return;
    const time = this.shared.clock.now();
    this.stats.inFlight -= items.length;
    if (this.to.removed) {
      for (const it of items) this.#drop(it.packet, it.index, 'closed', time);
      return;
    }
    const observed = this.shared.observers.length > 0;
    const packets: Uint8Array[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      this.stats.delivered++;
      this.stats.bytesDelivered += it.packet.length;
      if (it.duplicate) this.stats.duplicated++;
      if (it.corrupted) this.stats.corrupted++;
      if (it.reordered) this.stats.reordered++;
      if (observed)
        this.#emit({
          kind: 'deliver',
          direction: this.name,
          time,
          index: it.index,
          packet: it.packet,
          corrupted: it.corrupted,
          duplicate: it.duplicate,
          reordered: it.reordered,
        });
      packets[i] = it.packet;
    }
    try {
      this.to.inputMany(packets);
    } catch (error) {
      if (!(error instanceof StackError)) throw error;
      // The receiving stack closed or failed meanwhile: lost, as on a cut wire.
    }
  }

  /** Drops everything in flight (link closed). */
  close(): void {
    const time = this.shared.clock.now();
    const pending = [...this.#now.slice(this.#nowHead), ...this.#later.drain()];
    this.#now = [];
    this.#nowHead = 0;
    this.shared.clock.cancel(this);
    this.#wakeAt = Infinity;
    this.stats.inFlight = 0;
    for (const it of pending) this.#drop(it.packet, it.index, 'closed', time);
    this.#releaseHolds();
  }
}

const SHARED_KEYS = new Set([
  'loss',
  'delay',
  'jitter',
  'reorder',
  'duplicate',
  'corrupt',
  'bandwidth',
  'mtu',
]);

function directionImpairments(options: ImpairedLinkOptions, own?: Impairments): Impairments {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (SHARED_KEYS.has(k)) out[k] = v;
  return { ...(out as Impairments), ...own };
}

/**
 * Connects two interfaces with an impaired wire; each interface's output
 * receiver is replaced. Throws RangeError/TypeError naming a bad option.
 * The same options, seed and traffic give the same drops, copies, flipped
 * bits and arrival times.
 */
export function impairLink(
  a: NetInterface,
  b: NetInterface,
  options: ImpairedLinkOptions = {},
): ImpairedLink {
  if (a === b) throw new RangeError('impairLink: a and b must be different interfaces');
  const known = new Set([...SHARED_KEYS, 'ab', 'ba', 'script', 'seed', 'batch', 'clock']);
  for (const key of Object.keys(options))
    if (!known.has(key)) throw new RangeError(`impairLink: unknown option '${key}'`);
  const batch = options.batch ?? 1024;
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError('impairLink: batch must be a positive integer');
  const rng = new SimRandom(checkSeed(options.seed ?? 1, 'impairLink'));
  const shared: Shared = {
    clock: options.clock ?? a.clock,
    script: new Script(options.script ?? []),
    observers: [],
    linkIndex: 0,
    seq: 0,
    closed: false,
  };
  const faultsAb = new DirectionFaults(directionImpairments(options, options.ab), rng.fork('ab'));
  const faultsBa = new DirectionFaults(directionImpairments(options, options.ba), rng.fork('ba'));
  const ab = new Lane('ab', a, b, faultsAb, shared, batch);
  const ba = new Lane('ba', b, a, faultsBa, shared, batch);
  a.onOutput((packets) => ab.send(packets));
  b.onOutput((packets) => ba.send(packets));
  return {
    a,
    b,
    stats: { ab: ab.stats, ba: ba.stats },
    observe(observer) {
      if (typeof observer !== 'function')
        throw new TypeError('ImpairedLink.observe: observer must be a function');
      shared.observers = [...shared.observers, observer];
      return () => {
        shared.observers = shared.observers.filter((o) => o !== observer);
      };
    },
    close() {
      if (shared.closed) return;
      shared.closed = true;
      a.onOutput(undefined);
      b.onOutput(undefined);
      ab.close();
      ba.close();
    },
    get closed() {
      return shared.closed;
    },
  };
}
