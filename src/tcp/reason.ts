/**
 * Why a connection ended, and the error that goes with it. The reason says
 * what happened (seed 001); the error, when there is one, says what a socket
 * user would have seen (errno and a stable code).
 */
import { LwCause, LwReason } from '../wasm/abi.js';
import { StackError, type ErrnoName } from '../stack/errors.js';
import { StackCause } from '../stack/host.js';

/** Why a connection terminated. */
export const TerminationReason = {
  /** The orderly close finished (both FINs exchanged, or ours after theirs). */
  Close: 'close',
  /** The peer sent RST (a refused connect is a Reset with ECONNREFUSED). */
  Reset: 'reset',
  /** We aborted it (abort(), or linger 0). */
  Abort: 'abort',
  /** lwIP freed it itself: timeouts, memory pressure, limits, or the stack closed/failed. */
  Destroyed: 'destroyed',
} as const;
export type TerminationReason = (typeof TerminationReason)[keyof typeof TerminationReason];

const REASONS: Record<number, TerminationReason> = {
  [LwReason.CLOSE]: TerminationReason.Close,
  [LwReason.RESET]: TerminationReason.Reset,
  [LwReason.ABORT]: TerminationReason.Abort,
  [LwReason.DESTROYED]: TerminationReason.Destroyed,
};

const CAUSE_ERRNO: Record<number, ErrnoName> = {
  [LwCause.REFUSED]: 'ECONNREFUSED',
  [LwCause.RESET]: 'ECONNRESET',
  [LwCause.TIMEOUT]: 'ETIMEDOUT',
  [LwCause.ABORTED]: 'ECONNABORTED',
  [LwCause.NOROUTE]: 'ENETUNREACH',
  [LwCause.ADDRINUSE]: 'EADDRINUSE',
  [LwCause.NOMEM]: 'ENOMEM',
  [LwCause.LIMIT]: 'EMFILE',
  [LwCause.ADDRNOTAVAIL]: 'EADDRNOTAVAIL',
};

export function reasonOf(code: number): TerminationReason {
  return REASONS[code] ?? TerminationReason.Destroyed;
}

/** The error a termination carries, or undefined for orderly ends and our own aborts. */
export function terminationError(
  cause: number,
  operation: string,
  id: number,
): StackError | undefined {
  // Made while events are dispatched, its stack would only show the
  // dispatch loop; capturing it is most of the cost of tearing down many
  // connections at once (13% of the scale bench), so it is left out.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return errorFor(cause, operation, id);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function errorFor(cause: number, operation: string, id: number): StackError | undefined {
  if (cause === StackCause.CLOSED || cause === StackCause.FAILED) {
    const closed = cause === StackCause.CLOSED;
    return new StackError(
      closed ? 'ERR_STACK_CLOSED' : 'ERR_STACK_FAILED',
      `${operation}: ${closed ? 'the stack was closed' : 'the stack failed'}`,
      { errno: 103, kind: closed ? 'connection' : 'resource', operation, connectionId: id },
    );
  }
  const name = CAUSE_ERRNO[cause];
  return name ? StackError.fromErrno(name, operation, { connectionId: id }) : undefined;
}
