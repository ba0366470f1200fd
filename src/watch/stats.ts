/**
 * Status of a stack as the watcher layer sees it (seed 004's status ideas):
 * the stack's own figures, one line per live connection, totals, and the
 * watcher layer's counters. Covers the connections that went through
 * src/watch (see registry.ts).
 */
import type { StackStats } from '../stack/core.js';
import type { Stack } from '../tcp/stack.js';
import type { TcpConnectionInfo } from '../tcp/connection.js';
import { fromTcpEndpoint, type IpEndpoint } from './endpoint.js';
import { recordOf, type WatchCounters } from './registry.js';

/** Live figures of one connection. */
export interface ConnectionFigures {
  /** The connection id (TcpStream.id, TcpConnectionWatcher.id, StackError.connectionId). */
  id: number;
  direction: 'accepted' | 'outgoing';
  /** lwIP's TCP state ('ESTABLISHED', 'CLOSE_WAIT', ...). */
  state: TcpConnectionInfo['state'];
  bytesIn: number;
  bytesOut: number;
  /** Retransmissions of the oldest unacknowledged segment (lwIP's nrtx). */
  retransmissions: number;
  /** The receive window we advertise now. */
  receiveWindow: number;
  /** The peer's advertised window. */
  sendWindow: number;
  congestionWindow: number;
  /** Bytes sent and not yet acknowledged. */
  unacked: number;
  local: IpEndpoint | undefined;
  peer: IpEndpoint | undefined;
}

/** What watchStats() returns. */
export interface WatchStats {
  /** Stack.stats() as it is. */
  stack: StackStats;
  /** The live connections, by id. */
  connections: ConnectionFigures[];
  totals: {
    /** Live connections. */
    connections: number;
    /** Live connections per TCP state. */
    byState: Record<string, number>;
    /** Bytes received and sent, ended connections included. */
    bytesIn: number;
    bytesOut: number;
    /** Sum over live connections. */
    retransmissions: number;
  };
  /** Streams that still own their connection (handed out, not yet closed or given to a watcher). */
  streamsOpen: number;
  watch: Readonly<WatchCounters>;
}

/** Figures of `stack` and of every connection the watcher layer created or accepted on it. */
export function watchStats(stack: Stack): WatchStats {
  const record = recordOf(stack);
  const connections: ConnectionFigures[] = [];
  const byState: Record<string, number> = {};
  let bytesIn = record.counters.endedBytesIn;
  let bytesOut = record.counters.endedBytesOut;
  let retransmissions = 0;
  for (const conn of record.connections) {
    const info = conn.info();
    connections.push({
      id: conn.id,
      direction: conn.direction,
      state: info.state,
      bytesIn: info.bytesIn,
      bytesOut: info.bytesOut,
      retransmissions: info.retransmissions,
      receiveWindow: info.receiveWindow,
      sendWindow: info.sendWindow,
      congestionWindow: info.congestionWindow,
      unacked: info.unacked,
      local: fromTcpEndpoint(conn.local),
      peer: fromTcpEndpoint(conn.peer),
    });
    byState[info.state] = (byState[info.state] ?? 0) + 1;
    bytesIn += info.bytesIn;
    bytesOut += info.bytesOut;
    retransmissions += info.retransmissions;
  }
  connections.sort((a, b) => a.id - b.id);
  return {
    stack: stack.stats(),
    connections,
    totals: { connections: connections.length, byState, bytesIn, bytesOut, retransmissions },
    streamsOpen: record.unownedStreams,
    watch: { ...record.counters },
  };
}
