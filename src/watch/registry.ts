/**
 * What the watcher layer knows per stack: the connections it created or
 * accepted (live ones, plus totals of the ended ones), the watchers and
 * clients that can still start work, and counters for stats. It is keyed
 * weakly by the stack, so a dropped stack takes its record with it.
 *
 * The TCP layer has no public list of a stack's connections yet, so
 * watchStats() and shutdownStack() cover what went through src/watch.
 */
import type { Stack } from '../tcp/stack.js';
import type { TcpConnection } from '../tcp/connection.js';

/** Something shutdownStack() stops before closing connections (watchers, clients). */
export interface Stoppable {
  stop(): void;
}

/** Counters of one stack's watcher layer. */
export interface WatchCounters {
  /** Connections tracked so far (accepted or connected through watchers). */
  opened: number;
  /** Streams handed to onAccept/onConnected. */
  streamsCreated: number;
  /** Streams aborted by the garbage-collection safety net (dropped without close or a watcher). */
  streamsLeaked: number;
  /** Accepted connections turned away because the accepted queue was full. */
  acceptOverflows: number;
  /** Socket options that could not be applied (per connection and option). */
  optionsSkipped: number;
  /** Bytes and retransmissions of connections that already ended. */
  endedBytesIn: number;
  endedBytesOut: number;
}

/** @internal */
export class StackRecord {
  readonly connections = new Set<TcpConnection>();
  readonly stoppables = new Set<Stoppable>();
  readonly counters: WatchCounters = {
    opened: 0,
    streamsCreated: 0,
    streamsLeaked: 0,
    acceptOverflows: 0,
    optionsSkipped: 0,
    endedBytesIn: 0,
    endedBytesOut: 0,
  };
  /** Streams that exist and still own their connection. */
  unownedStreams = 0;

  /** Tracks a connection until it terminates. */
  track(conn: TcpConnection): void {
    if (this.connections.has(conn) || !conn.alive) return;
    this.connections.add(conn);
    this.counters.opened++;
    conn.once('terminated', () => {
      this.connections.delete(conn);
      const info = conn.info();
      this.counters.endedBytesIn += info.bytesIn;
      this.counters.endedBytesOut += info.bytesOut;
    });
  }
}

const records = new WeakMap<Stack, StackRecord>();

/** @internal The watcher-layer record of `stack`, created on first use. */
export function recordOf(stack: Stack): StackRecord {
  let r = records.get(stack);
  if (!r) {
    r = new StackRecord();
    records.set(stack, r);
  }
  return r;
}
