/**
 * An in-memory link between two interfaces (of the same or different
 * stacks). Delivery is asynchronous and ordered: packets an interface emits
 * are queued and handed to the other side after the sender's work returned,
 * at most `batch` per delivery. Deliveries chain on microtasks (low latency
 * for request/response traffic) but every CHAIN_LIMIT deliveries, across
 * all links, the chain yields a full event-loop turn, so a packet storm
 * cannot starve timers or I/O.
 * Under a VirtualClock the link holds the clock while packets are in
 * flight, so virtual time does not move past them.
 */
import { microtask, nextTurn } from '../util/yield.js';

/** Deliveries that may follow each other on microtasks before yielding a turn. */
const CHAIN_LIMIT = 64;
let chained = 0;

/** Runs `fn` soon: on a microtask while the chain is short, else on the next turn. */
function schedule(fn: () => void): void {
  if (chained < CHAIN_LIMIT) {
    chained++;
    microtask(fn);
    return;
  }
  nextTurn(() => {
    chained = 0;
    fn();
  });
}
import { StackError } from './errors.js';
import { rethrowLater } from '../util/emitter.js';
import type { NetInterface } from './interface.js';

export interface LinkOptions {
  /** Packets delivered per event-loop turn and direction (default 1024). */
  batch?: number;
}

/** A running link; close() stops it and drops what is in flight. */
export interface Link {
  close(): void;
  /** Packets delivered so far, each direction. */
  readonly delivered: { aToB: number; bToA: number };
}

class Direction {
  #queue: Uint8Array[] = [];
  #head = 0;
  #scheduled = false;
  #releaseFrom: (() => void) | undefined;
  #releaseTo: (() => void) | undefined;
  delivered = 0;
  closed = false;

  constructor(
    readonly from: NetInterface,
    readonly to: NetInterface,
    readonly batch: number,
  ) {}

  push(packets: Uint8Array[]): void {
    if (this.closed) return;
    // The batch array is ours (the receiver owns what it gets).
    if (this.#queue.length === 0) this.#queue = packets;
    else for (const p of packets) this.#queue.push(p);
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#releaseFrom = this.from.clock.hold();
      this.#releaseTo = this.to.clock.hold();
      schedule(this.#deliverFn);
    }
  }

  readonly #deliverFn = () => this.#deliver();

  #deliver(): void {
    if (this.closed || this.to.removed) {
      this.from.releaseOutput(this.#head === 0 ? this.#queue : this.#queue.slice(this.#head));
      this.#queue = [];
      this.#head = 0;
      this.#finish();
      return;
    }
    let batch: Uint8Array[];
    if (this.#head === 0 && this.#queue.length <= this.batch) {
      // The usual case: everything queued fits one delivery.
      batch = this.#queue;
      this.#queue = [];
    } else {
      const end = Math.min(this.#queue.length, this.#head + this.batch);
      batch = this.#queue.slice(this.#head, end);
      this.#head = end;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
    }
    this.delivered += batch.length;
    try {
      this.to.inputMany(batch);
    } catch (error) {
      // The receiving stack closed or failed meanwhile: the packets are lost, as on a cut wire.
      if (!(error instanceof StackError)) rethrowLater(error);
    }
    // inputMany copied them into the receiving stack: the sender may reuse their memory.
    this.from.releaseOutput(batch);
    if (this.#queue.length > 0 && !this.closed) {
      schedule(this.#deliverFn);
      return;
    }
    this.#finish();
  }

  #finish(): void {
    this.#scheduled = false;
    const releaseFrom = this.#releaseFrom;
    const releaseTo = this.#releaseTo;
    this.#releaseFrom = this.#releaseTo = undefined;
    releaseFrom?.();
    releaseTo?.();
  }
}

/** Connects two interfaces with an in-memory wire. Each interface's output receiver is replaced. */
export function linkInterfaces(a: NetInterface, b: NetInterface, options: LinkOptions = {}): Link {
  const batch = options.batch ?? 1024;
  if (!Number.isInteger(batch) || batch < 1)
    throw StackError.invalidArgument('linkInterfaces', 'batch', 'must be a positive integer');
  if (a === b)
    throw StackError.invalidArgument('linkInterfaces', 'b', 'must be a different interface than a');
  const ab = new Direction(a, b, batch);
  const ba = new Direction(b, a, batch);
  a.onTransientOutput((packets) => ab.push(packets));
  b.onTransientOutput((packets) => ba.push(packets));
  return {
    close() {
      ab.closed = ba.closed = true;
      a.onOutput(undefined);
      b.onOutput(undefined);
    },
    get delivered() {
      return { aToB: ab.delivered, bToA: ba.delivered };
    },
  };
}
