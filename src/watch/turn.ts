/**
 * Scheduling primitives of the watcher layer: per-turn budgets, deadline
 * timers on the stack's Clock, and the guard around user callbacks.
 *
 * The seed's "owner worker" is one Stack and its event loop; a "tick" is
 * one event-loop turn. Work left over by a budget continues on the next
 * turn (util/yield.ts nextTurn). While such a turn is pending the Clock is
 * held, so a VirtualClock does not move time past work that is due now.
 */
import type { Clock, TimerClient } from '../stack/clock.js';
import { rethrowLater } from '../util/emitter.js';
import { nextTurn } from '../util/yield.js';

/** Runs `fn` on the next event-loop turn, holding `clock` until then. */
export function onNextTurn(clock: Clock, fn: () => void): void {
  const release = clock.hold();
  nextTurn(() => {
    try {
      fn();
    } finally {
      release();
    }
  });
}

/**
 * Calls a user callback. A callback that throws is reported
 * asynchronously (like an event listener) and never unwinds the watcher's
 * own bookkeeping.
 */
export function invoke<A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A) {
  if (!fn) return;
  try {
    fn(...args);
  } catch (error) {
    rethrowLater(error);
  }
}

/**
 * An allowance of `limit` units per event-loop turn. Using any of it
 * schedules a renewal on the next turn, which restores the full allowance
 * and calls `onRenew` (to continue work the budget held back).
 */
export class TurnBudget {
  #used = 0;
  #pending = false;
  #dead = false;

  constructor(
    private readonly clock: Clock,
    readonly limit: number,
    private readonly onRenew: () => void,
  ) {}

  get remaining(): number {
    return this.limit - this.#used;
  }

  /** Records `n` units used this turn (n <= remaining). */
  take(n: number): void {
    if (n <= 0) return;
    this.#used += n;
    this.#schedule();
  }

  /** Makes sure onRenew runs on the next turn even if nothing was used. */
  renewSoon(): void {
    this.#schedule();
  }

  /** No renewal callback any more. */
  dispose(): void {
    this.#dead = true;
  }

  #schedule(): void {
    if (this.#pending || this.#dead) return;
    this.#pending = true;
    onNextTurn(this.clock, () => {
      this.#pending = false;
      this.#used = 0;
      if (!this.#dead) this.onRenew();
    });
  }
}

/** A one-shot deadline on a Clock (real or virtual). start() replaces a pending deadline. */
export class ClockTimer implements TimerClient {
  #fn: (() => void) | undefined;

  constructor(private readonly clock: Clock) {}

  get pending(): boolean {
    return this.#fn !== undefined;
  }

  start(delayMs: number, fn: () => void): void {
    this.#fn = fn;
    this.clock.schedule(this, this.clock.now() + Math.max(0, delayMs));
  }

  cancel(): void {
    if (this.#fn === undefined) return;
    this.#fn = undefined;
    this.clock.cancel(this);
  }

  /** @internal TimerClient */
  fire(): void {
    const fn = this.#fn;
    this.#fn = undefined;
    fn?.();
  }
}
