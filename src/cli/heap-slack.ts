/**
 * Heap slack: keeps a long-running proxy's JavaScript heap close to what
 * it really holds.
 *
 * After each full collection V8 lets the old generation grow by at least
 * 8 MiB before it collects again. A proxy that sets up thousands of short
 * flows a second promotes a steady stream of short-lived objects (sockets,
 * relays, connections) into the old generation, so those 8 MiB fill with
 * garbage and are resident most of the time: more than the proxy holds
 * alive. While flows run, HeapSlack looks at the old generation every
 * 100 ms and, once it grew by `slackBytes` since the last collection, asks V8 for a
 * full collection done incrementally (its marking mostly off the main
 * thread). Nothing runs while no flow does. Measured on bench-tun's
 * connection-rate run (about 2000 flows a second), a 2 MiB slack cut the
 * peak RSS by about 4 MiB and cost about 20% more CPU per connection, so
 * it is off unless asked for (--heap-slack).
 *
 * Node only exposes collections to code when started with --expose-gc; the
 * flag is set at run time and the function taken from a fresh context.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: {
  type?: 'major' | 'minor';
  execution?: 'sync' | 'async';
}) => Promise<void> | undefined;

const CHECK_EVERY_MS = 100;

function exposedGc(): GcFunction | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  return typeof gc === 'function' ? (gc as GcFunction) : undefined;
}

/**
 * Bytes in use in the old generation: what only a full collection frees
 * (the young generation empties itself every MiB or so of allocation).
 */
export function oldGenerationUsed(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics())
    if (space.space_name === 'old_space' || space.space_name === 'large_object_space')
      used += space.space_used_size;
  return used;
}

const heapUsed = oldGenerationUsed;

export class HeapSlack {
  readonly slackBytes: number;
  /** Collections asked for so far. */
  collections = 0;
  readonly #gc: GcFunction | undefined;
  #floor = heapUsed();
  #collecting = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #busy: () => boolean;

  /**
   * `busy()` says whether flows are running: the checks stop when it turns
   * false and start again on wake(). Throws RangeError for a slack that is
   * not a positive number.
   */
  constructor(slackBytes: number, busy: () => boolean) {
    if (!Number.isFinite(slackBytes) || slackBytes <= 0)
      throw new RangeError(`heap slack must be a positive number of bytes, got ${slackBytes}`);
    this.slackBytes = slackBytes;
    this.#busy = busy;
    this.#gc = exposedGc();
  }

  /** False when this Node does not let code ask for collections (then it does nothing). */
  get available(): boolean {
    return this.#gc !== undefined;
  }

  /** True while the checks are scheduled (between wake() and busy() turning false or stop()). */
  get checking(): boolean {
    return this.#timer !== undefined;
  }

  /** Flows started: check every 100 ms while busy() holds. */
  wake(): void {
    if (this.#timer !== undefined || !this.#gc) return;
    this.#timer = setInterval(() => {
      this.check();
      if (!this.#busy()) this.stop();
    }, CHECK_EVERY_MS);
    this.#timer.unref();
  }

  /** Stops checking until the next wake(). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Asks for a collection if the heap grew by the slack since the last one;
   * returns whether it did. The collection runs incrementally: the promise
   * settles when it is done.
   */
  check(): Promise<void> | undefined {
    const gc = this.#gc;
    if (!gc || this.#collecting || heapUsed() < this.#floor + this.slackBytes) return undefined;
    this.#collecting = true;
    this.collections++;
    const done = () => {
      this.#collecting = false;
      this.#floor = heapUsed();
    };
    const pending = gc({ type: 'major', execution: 'async' });
    if (!pending) {
      done();
      return Promise.resolve();
    }
    return pending.then(done, done);
  }
}
