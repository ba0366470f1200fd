/**
 * Runs a function on a later turn of the event loop (a macrotask), so that
 * timers and I/O get their turn in between. setImmediate in Node; a
 * MessageChannel elsewhere (setTimeout(0) is clamped to 4 ms in browsers).
 */
export const nextTurn: (fn: () => void) => void = (() => {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const si = g.setImmediate;
    return (fn: () => void) => void si(fn);
  }
  const queue: (() => void)[] = [];
  const channel = new MessageChannel();
  channel.port1.onmessage = () => queue.shift()?.();
  return (fn: () => void) => {
    queue.push(fn);
    channel.port2.postMessage(0);
  };
})();

/**
 * Runs `fn` on a microtask. Cheaper than queueMicrotask under Node, which
 * wraps every callback in an AsyncResource; the order is the same (one
 * microtask queue). `fn` must not throw (it would surface as an unhandled
 * rejection): catch inside and report with rethrowLater.
 */
export function microtask(fn: () => void): void {
  void resolved.then(fn);
}
const resolved = Promise.resolve();

/** Resolves on a later turn of the event loop. */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => nextTurn(resolve));
}
