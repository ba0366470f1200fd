/**
 * Orderly shutdown of what the watcher layer runs on a stack: stop the
 * accept watchers, connect watchers and clients, close every connection
 * gracefully, and abort whatever has not finished closing at the deadline.
 * The deadline runs on the stack's Clock.
 */
import type { Stack } from '../tcp/stack.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TerminationReason } from '../tcp/reason.js';
import { OptionReader } from './options.js';
import { recordOf } from './registry.js';
import { ClockTimer } from './turn.js';

/** Options of shutdownStack. */
export interface ShutdownOptions {
  /** How long orderly closes may take before the rest is aborted, in ms (default 5000). */
  timeoutMs?: number;
}

/** What shutdownStack did. */
export interface ShutdownReport {
  /** Watchers and clients stopped (listeners closed, attempts cancelled, retries dropped). */
  stopped: number;
  /** Connections whose orderly close completed. */
  closed: number;
  /** Connections aborted: still closing at the deadline, or queued in a stopped accept watcher. */
  aborted: number;
  /** Connections that ended otherwise meanwhile (reset by the peer, timed out, stack closed). */
  failed: number;
  /** True when the deadline passed with connections still open. */
  timedOut: boolean;
  /** Time taken on the stack's clock, in ms. */
  elapsedMs: number;
}

/**
 * Shuts down the watcher layer's work on `stack` and resolves once every
 * connection it knows has ended. Connection watchers are not silenced:
 * they see the close as usual (onClose after an orderly end, onError
 * ECONNABORTED after an abort). The stack itself stays open. Throws
 * StackError ERR_INVALID_ARGUMENT for a bad timeoutMs.
 */
export function shutdownStack(
  stack: Stack,
  options: ShutdownOptions = {},
): Promise<ShutdownReport> {
  const r = OptionReader.of(options, 'shutdownStack', false);
  const timeoutMs = r.int('timeoutMs', 0, 0x7fffffff) ?? 5000;
  const record = recordOf(stack);
  const clock = stack.clock;
  const started = clock.now();
  const report: ShutdownReport = {
    stopped: 0,
    closed: 0,
    aborted: 0,
    failed: 0,
    timedOut: false,
    elapsedMs: 0,
  };
  const stoppables = [...record.stoppables];
  record.stoppables.clear();
  for (const s of stoppables) {
    s.stop();
    report.stopped++;
  }
  const open = new Set<TcpConnection>(record.connections);
  return new Promise((resolve) => {
    const timer = new ClockTimer(clock);
    const finish = () => {
      timer.cancel();
      report.elapsedMs = clock.now() - started;
      resolve(report);
    };
    if (open.size === 0) {
      finish();
      return;
    }
    for (const conn of open) {
      conn.once('terminated', (reason: TerminationReason) => {
        if (reason === 'close') report.closed++;
        else if (reason === 'abort') report.aborted++;
        else report.failed++;
        open.delete(conn);
        if (open.size === 0) finish();
      });
    }
    for (const conn of open) if (conn.alive) conn.gracefulClose();
    timer.start(timeoutMs, () => {
      const left = [...open].filter((c) => c.alive);
      if (left.length > 0) report.timedOut = true;
      for (const conn of left) conn.abort();
    });
  });
}
