/**
 * What the layers above (src/tcp and up) may use of a stack: guarded WASM
 * calls and the routing of per-handle events. Internal: not exported from
 * the package root.
 */
import type { LwipExports } from '../wasm/abi.js';
import type { LwipRuntime } from '../wasm/runtime.js';
import type { Clock } from './clock.js';
import type { NetInterface } from './interface.js';

/** Receives the events of one handle, after the WASM call that caused them returned. */
export interface HandleOwner {
  /** An LwEvent for this handle (a, b as in wasm/abi.h). */
  handleEvent(kind: number, a: number, b: number): void;
  /** Received bytes (a fresh copy, or a transient one: see setTransientReads). */
  handleData(bytes: Uint8Array): void;
}

/** Causes the stack itself adds to TERMINATED events (beyond wasm/abi.h's). */
export const StackCause = { CLOSED: 100, FAILED: 101 } as const;

export interface StackHost {
  readonly clock: Clock;
  /** True until close() or a fatal error. */
  readonly isOpen: boolean;
  /**
   * Runs `fn` against the WASM exports. Throws a StackError if the stack is
   * closed or failed; a trap inside marks the stack failed. Events the call
   * produced are dispatched on a microtask after it returns.
   */
  call<T>(operation: string, fn: (exports: LwipExports, runtime: LwipRuntime) => T): T;
  /** Like call(), for exports that only read (no timers or events can follow). */
  query<T>(operation: string, fn: (exports: LwipExports, runtime: LwipRuntime) => T): T;
  /** Routes the events of `handle` to `owner` until unregister(). */
  register(handle: number, owner: HandleOwner): void;
  unregister(handle: number): void;
  removeInterface(iface: NetInterface): void;
  /** Gives back packets an interface emitted as transient copies (NetInterface.onTransientOutput). */
  releaseOutput(packets: readonly Uint8Array[]): void;
  /**
   * From now on, chunks received on `handle` are pooled transient copies
   * (true) or fresh copies (false). Cleared by unregister().
   */
  setTransientReads(handle: number, enabled: boolean): void;
  /** Gives back a chunk received as a transient copy (anything else is ignored). */
  releaseRead(chunk: Uint8Array): void;
  /** Draws from the stack's seeded random source (jitter, backoff). */
  random(): number;
}
