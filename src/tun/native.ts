/**
 * The typed view of tun.node, the native TUN bridge built from tun/ (see
 * tun/addon.c for what it does and why readiness is a uv_poll). The addon is
 * loaded on first use, through a dynamic import of node:module, so that
 * nothing here is touched by code (or a browser bundle) that never opens a
 * TUN device. Its errors become StackErrors that keep the errno name as code.
 */
import { StackError, type ErrorKind } from '../stack/errors.js';

/** An open device inside the addon; only the addon looks inside. */
export type TunHandle = { readonly __tunHandle: unique symbol };

/** What the addon calls back with: packets (0), writable (1) or the error that stopped reading (2). */
export type TunCallback = (kind: 0 | 1 | 2, value: Uint8Array[] | Error | undefined) => void;

/** The functions of tun.node; tun/addon.c documents each one. */
export interface TunNative {
  open(name: string, multiQueue: boolean, offload: boolean): [TunHandle, string];
  configure(handle: TunHandle, mtu: number, up: boolean): number;
  poll(
    handle: TunHandle,
    readable: boolean,
    writable: boolean,
    callback: TunCallback | undefined,
    batch: number,
    borrow: boolean,
  ): void;
  read(handle: TunHandle, max: number): Uint8Array[];
  write(handle: TunHandle, packets: readonly Uint8Array[], start: number): number;
  stats(handle: TunHandle): [writeErrors: number, lastWriteErrno: number];
  close(handle: TunHandle): void;
}

// src/tun/native.ts and dist/tun/native.js both sit two levels below the package root.
const ADDON_URL = new URL('../../tun/build/Release/tun.node', import.meta.url);

let cached: Promise<TunNative> | undefined;

function unavailable(message: string, cause?: unknown): StackError {
  return new StackError('ERR_TUN_UNAVAILABLE', `openTun: ${message}`, {
    kind: 'configuration',
    operation: 'openTun',
    cause,
  });
}

/**
 * Loads tun.node (once; pass `url` to load another file, uncached).
 * Rejects with StackError 'ERR_TUN_UNAVAILABLE' when not on Linux under
 * Node, or when the addon was not built ("run make tun") or fails to load.
 */
export function loadTunAddon(url?: URL): Promise<TunNative> {
  if (url !== undefined) return load(url);
  cached ??= load(ADDON_URL);
  // A failed load is not remembered: building the addon and retrying works.
  cached.catch(() => (cached = undefined));
  return cached;
}

async function load(url: URL): Promise<TunNative> {
  const proc = (globalThis as { process?: { platform?: string; versions?: { node?: string } } })
    .process;
  if (!proc?.versions?.node) throw unavailable('TUN devices need Node.js');
  if (proc.platform !== 'linux')
    throw unavailable(`TUN devices are supported on Linux only, not ${proc.platform}`);
  const { createRequire } = await import('node:module');
  const { fileURLToPath } = await import('node:url');
  const path = fileURLToPath(url);
  try {
    return createRequire(import.meta.url)(path) as TunNative;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'MODULE_NOT_FOUND')
      throw unavailable(`the native TUN addon is not built (no ${path}); run make tun`, error);
    throw unavailable(
      `the native TUN addon ${path} failed to load (${(error as Error).message}); rebuild it with make tun`,
      error,
    );
  }
}

const CONFIGURATION = new Set(['EPERM', 'EACCES', 'ENOENT', 'ENODEV', 'ENXIO', 'EBUSY', 'EINVAL']);

/**
 * Turns an error thrown by the addon into a StackError with the same
 * `code` (the errno name, e.g. 'EBUSY') and `errno`. Errors without an
 * errno (wrong argument types: a bug here) are returned unchanged.
 */
export function tunError(operation: string, error: unknown): unknown {
  const e = error as { code?: unknown; errno?: unknown; message?: unknown };
  if (typeof e?.code !== 'string' || typeof e.errno !== 'number') return error;
  const kind: ErrorKind = CONFIGURATION.has(e.code) ? 'configuration' : 'resource';
  return new StackError(e.code, `${operation}: ${String(e.message)}`, {
    errno: e.errno,
    kind,
    operation,
    cause: error,
  });
}
