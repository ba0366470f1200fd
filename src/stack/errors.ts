/**
 * Errors: one error class with stable codes, and POSIX errno numbers.
 *
 * lwIP's err_t stays at the WASM boundary. Above it, failures are either an
 * errno number (the watcher API's style, with errorToString) or a StackError
 * whose `code` is a stable string users can match on: errno names such as
 * 'ECONNREFUSED' for network outcomes, 'ERR_*' names for misuse.
 */

/** errno values as Linux defines them (the numbers Node reports on Linux). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EMFILE: 24,
  EPIPE: 32,
  EPROTO: 71,
  EMSGSIZE: 90,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
} as const;
export type ErrnoName = keyof typeof Errno;

const ERRNO_TEXT: Record<ErrnoName, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EINTR: 'interrupted',
  EIO: 'input/output error',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'out of memory',
  EACCES: 'permission denied',
  EBUSY: 'device or resource busy',
  EEXIST: 'already exists',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  EMFILE: 'too many open connections',
  EPIPE: 'broken pipe',
  EPROTO: 'protocol error',
  EMSGSIZE: 'message too long',
  EPROTONOSUPPORT: 'protocol not supported',
  EOPNOTSUPP: 'operation not supported',
  EAFNOSUPPORT: 'address family not supported',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  ENETDOWN: 'network is down',
  ENETUNREACH: 'network is unreachable',
  ECONNABORTED: 'connection aborted',
  ECONNRESET: 'connection reset by peer',
  ENOBUFS: 'no buffer space available',
  EISCONN: 'already connected',
  ENOTCONN: 'not connected',
  ESHUTDOWN: 'cannot send after shutdown',
  ETIMEDOUT: 'connection timed out',
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'no route to host',
  EALREADY: 'operation already in progress',
  EINPROGRESS: 'operation in progress',
  ECANCELED: 'operation canceled',
};

const NAME_OF = new Map<number, ErrnoName>(
  (Object.entries(Errno) as [ErrnoName, number][]).map(([k, v]) => [v, k]),
);

/** The errno's name, e.g. 'ECONNREFUSED', or undefined for an unknown number. */
export function errnoName(errno: number): ErrnoName | undefined {
  return NAME_OF.get(Math.abs(errno));
}

/** "ECONNREFUSED (111): connection refused"; 0 is "OK (0): success". */
export function errorToString(errno: number): string {
  if (errno === 0) return 'OK (0): success';
  const name = errnoName(errno);
  return name
    ? `${name} (${Math.abs(errno)}): ${ERRNO_TEXT[name]}`
    : `errno ${errno}: unknown error`;
}

/** What sort of failure an error is (seed 003/004). */
export type ErrorKind = 'connection' | 'protocol' | 'configuration' | 'resource' | 'timeout';

export interface StackErrorOptions {
  errno?: number;
  kind: ErrorKind;
  retryable?: boolean;
  retryDelay?: number;
  operation?: string;
  connectionId?: number;
  cause?: unknown;
}

/**
 * The one error type of lwip-wasm. `code` is stable: match on it, not on the
 * message. Misuse (bad arguments, calls in the wrong state) has kind
 * 'configuration' and an 'ERR_*' code naming the problem.
 */
export class StackError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  readonly retryDelay: number | undefined;
  readonly operation: string | undefined;
  readonly connectionId: number | undefined;

  constructor(code: string, message: string, options: StackErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StackError';
    this.code = code;
    this.errno = options.errno ?? 0;
    this.kind = options.kind;
    this.retryable = options.retryable ?? false;
    this.retryDelay = options.retryDelay;
    this.operation = options.operation;
    this.connectionId = options.connectionId;
  }

  /** An error for a network outcome named by errno ('ECONNRESET', ...). */
  static fromErrno(
    name: ErrnoName,
    operation: string,
    extra: Partial<StackErrorOptions> = {},
  ): StackError {
    const errno = Errno[name];
    const kind: ErrorKind =
      name === 'ETIMEDOUT'
        ? 'timeout'
        : name === 'ENOMEM' || name === 'ENOBUFS' || name === 'EMFILE'
          ? 'resource'
          : name === 'EINVAL' || name === 'EADDRINUSE' || name === 'EADDRNOTAVAIL'
            ? 'configuration'
            : 'connection';
    const retryable =
      name === 'ECONNREFUSED' ||
      name === 'ECONNRESET' ||
      name === 'ETIMEDOUT' ||
      name === 'ENETUNREACH' ||
      name === 'EHOSTUNREACH' ||
      name === 'ECONNABORTED' ||
      kind === 'resource';
    return new StackError(name, `${operation}: ${errorToString(errno)}`, {
      errno,
      kind,
      retryable,
      operation,
      ...extra,
    });
  }

  /** Misuse: an argument is wrong. `field` names it. */
  static invalidArgument(operation: string, field: string, problem: string): StackError {
    return new StackError('ERR_INVALID_ARGUMENT', `${operation}: ${field} ${problem}`, {
      errno: Errno.EINVAL,
      kind: 'configuration',
      operation,
    });
  }

  /** Misuse: the call is not valid in the object's state. */
  static invalidState(code: string, operation: string, problem: string, id?: number): StackError {
    return new StackError(code, `${operation}: ${problem}`, {
      errno: Errno.EINVAL,
      kind: 'configuration',
      operation,
      connectionId: id,
    });
  }
}
