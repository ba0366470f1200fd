/**
 * The seeded fault model of one direction of a simulated link. Given a
 * packet and the time it was sent, it decides whether the packet is lost
 * (and why), how many copies arrive, which of them carry a flipped bit, and
 * when each one arrives. It owns no clock and no queue: impaired-link.ts
 * runs it and delivers what it decides.
 *
 * Pipeline, in order, for each packet a stack emits:
 *   1. script effects (script.ts) may drop it, duplicate it, corrupt it or delay it;
 *   2. MTU: a packet longer than `mtu` is dropped (a router with DF set);
 *   3. loss: random (Bernoulli) or bursty (Gilbert-Elliott);
 *   4. duplication: a second copy follows the first;
 *   5. corruption: one random bit of one random byte flips (header or payload);
 *   6. bandwidth: each copy waits for the transmitter (FIFO); when the queue
 *      holds more than `queueBytes` the copy is tail-dropped;
 *   7. delay + jitter: arrival = departure + delay + uniform[0, jitter);
 *      arrivals keep send order, except packets picked for reordering,
 *      which are held back `extraDelay` ms and overtaken.
 *
 * Each impairment draws from its own forked random stream, so enabling one
 * does not change the choices another makes for the same seed.
 */
import type { SimRandom } from './random.js';

/** Loss: a probability per packet, or a burst model. */
export type LossSpec =
  | number
  | {
      /** Long-run fraction of packets lost, in [0, 1). */
      rate: number;
      /**
       * Mean number of packets in a loss burst (>= 1). Given: a two-state
       * Gilbert-Elliott chain (everything is lost in the bad state, nothing
       * in the good one) with that mean burst and the long-run `rate`.
       * Absent: independent (Bernoulli) loss.
       */
      meanBurst?: number;
    };

/** Reordering: a probability per packet, or with the extra hold time. */
export type ReorderSpec =
  | number
  | {
      /** Probability that a packet is held back and overtaken. */
      rate: number;
      /** How long a held packet waits on top of its normal delay (ms; default max(1, delay)). */
      extraDelay?: number;
    };

/**
 * Impairments of one direction of a link. Every field is optional; an
 * empty object is a perfect wire (ordered, zero delay, no loss).
 * Probabilities are in [0, 1]; times are in virtual (clock) milliseconds.
 */
export interface Impairments {
  /** Packet loss. */
  loss?: LossSpec;
  /** Fixed one-way delay in ms. */
  delay?: number;
  /** Uniform extra delay in [0, jitter) ms per packet (order is kept; see reorder). */
  jitter?: number;
  /** Packets held back and overtaken by later ones. */
  reorder?: ReorderSpec;
  /** Probability that a packet arrives twice. */
  duplicate?: number;
  /**
   * Probability that a packet (each copy separately) has one bit flipped.
   * The Internet checksum always detects a single-bit flip, so the
   * receiving stack drops such packets; they never reach the application.
   */
  corrupt?: number;
  /** A transmitter of this rate with a FIFO queue (tail drop). */
  bandwidth?: {
    /** Line rate in bits per second. */
    bitsPerSecond: number;
    /** Most bytes waiting for (or in) transmission; default 65536. A packet that does not fit is dropped. */
    queueBytes?: number;
  };
  /** Largest packet (bytes of IP packet) the link carries; longer ones are dropped. */
  mtu?: number;
}

/** Why a packet did not arrive. */
export type DropReason = 'script' | 'mtu' | 'loss' | 'queue' | 'closed';

/** What a script decided for one packet (script.ts). */
export interface ScriptEffect {
  drop: boolean;
  /** Extra copies to deliver. */
  duplicate: number;
  /** Flip a bit in the first copy. */
  corrupt: boolean;
  /** Extra delay in ms for every copy (not subject to the order rule). */
  delay: number;
}

/** One copy that will arrive. */
export interface Arrival {
  /** The bytes to deliver: the sent packet itself, or a corrupted copy of it. */
  packet: Uint8Array;
  /** Arrival time on the link's clock (ms). */
  at: number;
  corrupted: boolean;
  /** A copy beyond the first. */
  duplicate: boolean;
  /** Held back so later packets overtake it. */
  reordered: boolean;
}

/** The fault model's decision for one packet: a drop reason, or the arrivals. */
export type Decision =
  { dropped: DropReason; arrivals?: undefined } | { dropped?: undefined; arrivals: Arrival[] };

function probability(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1))
    throw new RangeError(
      `impairments.${field} must be a probability in [0, 1], got ${String(value)}`,
    );
  return value;
}

function nonNegative(value: unknown, field: string, fallback = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value))
    throw new RangeError(`impairments.${field} must be a finite number >= 0, got ${String(value)}`);
  return value;
}

/** Validated, normalised impairments. */
interface Config {
  lossRate: number;
  /** Gilbert-Elliott transition probabilities, or undefined for Bernoulli loss. */
  burst: { enter: number; exit: number } | undefined;
  delay: number;
  jitter: number;
  reorderRate: number;
  reorderExtra: number;
  duplicate: number;
  corrupt: number;
  bitsPerSecond: number;
  queueBytes: number;
  mtu: number;
}

/** Checks impairments and throws a RangeError naming the first bad field. */
export function checkImpairments(imp: Impairments): void {
  normalise(imp);
}

function normalise(imp: Impairments): Config {
  if (typeof imp !== 'object' || imp === null) throw new TypeError('impairments must be an object');
  const known = new Set([
    'loss',
    'delay',
    'jitter',
    'reorder',
    'duplicate',
    'corrupt',
    'bandwidth',
    'mtu',
  ]);
  for (const key of Object.keys(imp))
    if (!known.has(key)) throw new RangeError(`impairments: unknown field '${key}'`);
  let lossRate = 0;
  let burst: Config['burst'];
  if (typeof imp.loss === 'object' && imp.loss !== null) {
    lossRate = probability(imp.loss.rate, 'loss.rate');
    if (imp.loss.meanBurst !== undefined) {
      const mean = imp.loss.meanBurst;
      if (typeof mean !== 'number' || !(mean >= 1) || !Number.isFinite(mean))
        throw new RangeError(`impairments.loss.meanBurst must be >= 1, got ${String(mean)}`);
      if (lossRate >= 1)
        throw new RangeError('impairments.loss.rate must be below 1 with meanBurst');
      const exit = 1 / mean;
      // Stationary P(bad) = enter / (enter + exit) = rate.
      burst = { enter: (lossRate * exit) / (1 - lossRate), exit };
    }
  } else lossRate = probability(imp.loss, 'loss');
  const delay = nonNegative(imp.delay, 'delay');
  let reorderRate = 0;
  let reorderExtra = Math.max(1, delay);
  if (typeof imp.reorder === 'object' && imp.reorder !== null) {
    reorderRate = probability(imp.reorder.rate, 'reorder.rate');
    reorderExtra = nonNegative(imp.reorder.extraDelay, 'reorder.extraDelay', reorderExtra);
  } else reorderRate = probability(imp.reorder, 'reorder');
  let bitsPerSecond = 0;
  let queueBytes = Infinity;
  if (imp.bandwidth !== undefined) {
    const bw = imp.bandwidth;
    if (typeof bw !== 'object' || bw === null)
      throw new RangeError('impairments.bandwidth must be { bitsPerSecond, queueBytes? }');
    if (typeof bw.bitsPerSecond !== 'number' || !(bw.bitsPerSecond > 0))
      throw new RangeError(
        `impairments.bandwidth.bitsPerSecond must be > 0, got ${String(bw.bitsPerSecond)}`,
      );
    bitsPerSecond = bw.bitsPerSecond;
    queueBytes = nonNegative(bw.queueBytes, 'bandwidth.queueBytes', 65536);
  }
  let mtu = Infinity;
  if (imp.mtu !== undefined) {
    if (typeof imp.mtu !== 'number' || !Number.isInteger(imp.mtu) || imp.mtu < 20)
      throw new RangeError(`impairments.mtu must be an integer >= 20, got ${String(imp.mtu)}`);
    mtu = imp.mtu;
  }
  return {
    lossRate,
    burst,
    delay,
    jitter: nonNegative(imp.jitter, 'jitter'),
    reorderRate,
    reorderExtra,
    duplicate: probability(imp.duplicate, 'duplicate'),
    corrupt: probability(imp.corrupt, 'corrupt'),
    bitsPerSecond,
    queueBytes,
    mtu,
  };
}

/**
 * Returns a copy of `packet` with one bit flipped: a random bit of a random
 * byte, chosen by `rng`. The original is left alone (others may hold it).
 */
export function flipRandomBit(packet: Uint8Array, rng: SimRandom): Uint8Array {
  const copy = packet.slice();
  if (copy.length === 0) return copy;
  const byte = rng.below(copy.length);
  copy[byte]! ^= 1 << rng.below(8);
  return copy;
}

/**
 * The fault model of one direction. Deterministic: the same configuration,
 * seed, packets and send times give the same decisions.
 */
export class DirectionFaults {
  readonly #c: Config;
  readonly #lossRng: SimRandom;
  readonly #dupRng: SimRandom;
  readonly #corruptRng: SimRandom;
  readonly #delayRng: SimRandom;
  readonly #reorderRng: SimRandom;
  /** Gilbert-Elliott state. */
  #bad = false;
  /** When the transmitter is free again (bandwidth). */
  #txFreeAt = -Infinity;
  /** Latest in-order arrival so far: later packets do not arrive before it. */
  #lastAt = -Infinity;
  readonly #perfect: boolean;

  /** `rng` is this direction's stream; one fork per impairment is taken from it. */
  constructor(impairments: Impairments, rng: SimRandom) {
    const c = (this.#c = normalise(impairments));
    this.#perfect =
      c.lossRate === 0 &&
      c.delay === 0 &&
      c.jitter === 0 &&
      c.reorderRate === 0 &&
      c.duplicate === 0 &&
      c.corrupt === 0 &&
      c.bitsPerSecond === 0 &&
      c.mtu === Infinity;
    this.#lossRng = rng.fork('loss');
    this.#dupRng = rng.fork('duplicate');
    this.#corruptRng = rng.fork('corrupt');
    this.#delayRng = rng.fork('delay');
    this.#reorderRng = rng.fork('reorder');
  }

  /** True when every packet arrives unchanged, in order, at once. */
  get perfect(): boolean {
    return this.#perfect;
  }

  /** Decides the fate of `packet` sent at `now`, after the script's `effect`. */
  decide(packet: Uint8Array, now: number, effect: ScriptEffect | undefined): Decision {
    const c = this.#c;
    if (effect?.drop) return { dropped: 'script' };
    if (packet.length > c.mtu) return { dropped: 'mtu' };
    if (this.#lost()) return { dropped: 'loss' };
    let copies = 1 + (effect?.duplicate ?? 0);
    if (this.#dupRng.chance(c.duplicate)) copies++;
    const arrivals: Arrival[] = [];
    for (let i = 0; i < copies; i++) {
      let bytes = packet;
      let corrupted = false;
      if ((i === 0 && effect?.corrupt) || this.#corruptRng.chance(c.corrupt)) {
        bytes = flipRandomBit(packet, this.#corruptRng);
        corrupted = true;
      }
      let departure = now;
      if (c.bitsPerSecond > 0) {
        const backlog = Math.max(0, this.#txFreeAt - now) * (c.bitsPerSecond / 8000);
        if (backlog + bytes.length > c.queueBytes) {
          if (i === 0) return { dropped: 'queue' };
          continue; // the duplicate did not fit; the first copy goes on
        }
        departure = Math.max(now, this.#txFreeAt) + (bytes.length * 8000) / c.bitsPerSecond;
        this.#txFreeAt = departure;
      }
      let at = departure + c.delay + (effect?.delay ?? 0);
      if (c.jitter > 0) at += this.#delayRng.float() * c.jitter;
      const reordered = this.#reorderRng.chance(c.reorderRate);
      if (reordered) at += c.reorderExtra;
      else if (!effect?.delay) {
        at = Math.max(at, this.#lastAt);
        this.#lastAt = at;
      }
      arrivals.push({ packet: bytes, at, corrupted, duplicate: i > 0, reordered });
    }
    return { arrivals };
  }

  #lost(): boolean {
    const c = this.#c;
    if (!c.burst) return this.#lossRng.chance(c.lossRate);
    if (c.lossRate === 0) return false;
    // Move the chain one step, then lose the packet if the chain is bad.
    this.#bad = this.#bad
      ? !this.#lossRng.chance(c.burst.exit)
      : this.#lossRng.chance(c.burst.enter);
    return this.#bad;
  }
}
