/**
 * A small typed event emitter that works the same in Node and browsers
 * (node:events is not available in pages). Listeners run in registration
 * order; a listener that throws is reported through `reportError` (or
 * rethrown asynchronously) so one bad listener cannot break delivery.
 */
export type EventMap = Record<string, unknown[]>;
type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<E extends EventMap> {
  /** Created with the first listener (many emitters, e.g. short connections, have few). */
  #listeners: Map<keyof E, Listener<never>[]> | undefined;

  /** Adds a listener; returns this for chaining. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    // Lists are never changed in place (copy on write), so emit() can walk
    // the list it found without copying it first.
    this.#listeners ??= new Map();
    const list = this.#listeners.get(event);
    this.#listeners.set(
      event,
      list ? [...list, listener as Listener<never>] : [listener as Listener<never>],
    );
    return this;
  }

  /** Adds a listener that is removed after its first call. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper = (...args: E[K]) => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  /** Removes a listener added with on() or the function given to once(). */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners?.get(event);
    if (!list) return this;
    const i = list.indexOf(listener as Listener<never>);
    if (i < 0) return this;
    if (list.length === 1) this.#listeners!.delete(event);
    else this.#listeners!.set(event, [...list.slice(0, i), ...list.slice(i + 1)]);
    return this;
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const list = this.#listeners?.get(event);
    if (!list) return;
    // A listener added or removed meanwhile replaces the list: this one is a snapshot.
    for (let i = 0; i < list.length; i++) {
      try {
        (list[i] as Listener<E[K]>)(...args);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  protected listenerCount(event: keyof E): number {
    return this.#listeners?.get(event)?.length ?? 0;
  }

  protected removeAllListeners(): void {
    this.#listeners = undefined;
  }
}

/** Surfaces an error from user code without unwinding the stack's own work. */
export function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
