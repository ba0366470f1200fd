/**
 * Time is injected. lwIP's sys_now() and every lwIP timer follow the stack's
 * Clock: RealClock reads the host's monotonic time and fires timers with
 * setTimeout; VirtualClock stands still until a test advances it, firing
 * each due timer at its exact virtual instant and letting packets in flight
 * settle in between. Nothing runs on a free-running interval.
 */
import { yieldTurn } from '../util/yield.js';

/** Something with a deadline on a clock (a stack's lwIP timers). */
export interface TimerClient {
  /** Called when the deadline passed. */
  fire(): void;
}

/** The stack's source of time. */
export interface Clock {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
  /** Arranges for `client.fire()` at `at` (ms on this clock); replaces its previous deadline. */
  schedule(client: TimerClient, at: number): void;
  /** Cancels the client's deadline. */
  cancel(client: TimerClient): void;
  /**
   * Marks work in flight that must finish before virtual time moves on
   * (packets on a link, queued events). Returns the function that ends it.
   * Real clocks ignore it.
   */
  hold(): () => void;
}

/**
 * Host time. A pending lwIP timer keeps a Node process alive, as a socket
 * would; lwIP has timers only while connections exist (an idle stack or a
 * bare listener has none), and close() cancels them.
 */
export class RealClock implements Clock {
  readonly #origin = performance.now();
  readonly #timers = new Map<TimerClient, { at: number; id: ReturnType<typeof setTimeout> }>();

  now(): number {
    return performance.now() - this.#origin;
  }

  schedule(client: TimerClient, at: number): void {
    const existing = this.#timers.get(client);
    if (existing) {
      // An earlier wake-up is harmless (the client re-arms after firing);
      // keeping it saves a clearTimeout/setTimeout pair on every call.
      if (existing.at <= at) return;
      clearTimeout(existing.id);
    }
    const id = setTimeout(
      () => {
        this.#timers.delete(client);
        client.fire();
      },
      Math.max(0, Math.ceil(at - this.now())),
    );
    this.#timers.set(client, { at, id });
  }

  cancel(client: TimerClient): void {
    const existing = this.#timers.get(client);
    if (existing) clearTimeout(existing.id);
    this.#timers.delete(client);
  }

  hold(): () => void {
    return noop;
  }
}

const noop = () => {};

/**
 * Virtual time for tests and simulation. Time moves only in advance() /
 * runUntil(); both are async because packets and events in flight are
 * delivered (on later event-loop turns) before time moves past them.
 */
export class VirtualClock implements Clock {
  #now: number;
  readonly #deadlines = new Map<TimerClient, number>();
  #busy = 0;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  schedule(client: TimerClient, at: number): void {
    this.#deadlines.set(client, at);
  }

  cancel(client: TimerClient): void {
    this.#deadlines.delete(client);
  }

  hold(): () => void {
    this.#busy++;
    let done = false;
    return () => {
      if (!done) {
        done = true;
        this.#busy--;
      }
    };
  }

  /** The earliest pending deadline, or undefined. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const at of this.#deadlines.values()) if (next === undefined || at < next) next = at;
    return next;
  }

  /** Lets everything in flight at the current instant finish. */
  async settle(): Promise<void> {
    await yieldTurn();
    while (this.#busy > 0) await yieldTurn();
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`VirtualClock.advance: ms must be >= 0, got ${ms}`);
    await this.runUntil(this.#now + ms);
  }

  /** Moves time forward to `target`, firing due timers in order. */
  async runUntil(target: number): Promise<void> {
    for (;;) {
      await this.settle();
      const next = this.nextDeadline();
      if (next === undefined || next > target) break;
      if (next > this.#now) this.#now = next;
      for (const [client, at] of [...this.#deadlines]) {
        if (at <= this.#now) {
          this.#deadlines.delete(client);
          client.fire();
        }
      }
    }
    if (target > this.#now) this.#now = target;
    await this.settle();
  }

  /**
   * Advances until `done()` returns true, checking after every timer step;
   * gives up at `limitMs` of virtual time. Returns whether done() held.
   */
  async advanceUntil(done: () => boolean, limitMs = 600_000): Promise<boolean> {
    const end = this.#now + limitMs;
    await this.settle();
    while (!done()) {
      const next = this.nextDeadline();
      if (next === undefined || next > end) return done();
      await this.runUntil(Math.max(next, this.#now));
    }
    return true;
  }
}
