/**
 * Virtual time in the page. The simulation's VirtualClock only moves when
 * told to; a loop here tells it to follow real time times the chosen speed
 * (x0.1 to x100), firing lwIP timers and delayed packets on the way exactly
 * as Simulation.run does.
 *
 * The loop works in slices of a few milliseconds and yields to the page in
 * between (a message-channel turn, so rendering and input get their turn
 * whenever a frame is due). When the simulation keeps up it waits for the
 * next animation frame; when it cannot (a bulk transfer at x100) virtual
 * time lags behind real time instead of the page freezing, and the
 * effective speed is shown. Views are redrawn from requestAnimationFrame,
 * independently of the loop.
 *
 * Pause stops the clock (packets due "now" still settle); Step moves it to
 * the next timer or packet deadline. Every clock move, and exclusive() work
 * such as a reset, runs under one lock, so they never interleave.
 */
import type { App } from './app.js';
import { byId, formatTime, setText } from './dom.js';

export const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 100] as const;

/** Real milliseconds of simulation work before yielding to the page. */
const SLICE_MS = 8;
/** Longest real gap counted (a background tab must not make time leap). */
const MAX_GAP_MS = 100;

/** A macrotask turn (setTimeout(0) would be clamped to 4 ms when chained). */
const yieldToPage: () => Promise<void> = (() => {
  const channel = new MessageChannel();
  const waiting: (() => void)[] = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      channel.port2.postMessage(0);
    });
})();

export class TimeControls {
  running = true;
  speed = 1;
  /** Virtual ms per real ms, smoothed. */
  effective = 0;
  readonly #app: App;
  readonly #render: () => void;
  readonly #onError: (error: unknown) => void;
  #lock: Promise<unknown> = Promise.resolve();
  #lastReal = performance.now();
  #started = false;
  #frameWaiters: (() => void)[] = [];
  #rate = { real: 0, virtual: 0 };

  readonly #play = byId<HTMLButtonElement>('play');
  readonly #step = byId<HTMLButtonElement>('step');
  readonly #speed = byId<HTMLSelectElement>('speed');
  readonly #now = byId('vtime');
  readonly #rateText = byId('vrate');
  readonly #next = byId('vnext');

  constructor(app: App, render: () => void, onError: (error: unknown) => void) {
    this.#app = app;
    this.#render = render;
    this.#onError = onError;
    for (const s of SPEEDS) {
      const o = document.createElement('option');
      o.value = String(s);
      o.textContent = `x${s}`;
      this.#speed.append(o);
    }
    this.#speed.value = String(this.speed);
    this.#speed.addEventListener('change', () => (this.speed = Number(this.#speed.value)));
    this.#play.addEventListener('click', () => this.setRunning(!this.running));
    this.#step.addEventListener('click', () => void this.step().catch(onError));
    this.setRunning(this.running);
  }

  /** Starts the render loop and the time loop (once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#scheduleFrame();
    void this.#loop();
  }

  setRunning(running: boolean): void {
    this.running = running;
    this.#lastReal = performance.now();
    this.#rate = { real: 0, virtual: 0 };
    if (!running) this.effective = 0;
    setText(this.#play, running ? 'Pause' : 'Run');
    this.#play.dataset.running = String(running);
    this.#step.disabled = running;
  }

  /** Moves virtual time to the next deadline (only while paused). */
  async step(): Promise<void> {
    if (this.running) return;
    await this.exclusive(async () => {
      const clock = this.#app.clock;
      const next = clock.nextDeadline();
      if (next === undefined) await clock.settle();
      else await clock.runUntil(Math.max(next, clock.now()));
      this.#app.sample();
    });
  }

  /** Runs `fn` while virtual time stands still (e.g. a reset of the simulation). */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  // ---- the time loop ----

  async #loop(): Promise<void> {
    for (;;) {
      if (!this.running) {
        await this.#nextFrame();
        continue;
      }
      const real = performance.now();
      const gap = Math.min(real - this.#lastReal, MAX_GAP_MS);
      this.#lastReal = real;
      let caughtUp = true;
      try {
        caughtUp = await this.exclusive(() => this.#slice(gap));
      } catch (error) {
        this.setRunning(false);
        this.#onError(error);
      }
      if (caughtUp) await this.#nextFrame();
      else await yieldToPage();
    }
  }

  /** Moves the clock by `gap` real ms times the speed, or as far as one slice gets; true if it got there. */
  async #slice(gap: number): Promise<boolean> {
    const clock = this.#app.clock;
    const from = clock.now();
    // Whole microseconds, so that repeated fractions do not pile up as float noise.
    const target = Math.round((from + gap * this.speed) * 1000) / 1000;
    const started = performance.now();
    let reached = false;
    for (;;) {
      const next = clock.nextDeadline();
      if (next === undefined || next > target) {
        await clock.runUntil(target);
        reached = true;
        break;
      }
      await clock.runUntil(Math.max(next, clock.now()));
      if (performance.now() - started > SLICE_MS) break;
    }
    this.#app.sample();
    const r = this.#rate;
    r.real += gap;
    r.virtual += clock.now() - from;
    if (r.real >= 250) {
      this.effective =
        this.effective === 0
          ? r.virtual / r.real
          : this.effective * 0.5 + (r.virtual / r.real) * 0.5;
      this.#rate = { real: 0, virtual: 0 };
    }
    return reached;
  }

  #nextFrame(): Promise<void> {
    return new Promise((resolve) => this.#frameWaiters.push(resolve));
  }

  // ---- the render loop ----

  #scheduleFrame(): void {
    if (document.hidden) setTimeout(() => this.#frame(), MAX_GAP_MS);
    else requestAnimationFrame(() => this.#frame());
  }

  #frame(): void {
    const waiters = this.#frameWaiters;
    this.#frameWaiters = [];
    for (const w of waiters) w();
    try {
      this.#show();
      this.#render();
    } catch (error) {
      this.#onError(error);
    }
    this.#scheduleFrame();
  }

  #show(): void {
    const clock = this.#app.clock;
    setText(this.#now, formatTime(clock.now()));
    this.#now.dataset.ms = String(clock.now());
    setText(
      this.#rateText,
      this.running ? `x${this.effective.toFixed(this.effective < 1 ? 2 : 1)}` : 'paused',
    );
    const next = clock.nextDeadline();
    setText(this.#next, next === undefined ? 'none' : `+${(next - clock.now()).toFixed(1)} ms`);
  }
}
