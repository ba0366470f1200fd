/**
 * TunDevice: a Linux TUN device (layer 3: each packet is a bare IPv4 or
 * IPv6 packet) opened through the native bridge in tun/. It moves packets
 * in batches both ways: onPackets() receives what the kernel routes into the
 * device, write() hands packets to the kernel. attachTun (./attach.ts)
 * wires one to a stack's NetInterface. Node on Linux only; opening needs
 * root or CAP_NET_ADMIN.
 *
 * Ownership: each packet handed to the receiver is a copy JavaScript owns
 * (the packets of one batch may share one ArrayBuffer), unless the receiver
 * asked to borrow them (onPackets(receiver, { borrow: true })): then they are
 * views of one buffer the device reuses for every batch, valid only until
 * the receiver returns, which saves a copy and an allocation per batch.
 * write() copies into the kernel before it returns, except for packets it
 * had to queue, which it keeps by reference until they are written.
 */
import { rethrowLater } from '../util/emitter.js';
import { StackError } from '../stack/errors.js';
import { loadTunAddon, tunError, type TunHandle, type TunNative } from './native.js';

/** Options of openTun. */
export interface TunOptions {
  /** Interface name, at most 15 bytes; default: the kernel picks one (tun0, tun1...). */
  name?: string;
  /** 68..65535; default: leave the kernel's (1500). Use the same MTU as the attached interface. */
  mtu?: number;
  /**
   * Open one queue of a multi-queue device (IFF_MULTI_QUEUE). Opening the
   * same name again with multiQueue adds a queue; the kernel spreads flows
   * over the queues. Default false: a second open of the name fails (EBUSY).
   */
  multiQueue?: boolean;
  /** Bring the link up. Default false (configure addresses first, e.g. with ip(8)). */
  up?: boolean;
  /**
   * Segmentation offload towards the kernel (IFF_VNET_HDR): a batch given
   * to write() that holds consecutive IPv4 TCP segments of one flow goes to
   * the kernel as one large GSO packet per up to 64 KiB, one system call and
   * one pass through the kernel's stack instead of one per segment (what
   * arrives is the same). Reads are unchanged. Default false.
   */
  offload?: boolean;
  /** Most packets handed over per event-loop turn (1..1024, default 256). */
  readBatch?: number;
  /** Most packets write() queues while the kernel is not taking any (default 4096); beyond, it drops. */
  maxQueued?: number;
}

/** Receives packets read from the device, in order, in batches. */
export type TunReceiver = (packets: Uint8Array[]) => void;

/** How a receiver takes its packets. */
export interface TunReceiveOptions {
  /**
   * Borrow the packets instead of owning them: they are views of a buffer
   * the device reuses, valid only until the receiver returns (copy what you
   * keep). Saves one copy and one allocation per batch. Default false.
   */
  borrow?: boolean;
}

/** Counters of one device. */
export interface TunCounters {
  /** Packets (and their bytes) read from the kernel. */
  packetsIn: number;
  bytesIn: number;
  /** Packets (and bytes) handed to the kernel, including those it refused (writeErrors). */
  packetsOut: number;
  bytesOut: number;
  /** Writes the kernel refused (a malformed packet, the link down...); those packets are lost. */
  writeErrors: number;
  /** Packets write() dropped because its queue was full. */
  writeDropped: number;
  /** Packets waiting in write()'s queue for the kernel to take them. */
  queued: number;
}

const NAME = /^[^\s/:]{1,15}$/;

function checkInteger(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw StackError.invalidArgument('openTun', field, `must be an integer in ${min}..${max}`);
  return value;
}

function checkBoolean(value: unknown, field: string): boolean {
  if (value !== undefined && typeof value !== 'boolean')
    throw StackError.invalidArgument('openTun', field, 'must be a boolean');
  return value === true;
}

/**
 * Opens (creating it if needed) a TUN device in the calling process's
 * network namespace. The device lives until close() (or until the process
 * exits, unless it was made persistent outside). Rejects with a StackError:
 * 'ERR_INVALID_ARGUMENT' for bad options; 'ERR_TUN_UNAVAILABLE' when the
 * addon is not built (run make tun) or this is not Linux; 'EPERM'/'EACCES'
 * without root or CAP_NET_ADMIN; 'ENOENT' without /dev/net/tun; 'EBUSY' when
 * the name is in use (by any device); 'EINVAL' for settings the kernel refuses.
 */
export async function openTun(options: TunOptions = {}): Promise<TunDevice> {
  if (typeof options !== 'object' || options === null)
    throw StackError.invalidArgument('openTun', 'options', 'must be an object');
  const name = options.name ?? '';
  if (
    typeof name !== 'string' ||
    (name !== '' && (!NAME.test(name) || byteLength(name) > 15 || name === '.' || name === '..'))
  )
    throw StackError.invalidArgument(
      'openTun',
      'name',
      'must be 1..15 bytes without whitespace, "/" or ":" (and not "." or "..")',
    );
  const mtu = checkInteger(options.mtu, 'mtu', 68, 65535) ?? 0;
  const readBatch = checkInteger(options.readBatch, 'readBatch', 1, 1024) ?? 256;
  const maxQueued = checkInteger(options.maxQueued, 'maxQueued', 0, 1 << 24) ?? 4096;
  const multiQueue = checkBoolean(options.multiQueue, 'multiQueue');
  const up = checkBoolean(options.up, 'up');
  const offload = checkBoolean(options.offload, 'offload');
  const native = await loadTunAddon();
  let opened: [TunHandle, string];
  try {
    opened = native.open(name, multiQueue, offload);
  } catch (error) {
    throw tunError('openTun', error);
  }
  const [handle, actual] = opened;
  let actualMtu: number;
  try {
    actualMtu = native.configure(handle, mtu, up);
  } catch (error) {
    native.close(handle);
    throw tunError('openTun', error);
  }
  return new TunDevice(native, handle, {
    name: actual,
    mtu: actualMtu,
    multiQueue,
    offload,
    readBatch,
    maxQueued,
  });
}

function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

/**
 * An open TUN device. Reading starts when a receiver is registered with
 * onPackets() and is driven by the event loop; writing is synchronous.
 * After close(), onPackets(), read() and write() throw 'ERR_TUN_CLOSED'.
 */
export class TunDevice {
  /** The interface name the kernel gave the device (stays the same if moved to another namespace). */
  readonly name: string;
  /** The MTU right after opening (changes made later, e.g. with ip(8), are not tracked). */
  readonly mtu: number;
  readonly multiQueue: boolean;
  /** Whether write() merges TCP segments into GSO packets (TunOptions.offload). */
  readonly offload: boolean;
  readonly #native: TunNative;
  readonly #handle: TunHandle;
  readonly #readBatch: number;
  readonly #maxQueued: number;
  readonly #counters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, writeDropped: 0 };
  #receiver: TunReceiver | undefined;
  #borrow = false;
  #onError: ((error: StackError) => void) | undefined;
  #queue: Uint8Array[] = [];
  #readFailed = false;
  #closed = false;
  readonly #callback = (kind: 0 | 1 | 2, value: Uint8Array[] | Error | undefined) => {
    if (kind === 0) this.#deliver(value as Uint8Array[]);
    else if (kind === 1) this.#flush();
    else this.#fail(value as Error);
  };

  /** @internal Created by openTun. */
  constructor(
    native: TunNative,
    handle: TunHandle,
    o: {
      name: string;
      mtu: number;
      multiQueue: boolean;
      offload: boolean;
      readBatch: number;
      maxQueued: number;
    },
  ) {
    this.#native = native;
    this.#handle = handle;
    this.name = o.name;
    this.mtu = o.mtu;
    this.multiQueue = o.multiQueue;
    this.offload = o.offload;
    this.#readBatch = o.readBatch;
    this.#maxQueued = o.maxQueued;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A snapshot of the counters. */
  get counters(): TunCounters {
    const [writeErrors] = this.#native.stats(this.#handle);
    return { ...this.#counters, writeErrors, queued: this.#queue.length };
  }

  /**
   * Registers the receiver of packets read from the device (replacing any
   * previous one) and starts reading; undefined stops reading, and the
   * kernel then queues and eventually drops what it routes here. The
   * receiver runs from the event loop, at most `readBatch` packets a turn;
   * if it throws, the error is rethrown asynchronously and reading goes on.
   * With `{ borrow: true }` the packets are valid only during the call.
   */
  onPackets(receiver: TunReceiver | undefined, options: TunReceiveOptions = {}): void {
    this.#open('TunDevice.onPackets');
    if (receiver !== undefined && typeof receiver !== 'function')
      throw StackError.invalidArgument('TunDevice.onPackets', 'receiver', 'must be a function');
    if (typeof options !== 'object' || options === null)
      throw StackError.invalidArgument('TunDevice.onPackets', 'options', 'must be an object');
    if (options.borrow !== undefined && typeof options.borrow !== 'boolean')
      throw StackError.invalidArgument('TunDevice.onPackets', 'borrow', 'must be a boolean');
    this.#receiver = receiver;
    this.#borrow = options.borrow === true;
    this.#repoll();
  }

  /**
   * Registers the handler of the error that stops reading (the device was
   * deleted, say with its network namespace). Without a handler that error
   * is rethrown asynchronously. The device stays open until close().
   */
  onError(handler: ((error: StackError) => void) | undefined): void {
    if (handler !== undefined && typeof handler !== 'function')
      throw StackError.invalidArgument('TunDevice.onError', 'handler', 'must be a function');
    this.#onError = handler;
  }

  /**
   * Reads what the kernel has queued now, up to `max` packets, without
   * waiting (an empty array when there is nothing). For callers that drive
   * the device themselves instead of using onPackets().
   */
  read(max = this.#readBatch): Uint8Array[] {
    this.#open('TunDevice.read');
    if (!Number.isInteger(max) || max < 1 || max > 1024)
      throw StackError.invalidArgument('TunDevice.read', 'max', 'must be an integer in 1..1024');
    let packets: Uint8Array[];
    try {
      packets = this.#native.read(this.#handle, max);
    } catch (error) {
      throw tunError('TunDevice.read', error);
    }
    this.#count(packets);
    return packets;
  }

  /**
   * Hands a batch of raw IPv4/IPv6 packets to the kernel, in order, in one
   * native call. Packets the kernel cannot take right now are queued (by
   * reference: do not modify them) and written when the device is writable
   * again; past `maxQueued` they are dropped and counted.
   */
  write(packets: readonly Uint8Array[]): void {
    this.#write(packets, false);
  }

  /**
   * @internal Like write(), for packets the caller reuses as soon as this
   * returns (attachTun's pooled transient output): those the kernel does not
   * take now are queued as copies, not by reference.
   */
  writeBorrowed(packets: readonly Uint8Array[]): void {
    this.#write(packets, true);
  }

  #write(packets: readonly Uint8Array[], borrowed: boolean): void {
    this.#open('TunDevice.write');
    if (!Array.isArray(packets))
      throw StackError.invalidArgument('TunDevice.write', 'packets', 'must be an array');
    for (let i = 0; i < packets.length; i++)
      if (!(packets[i] instanceof Uint8Array))
        throw StackError.invalidArgument(
          'TunDevice.write',
          `packets[${i}]`,
          'must be a Uint8Array',
        );
    if (this.#queue.length > 0) {
      this.#enqueue(packets, 0, borrowed);
      return;
    }
    const n = this.#writeNow(packets);
    if (n < packets.length) {
      this.#enqueue(packets, n, borrowed);
      this.#repoll();
    }
  }

  /** Stops reading and writing and closes the file; a non-persistent device disappears. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#receiver = undefined;
    this.#queue = [];
    this.#native.close(this.#handle);
  }

  #open(operation: string): void {
    if (this.#closed)
      throw StackError.invalidState('ERR_TUN_CLOSED', operation, 'the TUN device is closed');
  }

  #repoll(): void {
    const reading = this.#receiver !== undefined && !this.#readFailed;
    const writing = this.#queue.length > 0;
    this.#native.poll(
      this.#handle,
      reading,
      writing,
      reading || writing ? this.#callback : undefined,
      this.#readBatch,
      this.#borrow,
    );
  }

  #count(packets: Uint8Array[]): void {
    this.#counters.packetsIn += packets.length;
    for (const p of packets) this.#counters.bytesIn += p.length;
  }

  #deliver(packets: Uint8Array[]): void {
    this.#count(packets);
    const receiver = this.#receiver;
    if (!receiver) return;
    try {
      receiver(packets);
    } catch (error) {
      rethrowLater(error);
    }
  }

  #writeNow(packets: readonly Uint8Array[]): number {
    let n: number;
    try {
      n = this.#native.write(this.#handle, packets, 0);
    } catch (error) {
      throw tunError('TunDevice.write', error);
    }
    this.#counters.packetsOut += n;
    for (let i = 0; i < n; i++) this.#counters.bytesOut += packets[i]!.length;
    return n;
  }

  #enqueue(packets: readonly Uint8Array[], start: number, copy: boolean): void {
    for (let i = start; i < packets.length; i++) {
      if (this.#queue.length >= this.#maxQueued) {
        this.#counters.writeDropped += packets.length - i;
        return;
      }
      this.#queue.push(copy ? packets[i]!.slice() : packets[i]!);
    }
  }

  #flush(): void {
    if (this.#closed) return;
    const queue = this.#queue;
    const n = this.#writeNow(queue);
    this.#queue = queue.slice(n);
    if (this.#queue.length === 0) this.#repoll();
  }

  #fail(cause: Error): void {
    this.#readFailed = true;
    this.#queue = [];
    const converted = tunError('TunDevice', cause);
    const error =
      converted instanceof StackError
        ? converted
        : new StackError('EIO', `TunDevice: ${cause.message}`, { kind: 'resource', cause });
    const handler = this.#onError;
    if (!handler) {
      rethrowLater(error);
      return;
    }
    try {
      handler(error);
    } catch (thrown) {
      rethrowLater(thrown);
    }
  }
}
