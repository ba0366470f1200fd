/**
 * Simulation: one VirtualClock that owns the time of several stacks and of
 * the impaired links between them. run() moves time from one deadline to
 * the next (lwIP timers, delayed packets), letting everything in flight at
 * each instant settle first, and jumps over idle time in between, so ten
 * minutes of keepalive and retransmission timers pass in milliseconds of
 * real time. The stacks are ordinary Stack objects: the simulation adds no
 * code path of its own to them (a RealClock stack runs the same code).
 *
 * Seeds: the simulation seed determines each stack's seed (by name) and each
 * link's seed (by creation order), so one number replays a whole scenario.
 */
import { VirtualClock } from '../stack/clock.js';
import type { StackOptions } from '../stack/core.js';
import type { NetInterface } from '../stack/interface.js';
import { Stack } from '../tcp/stack.js';
import { impairLink, type ImpairedLink, type ImpairedLinkOptions } from './impaired-link.js';
import { checkSeed, deriveSeed } from './random.js';
import { Trace, type TraceOptions } from './trace.js';

/** Options of a Simulation. */
export interface SimulationOptions {
  /** The scenario seed (a non-negative safe integer; default 1). */
  seed?: number;
  /** Virtual start time in ms (default 0). */
  start?: number;
  /** Record a packet trace of every link (see Simulation.trace); off by default. */
  trace?: boolean | TraceOptions;
}

/** Options of Simulation.run. */
export interface RunOptions {
  /** Stop at this virtual time (ms, absolute). */
  until?: number;
  /** Stop after this many virtual ms (relative to now). Combines with `until` (the earlier wins). */
  for?: number;
  /** Stop as soon as this holds (checked after every settled step). */
  done?: () => boolean;
  /**
   * Stop when nothing is left to do: no deadline pending and nothing in
   * flight. Default true. With false and a deadline, time jumps to the deadline.
   */
  idle?: boolean;
  /** Safety net: give up after this many virtual ms (default 24 hours). */
  limit?: number;
}

/** Why run() returned, and where time stands. */
export interface RunResult {
  reason: 'done' | 'idle' | 'until' | 'limit';
  /** Virtual time now (ms). */
  time: number;
  /** Virtual ms that passed in this run. */
  elapsed: number;
  /** Timer instants visited. */
  steps: number;
}

const DAY = 24 * 3600_000;

/** Several stacks and links on one virtual clock. */
export class Simulation {
  readonly clock: VirtualClock;
  readonly seed: number;
  /** The packet trace of every link made by link(), when enabled in the options. */
  readonly trace: Trace | undefined;
  readonly #stacks = new Map<string, Stack>();
  readonly #links: ImpairedLink[] = [];
  #closed = false;

  constructor(options: SimulationOptions = {}) {
    this.seed = checkSeed(options.seed ?? 1, 'Simulation');
    this.clock = new VirtualClock(options.start ?? 0);
    const t = options.trace;
    this.trace = t ? new Trace(t === true ? {} : t) : undefined;
  }

  /** Virtual time now (ms). */
  get now(): number {
    return this.clock.now();
  }

  /** The stacks by name. */
  get stacks(): ReadonlyMap<string, Stack> {
    return this.#stacks;
  }

  /** The links, in creation order. */
  get links(): readonly ImpairedLink[] {
    return this.#links;
  }

  /**
   * Creates a stack on the simulation clock. Its seed derives from the
   * simulation seed and `name` unless `options.seed` is given. Names are unique.
   */
  async addStack(name: string, options: Omit<StackOptions, 'clock'> = {}): Promise<Stack> {
    this.#checkOpen();
    if (this.#stacks.has(name)) throw new RangeError(`Simulation: a stack named '${name}' exists`);
    const stack = await Stack.create({
      ...options,
      clock: this.clock,
      seed: options.seed ?? deriveSeed(this.seed, `stack:${name}`),
    });
    this.#stacks.set(name, stack);
    return stack;
  }

  /**
   * Links two interfaces of this simulation's stacks with impairments. The
   * link's seed derives from the simulation seed and the link's number
   * unless `options.seed` is given. Throws on bad options.
   */
  link(a: NetInterface, b: NetInterface, options: ImpairedLinkOptions = {}): ImpairedLink {
    this.#checkOpen();
    if (a.clock !== this.clock || b.clock !== this.clock)
      throw new RangeError(
        'Simulation.link: both interfaces must belong to stacks of this simulation',
      );
    const n = this.#links.length;
    const link = impairLink(a, b, {
      ...options,
      clock: this.clock,
      seed: options.seed ?? deriveSeed(this.seed, `link:${n}`),
    });
    this.#links.push(link);
    this.trace?.attach(link, n);
    return link;
  }

  /**
   * Runs virtual time: by default until idle; see RunOptions for deadlines
   * and predicates. Resolves with why it stopped; never throws for a
   * scenario that does not finish (reason 'limit').
   */
  async run(options: RunOptions = {}): Promise<RunResult> {
    const clock = this.clock;
    const start = clock.now();
    let deadline = options.until ?? Infinity;
    if (options.for !== undefined) deadline = Math.min(deadline, start + options.for);
    const stopWhenIdle = options.idle ?? true;
    const limitAt = start + (options.limit ?? DAY);
    const done = options.done;
    let steps = 0;
    const result = (reason: RunResult['reason']): RunResult => ({
      reason,
      time: clock.now(),
      elapsed: clock.now() - start,
      steps,
    });
    await clock.settle();
    for (;;) {
      if (done?.()) return result('done');
      const next = clock.nextDeadline();
      if (next === undefined && stopWhenIdle) return result('idle');
      const target = Math.min(deadline, limitAt);
      if (next === undefined || next > target) {
        if (target === Infinity) return result('idle');
        await clock.runUntil(target);
        if (done?.()) return result('done');
        return result(target === deadline ? 'until' : 'limit');
      }
      await clock.runUntil(Math.max(next, clock.now()));
      steps++;
    }
  }

  /** Closes every link and stack (connections terminate with Destroyed). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links) link.close();
    for (const stack of this.#stacks.values()) stack.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('Simulation: closed');
  }
}
