/**
 * Helpers for the watcher tests: a server/client pair of watchers over the
 * memory link, callback logs, and grouping of callbacks into synchronous
 * batches (callbacks that ran with no microtask checkpoint in between
 * necessarily ran in the same event-loop turn).
 */
import type { Pair } from '../helpers/net.js';
import { until } from '../helpers/net.js';
import {
  createTcpAcceptWatcher,
  createTcpConnectWatcher,
  createTcpConnectionWatcher,
  ipEndpoint,
  type TcpAcceptOption,
  type TcpAcceptWatcher,
  type TcpConnectOption,
  type TcpConnectionOption,
  type TcpConnectionWatcher,
  type TcpStream,
} from '../../src/watch/index.js';
import { concat } from '../helpers/net.js';

/** Counts calls per synchronous batch: batch sizes in order. */
export class Batches {
  readonly sizes: number[] = [];
  #open = false;

  /** Adds `n` to the current batch (opening one if the last closed). */
  add(n = 1): void {
    if (!this.#open) {
      this.#open = true;
      this.sizes.push(0);
      queueMicrotask(() => (this.#open = false));
    }
    this.sizes[this.sizes.length - 1]! += n;
  }
}

/** Everything a connection watcher reported, in order. */
export class WatchLog {
  readonly events: string[] = [];
  readonly chunks: Uint8Array[] = [];
  received = 0;
  closed = false;
  errors: number[] = [];
  sendReady = 0;
  /** Extra reactions, run after logging. */
  readonly then: {
    recv?: (chunk: Uint8Array) => void;
    close?: () => void;
    error?: (err: number) => void;
    sendReady?: () => void;
  } = {};

  onRecv = (chunk: Uint8Array) => {
    this.chunks.push(chunk);
    this.received += chunk.length;
    this.events.push(`recv:${chunk.length}`);
    this.then.recv?.(chunk);
  };
  onClose = () => {
    this.closed = true;
    this.events.push('close');
    this.then.close?.();
  };
  onError = (err: number) => {
    this.errors.push(err);
    this.events.push(`error:${err}`);
    this.then.error?.(err);
  };
  onSendReady = () => {
    this.sendReady++;
    this.events.push('sendReady');
    this.then.sendReady?.();
  };

  bytes(): Uint8Array {
    return concat(this.chunks);
  }

  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/** Creates and starts a connection watcher that logs into a new WatchLog. */
export function watch(
  p: Pair,
  side: 'a' | 'b',
  stream: TcpStream,
  option: TcpConnectionOption = {},
  start = true,
): { w: TcpConnectionWatcher; log: WatchLog } {
  const log = new WatchLog();
  const w = createTcpConnectionWatcher(
    p[side],
    option,
    stream,
    log.onRecv,
    log.onClose,
    log.onError,
    log.onSendReady,
  );
  if (start) w.start();
  return { w, log };
}

/** A started accept watcher on b that collects streams. */
export function acceptOn(
  p: Pair,
  option: Partial<TcpAcceptOption> = {},
  start = true,
): { watcher: TcpAcceptWatcher; streams: TcpStream[]; errors: number[] } {
  const streams: TcpStream[] = [];
  const errors: number[] = [];
  const watcher = createTcpAcceptWatcher(
    p.b,
    { localBind: ipEndpoint('0.0.0.0', 80), ...option },
    (s) => streams.push(s),
    (e) => errors.push(e),
  );
  if (start) watcher.start();
  return { watcher, streams, errors };
}

/** Connects a to b:port with a connect watcher (and its option); resolves with the stream. */
export async function connectTo(
  p: Pair,
  address = '10.0.0.2',
  port = 80,
  option: TcpConnectOption = {},
): Promise<TcpStream> {
  let stream: TcpStream | undefined;
  let error = 0;
  createTcpConnectWatcher(
    p.a,
    ipEndpoint(address, port),
    option,
    (s) => (stream = s),
    (e) => (error = e),
  ).start();
  await until(p.clock, () => stream !== undefined || error !== 0, 'connect');
  if (!stream) throw new Error(`connect failed: errno ${error}`);
  return stream;
}

/** An established pair of streams: client (on a) and server (on b). */
export async function streamPair(
  p: Pair,
  accept: Partial<TcpAcceptOption> = {},
): Promise<{ client: TcpStream; server: TcpStream; acceptor: TcpAcceptWatcher }> {
  const { watcher, streams } = acceptOn(p, accept);
  const v6 = watcher.local.family === 'v6';
  const client = await connectTo(p, v6 ? 'fd00::2' : '10.0.0.2', watcher.local.port);
  await until(p.clock, () => streams.length === 1, 'accept');
  return { client, server: streams[0]!, acceptor: watcher };
}

/** Sends all of `data` with trySend, resuming on onSendReady; returns progress. */
export function sendAll(
  w: TcpConnectionWatcher,
  log: WatchLog,
  data: Uint8Array,
): { offset(): number; partials(): number } {
  let off = 0;
  let partials = 0;
  const pump = () => {
    while (off < data.length) {
      const r = w.trySend(data.subarray(off));
      if (r.err) throw new Error(`trySend err ${r.err}`);
      off += r.n;
      if (r.wouldBlock) {
        if (r.n > 0) partials++;
        return;
      }
    }
  };
  log.then.sendReady = pump;
  pump();
  return { offset: () => off, partials: () => partials };
}
