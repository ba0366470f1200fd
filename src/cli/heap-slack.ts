/**
 * Heap slack: keeps a long-running proxy's JavaScript heap close to what
 * it really holds.
 *
 * A proxy that sets up thousands of short flows a second promotes a steady
 * stream of short-lived objects (sockets, relays, connections) into V8's
 * old generation: ~6 KB per flow on bench-tun's connection-rate run, about
 * 12 MB a second. V8 lets the old generation grow well past what is alive
 * before it collects (from ~5 MiB to 13-14 MiB there), so that garbage is
 * resident most of the time, and it is what set the proxy's peak RSS.
 *
 * While flows run, HeapSlack looks at the old generation every 50 ms and,
 * once it holds `slackBytes` more than the least it held since the last
 * collection, runs a full collection. With the proxy's ~5 MiB of live
 * objects one takes 5-10 ms on the main thread, a few times a second at
 * most: under 2% of the CPU at thousands of flows a second. A collection
 * costs in proportion to what is alive, so with more alive (thousands of
 * open flows) the slack grows to a quarter of it: the collections then
 * stay as rare per byte of garbage, and each pause as short relative to
 * the work done. Nothing runs while no flow does.
 *
 * Node only lets code collect when started with --expose-gc; the flag is
 * set at run time and the function taken from a fresh context. Called
 * without arguments it is a full, synchronous collection (Node 20's
 * `gc({ type: 'major' })` runs a young-generation one instead).
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const CHECK_EVERY_MS = 50;
/** The slack is at least this share of what the old generation held after the last collection. */
const SLACK_SHARE = 0.25;

function exposedGc(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
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

export class HeapSlack {
  readonly slackBytes: number;
  /** Full collections run so far. */
  collections = 0;
  readonly #gc: (() => void) | undefined;
  /** The least the old generation held since the last collection. */
  #floor = oldGenerationUsed();
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

  /** Flows started: check every 50 ms while busy() holds. */
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

  /** How much the old generation may grow before the next collection. */
  get allowance(): number {
    return Math.max(this.slackBytes, this.#floor * SLACK_SHARE);
  }

  /**
   * Runs a full collection if the old generation holds the allowance more
   * than its least since the last one; returns whether it did.
   */
  check(): boolean {
    const gc = this.#gc;
    if (!gc) return false;
    const used = oldGenerationUsed();
    if (used < this.#floor) this.#floor = used;
    if (used < this.#floor + this.allowance) return false;
    gc();
    this.collections++;
    this.#floor = oldGenerationUsed();
    return true;
  }
}
