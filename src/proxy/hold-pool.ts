/**
 * Pooled buffers for upstream bytes a relay has to keep: what the stack
 * connection did not take of a borrowed socket read (its send buffer was
 * full) must outlive the read. In a bulk download that happens every few
 * reads; a fresh copy each time would leave hundreds of KiB of garbage per
 * second for the collector, which only runs after tens of MiB piled up.
 * A relay holds at most one buffer at a time, so the pool stays small.
 */

/** The largest read a relay receives (the dialer's shared read buffer). */
export const HOLD_SIZE = 256 << 10;
/** Free buffers kept for reuse; more than this are left to the collector. */
const KEEP = 8;

const free: Uint8Array[] = [];

/** A buffer of at least `size` bytes, from the pool when it fits in HOLD_SIZE. */
export function takeHold(size: number): Uint8Array {
  if (size > HOLD_SIZE) return new Uint8Array(size);
  return free.pop() ?? new Uint8Array(HOLD_SIZE);
}

/** Gives back a buffer from takeHold(); it must not be used afterwards. */
export function giveHold(buffer: Uint8Array): void {
  if (buffer.length === HOLD_SIZE && free.length < KEEP) free.push(buffer);
}
