/**
 * StackCore: one lwIP instance with its clock, interfaces and event routing.
 * The public Stack (src/tcp/stack.ts) adds TCP listen/connect on top, so
 * that this layer does not depend on the connection model above it.
 *
 * Event flow: WASM imports only record (events, received bytes, outgoing
 * packets) into queues; once the WASM call has returned, a microtask
 * delivers outgoing packets to their interfaces' receivers and then events,
 * in order, to the objects that own their handles. User callbacks therefore
 * never run while a WASM frame is on the stack.
 */
import { Emitter, rethrowLater } from '../util/emitter.js';
import { microtask } from '../util/yield.js';
import {
  LwEvent,
  LwReason,
  LwStat,
  TCP_STATE_NAMES,
  type LwipExports,
  type LwSink,
} from '../wasm/abi.js';
import { loadModule, type WasmSource } from '../wasm/loader.js';
import { LwipRuntime, type Words } from '../wasm/runtime.js';
import { parseCidr } from './address.js';
import { RealClock, type Clock, type TimerClient } from './clock.js';
import { StackError } from './errors.js';
import { StackCause, type HandleOwner, type StackHost } from './host.js';
import { NetInterface, type InterfaceOptions } from './interface.js';

/** Options of Stack.create. */
export interface StackOptions {
  /** Time source; default a RealClock. Pass a VirtualClock for deterministic tests. */
  clock?: Clock;
  /** Seeds every random choice (ISNs, ephemeral ports, jitter). Default: random. */
  seed?: number | bigint;
  /** Most TCP connections at once (0 = no limit). Beyond it: RST / EMFILE. */
  maxConnections?: number;
  /** Most bytes lwIP may hold on its heap (0 = no limit). Beyond it lwIP drops and refuses. */
  memoryLimit?: number;
  tcp?: {
    /** Receive window per connection in bytes (default 1 MiB, at most 8 MiB). */
    window?: number;
    /** Send buffer per connection in bytes (default 1 MiB, at most 8 MiB). */
    sendBuffer?: number;
  };
  /** Where lwip.wasm comes from (bytes, URL or compiled module); default: next to the package. */
  wasm?: WasmSource;
}

/** Figures reported by Stack.stats(). */
export interface StackStats {
  tcp: {
    listen: number;
    synSent: number;
    synReceived: number;
    established: number;
    closing: number;
    timeWait: number;
    /** Segments retransmitted since the stack started. */
    retransmissions: number;
    /** Segments dropped by TCP input (bad checksum, no connection, refused...). */
    droppedSegments: number;
    /** Of those, segments with a bad checksum. */
    checksumErrors: number;
  };
  /** Live handles in the glue's table (connections + listeners). */
  handles: number;
  /** Live connection handles. */
  connections: number;
  /** Connections refused by maxConnections. */
  refusedByLimit: number;
  /**
   * Incoming connections refused with RST because memory ran short: the
   * memory limit left less than a new connection's reserve (4 KiB), or lwIP
   * could not allocate its pcb or SYN-ACK. (With less memory left than an
   * RST takes, the SYN goes unanswered and is only counted here.)
   */
  refusedForMemory: number;
  heap: {
    /** Bytes lwIP holds right now. */
    lwipBytes: number;
    lwipPeak: number;
    /** Allocations refused by memoryLimit (or by the C heap). */
    refusedAllocations: number;
    /** Bytes in use in the whole C heap (lwIP, glue tables, buffers). */
    mallocBytes: number;
    /** Size of WASM linear memory. */
    memoryBytes: number;
  };
  /**
   * Packet and byte counters since the stack started, over all its
   * interfaces (removed ones included). `in`: packets handed to lwIP's
   * input; `inDropped`: of those, packets lwIP dropped before any protocol
   * took them (too short, no memory for a pbuf); `out`: packets lwIP emitted.
   * `bytesIn`/`bytesOut`: the sum of the interfaces' counters
   * (NetInterface.counters.bytesIn/bytesOut), whole IP packets.
   */
  packets: { in: number; inDropped: number; out: number; bytesIn: number; bytesOut: number };
}

/**
 * Events and chunks from the WASM side, queued until the call returns: five
 * numbers per entry (handle, kind, a, b, last) in one array and the chunk of
 * a recv at the same index in another, so queueing allocates no object per
 * event. `last` marks the terminations the stack itself queues when it
 * closes or fails: after that only they are delivered.
 */
class EventQueue {
  readonly nums: number[] = [];
  readonly data: (Uint8Array | undefined)[] = [];
  /** Entries in use; the arrays only grow (truncating them would free their storage). */
  length = 0;

  push(h: number, k: number, a: number, b: number, d: Uint8Array | undefined, last = 0): void {
    const i = this.length++;
    const n = i * 5;
    const nums = this.nums;
    if (n < nums.length) {
      nums[n] = h;
      nums[n + 1] = k;
      nums[n + 2] = a;
      nums[n + 3] = b;
      nums[n + 4] = last;
      this.data[i] = d;
    } else {
      nums.push(h, k, a, b, last);
      this.data.push(d);
    }
  }

  clear(): void {
    for (let i = 0; i < this.length; i++) this.data[i] = undefined;
    this.length = 0;
  }
}

interface CoreEvents extends Record<string, unknown[]> {
  /** The WASM instance trapped; every connection terminated with Destroyed. */
  fatal: [error: StackError];
}

function splitSeed(seed: number | bigint | undefined): [number, number] {
  if (seed === undefined) {
    const r = new Uint32Array(2);
    globalThis.crypto.getRandomValues(r);
    return [r[0]!, r[1]!];
  }
  const big = BigInt.asUintN(64, BigInt(seed));
  return [Number(big & 0xffffffffn), Number(big >> 32n)];
}

function checkSize(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw StackError.invalidArgument('Stack', field, `must be an integer in ${min}..${max}`);
  return value;
}

export class StackCore extends Emitter<CoreEvents> implements StackHost, LwSink, TimerClient {
  readonly clock: Clock;
  #runtime: LwipRuntime | undefined;
  #state: 'open' | 'closed' | 'failed' = 'open';
  #fatalMessage = '';
  readonly #owners = new Map<number, HandleOwner>();
  readonly #interfaces = new Map<number, NetInterface>();
  /** Handles whose received chunks are transient copies (TcpConnection.setTransientReads). */
  readonly #transientReads = new Set<number>();
  /** Byte counters of interfaces already removed, so stats() totals never go back. */
  #retiredBytes = { in: 0, out: 0 };
  #queue = new EventQueue();
  /** The other queue: filled while one is dispatched (they swap). */
  #spare = new EventQueue();
  readonly #dispatchFn = () => this.#dispatch();
  #outputs: NetInterface[] = [];
  #scheduled = false;
  #release: (() => void) | undefined;
  #rng: number;
  /** Inside call(): lwIP's clock reading of this call, once read (-1: not yet). */
  #inCall = false;
  #callNow = -1;

  protected constructor(options: StackOptions) {
    super();
    this.clock = options.clock ?? new RealClock();
    const [lo, hi] = splitSeed(options.seed);
    this.#rng = (lo ^ hi) >>> 0 || 1;
  }

  /** @internal Instantiates the module and initialises lwIP. */
  protected async init(options: StackOptions): Promise<void> {
    const maxConnections = checkSize(options.maxConnections, 'maxConnections', 0, 0x7fffffff) ?? 0;
    const memoryLimit = checkSize(options.memoryLimit, 'memoryLimit', 0, 0xffffffff) ?? 0;
    const window = checkSize(options.tcp?.window, 'tcp.window', 1024, 8 << 20) ?? 1 << 20;
    const sendBuffer =
      checkSize(options.tcp?.sendBuffer, 'tcp.sendBuffer', 2048, 8 << 20) ?? 1 << 20;
    const module = await loadModule(options.wasm);
    this.#runtime = await LwipRuntime.create(module, this);
    const [lo, hi] = splitSeed(options.seed);
    const x = this.#runtime.exports;
    x.lw_set_tcp_buffers(window, sendBuffer);
    x.lw_set_max_connections(maxConnections);
    this.call('Stack.create', (e) => e.lw_init(lo, hi, memoryLimit));
  }

  /** @internal */
  get isOpen(): boolean {
    return this.#state === 'open';
  }

  // ---- LwSink: called from inside WASM imports; only records ----

  /** @internal */
  event(kind: number, handle: number, a: number, b: number): void {
    this.#queue.push(handle, kind, a, b, undefined);
  }

  /** @internal */
  recv(handle: number, ptr: number, len: number): void {
    const runtime = this.#runtime;
    if (!runtime) return;
    // Segments of one connection that arrive in one call become one chunk
    // when nothing else was queued in between (fewer, larger 'readable's).
    const q = this.#queue;
    const last = q.length - 1;
    const transient = this.#transientReads.has(handle);
    if (last >= 0 && q.nums[last * 5] === handle) {
      const prev = q.data[last];
      const merged =
        prev &&
        (transient ? runtime.appendTransient(prev, ptr, len) : runtime.append(prev, ptr, len));
      if (merged) {
        q.data[last] = merged;
        return;
      }
    }
    q.push(
      handle,
      0,
      0,
      0,
      transient ? runtime.copyOutTransient(ptr, len) : runtime.copyOut(ptr, len),
    );
  }

  /** @internal See StackHost.setTransientReads. */
  setTransientReads(handle: number, enabled: boolean): void {
    if (enabled) this.#transientReads.add(handle);
    else this.#transientReads.delete(handle);
  }

  /** @internal See StackHost.releaseRead. */
  releaseRead(chunk: Uint8Array): void {
    this.#runtime?.release(chunk);
  }

  /** @internal */
  output(netif: number, ptr: number, len: number): void {
    const iface = this.#interfaces.get(netif);
    const runtime = this.#runtime;
    if (!iface || !runtime) return;
    const packet = iface.transientOutput
      ? runtime.copyOutTransient(ptr, len)
      : runtime.copyOut(ptr, len);
    if (iface.queueOutput(packet)) this.#outputs.push(iface);
  }

  /** @internal Gives back packets that an interface emitted as transient copies. */
  releaseOutput(packets: readonly Uint8Array[]): void {
    const runtime = this.#runtime;
    if (!runtime) return;
    for (let i = 0; i < packets.length; i++) runtime.release(packets[i]!);
  }

  /** @internal */
  fatal(message: string): void {
    this.#fatalMessage = message;
  }

  /** @internal */
  now(): number {
    // Time does not move within one call into lwIP (a few microseconds);
    // lwIP asks often (timeouts, sleeptime), the clock is read once.
    if (!this.#inCall) return Math.floor(this.clock.now());
    if (this.#callNow < 0) this.#callNow = Math.floor(this.clock.now());
    return this.#callNow;
  }

  // ---- StackHost ----

  /** @internal */
  call<T>(operation: string, fn: (exports: LwipExports, runtime: LwipRuntime) => T): T {
    const runtime = this.#runtime;
    if (this.#state !== 'open' || !runtime) {
      throw StackError.invalidState(
        this.#state === 'failed' ? 'ERR_STACK_FAILED' : 'ERR_STACK_CLOSED',
        operation,
        this.#state === 'failed'
          ? 'the stack failed and can no longer be used'
          : 'the stack is closed',
      );
    }
    let result: T;
    this.#inCall = true;
    this.#callNow = -1;
    try {
      result = fn(runtime.exports, runtime);
    } catch (error) {
      this.#inCall = false;
      throw this.#failedBy(operation, error);
    }
    this.#afterCall(runtime);
    this.#inCall = false;
    return result;
  }

  /**
   * @internal Like call(), for an export that only reads (lw_tcp_info,
   * lw_stats): no timer or event bookkeeping afterwards.
   */
  query<T>(operation: string, fn: (exports: LwipExports, runtime: LwipRuntime) => T): T {
    const runtime = this.#runtime;
    if (this.#state !== 'open' || !runtime) return this.call(operation, fn);
    try {
      return fn(runtime.exports, runtime);
    } catch (error) {
      throw this.#failedBy(operation, error);
    }
  }

  /** What a throwing export call becomes: a trap fails the stack (ERR_STACK_FAILED); anything else passes. */
  #failedBy(operation: string, error: unknown): unknown {
    if (!(error instanceof WebAssembly.RuntimeError)) return error;
    this.#fail(operation, error);
    return StackError.invalidState(
      'ERR_STACK_FAILED',
      operation,
      `the stack failed: ${error.message}`,
    );
  }

  /** @internal */
  register(handle: number, owner: HandleOwner): void {
    this.#owners.set(handle, owner);
  }

  /** @internal */
  unregister(handle: number): void {
    this.#owners.delete(handle);
    this.#transientReads.delete(handle);
  }

  /** @internal */
  removeInterface(iface: NetInterface): void {
    if (this.#interfaces.get(iface.id) !== iface) return;
    this.#interfaces.delete(iface.id);
    this.#retiredBytes.in += iface.counters.bytesIn;
    this.#retiredBytes.out += iface.counters.bytesOut;
    if (this.#state === 'open')
      this.call('NetInterface.remove', (x) => x.lw_netif_remove(iface.id));
  }

  /** @internal */
  random(): number {
    // xorshift32 seeded from the stack's seed: deterministic per seed.
    let x = this.#rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#rng = x >>> 0;
    return this.#rng / 0x100000000;
  }

  // ---- timers ----

  /** @internal TimerClient: lwIP's next deadline passed. */
  fire(): void {
    if (this.#state !== 'open') return;
    this.call('timers', (x) => x.lw_timers_run());
  }

  #afterCall(runtime: LwipRuntime): void {
    const next = runtime.exports.lw_timers_next();
    if (next < 0) this.clock.cancel(this);
    else this.clock.schedule(this, this.now() + next);
    if ((this.#queue.length > 0 || this.#outputs.length > 0) && !this.#scheduled) {
      this.#scheduled = true;
      this.#release = this.clock.hold();
      microtask(this.#dispatchFn);
    }
  }

  #dispatch(): void {
    this.#scheduled = false;
    const release = this.#release;
    this.#release = undefined;
    try {
      const outputs = this.#outputs;
      this.#outputs = [];
      for (const iface of outputs) iface.flushOutput();
      // Events that callbacks cause meanwhile go to the other queue (and a
      // later dispatch); this one is emptied for reuse when done.
      const queue = this.#queue;
      this.#queue = this.#spare;
      const { nums, data } = queue;
      for (let i = 0, n = 0; i < queue.length; i++, n += 5) {
        // Closed or failed (maybe by a callback of this very batch): what
        // lwIP produced before is void; only the terminations remain.
        if (this.#state !== 'open' && nums[n + 4] === 0) continue;
        const owner = this.#owners.get(nums[n]!);
        const d = data[i];
        try {
          if (d) owner?.handleData(d);
          else if (owner) owner.handleEvent(nums[n + 1]!, nums[n + 2]!, nums[n + 3]!);
          else if (nums[n + 1] === LwEvent.ACCEPT) this.#orphanAccept(nums[n + 2]!);
        } catch (error) {
          rethrowLater(error);
        }
      }
      queue.clear();
      this.#spare = queue;
    } catch (error) {
      rethrowLater(error);
    } finally {
      release?.();
    }
  }

  /** An accepted connection whose listener is gone: nobody will own it. */
  #orphanAccept(handle: number): void {
    if (this.#state === 'open') this.call('accept', (x) => x.lw_tcp_abort(handle));
  }

  #fail(operation: string, error: Error): void {
    const message = this.#fatalMessage || error.message;
    this.#end('failed');
    this.emit(
      'fatal',
      new StackError('ERR_STACK_FAILED', `lwIP instance failed during ${operation}: ${message}`, {
        kind: 'resource',
        operation,
        cause: error,
      }),
    );
  }

  /** Ends every handle with a Destroyed termination delivered through the normal queue. */
  #end(state: 'closed' | 'failed'): void {
    this.#state = state;
    this.clock.cancel(this);
    this.#runtime = undefined;
    const cause = state === 'closed' ? StackCause.CLOSED : StackCause.FAILED;
    for (const handle of this.#owners.keys()) {
      this.#queue.push(handle, LwEvent.TERMINATED, LwReason.DESTROYED, cause, undefined, 1);
    }
    for (const iface of this.#interfaces.values()) iface.remove();
    this.#interfaces.clear();
    this.#outputs = [];
    if (!this.#scheduled && this.#queue.length > 0) {
      this.#scheduled = true;
      this.#release = this.clock.hold();
      microtask(this.#dispatchFn);
    }
  }

  // ---- public API ----

  /** Adds a packet interface. Throws StackError (ERR_INVALID_ARGUMENT) on bad addresses or MTU. */
  addInterface(options: InterfaceOptions = {}): NetInterface {
    const op = 'Stack.addInterface';
    const mtu = options.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535)
      throw StackError.invalidArgument(
        op,
        'mtu',
        `must be an integer in 576..65535, got ${String(mtu)}`,
      );
    const v4 = options.ipv4 === undefined ? undefined : parseCidr(options.ipv4, op, 'ipv4');
    const v6 = options.ipv6 === undefined ? undefined : parseCidr(options.ipv6, op, 'ipv6');
    if (v4 && v4.ip.family !== 4)
      throw StackError.invalidArgument(op, 'ipv4', 'is not an IPv4 address');
    if (v6 && v6.ip.family !== 6)
      throw StackError.invalidArgument(op, 'ipv6', 'is not an IPv6 address');
    const id = this.call(op, (x, rt) => {
      const ip4 = v4 ? new DataView(v4.ip.bytes.buffer).getUint32(0, true) : 0;
      let ip6 = 0;
      if (v6) ip6 = rt.copyIn(v6.ip.bytes);
      return x.lw_netif_add(ip4, v4?.prefix ?? 0, ip6, v6?.prefix ?? 0, mtu);
    });
    if (id < 0)
      throw new StackError(
        'ERR_TOO_MANY_INTERFACES',
        `${op}: no room for another interface (16 at most)`,
        { kind: 'resource', operation: op },
      );
    if (options.transparent) this.call(op, (x) => x.lw_netif_set_transparent(id, 1));
    const iface = new NetInterface(this, id, mtu, v4, v6);
    this.#interfaces.set(id, iface);
    return iface;
  }

  /**
   * Changes limits at run time (see StackOptions). Lowering a limit affects
   * only what comes next: live connections and held memory stay.
   */
  setLimits(limits: { maxConnections?: number; memoryLimit?: number }): void {
    const maxConnections = checkSize(limits.maxConnections, 'maxConnections', 0, 0x7fffffff);
    const memoryLimit = checkSize(limits.memoryLimit, 'memoryLimit', 0, 0xffffffff);
    this.call('Stack.setLimits', (x) => {
      if (maxConnections !== undefined) x.lw_set_max_connections(maxConnections);
      if (memoryLimit !== undefined) x.lw_set_mem_limit(memoryLimit);
    });
  }

  #byteTotals(): { bytesIn: number; bytesOut: number } {
    let bytesIn = this.#retiredBytes.in;
    let bytesOut = this.#retiredBytes.out;
    for (const iface of this.#interfaces.values()) {
      bytesIn += iface.counters.bytesIn;
      bytesOut += iface.counters.bytesOut;
    }
    return { bytesIn, bytesOut };
  }

  /** Current figures; cheap enough for a status line, walks lwIP's pcb lists. */
  stats(): StackStats {
    const runtime = this.#runtime;
    const w: Words = runtime ? runtime.stats() : new Array<number>(LwStat.WORDS).fill(0);
    const at = (i: number) => w[i] ?? 0;
    return {
      tcp: {
        listen: at(LwStat.PCB_LISTEN),
        synSent: at(LwStat.PCB_SYN_SENT),
        synReceived: at(LwStat.PCB_SYN_RCVD),
        established: at(LwStat.PCB_ESTABLISHED),
        closing: at(LwStat.PCB_CLOSING),
        timeWait: at(LwStat.PCB_TIME_WAIT),
        retransmissions: at(LwStat.TCP_REXMIT),
        droppedSegments: at(LwStat.TCP_DROPPED),
        checksumErrors: at(LwStat.TCP_CHKERR),
      },
      handles: at(LwStat.HANDLES),
      connections: at(LwStat.CONNECTIONS),
      refusedByLimit: at(LwStat.REFUSED_LIMIT),
      refusedForMemory: at(LwStat.REFUSED_MEMORY),
      heap: {
        lwipBytes: at(LwStat.HEAP_BYTES),
        lwipPeak: at(LwStat.HEAP_PEAK),
        refusedAllocations: at(LwStat.HEAP_REFUSED),
        mallocBytes: at(LwStat.SYS_HEAP),
        memoryBytes: runtime?.memoryBytes ?? 0,
      },
      packets: {
        in: at(LwStat.IN_PACKETS),
        inDropped: at(LwStat.IN_DROPPED),
        out: at(LwStat.OUT_PACKETS),
        ...this.#byteTotals(),
      },
    };
  }

  /**
   * Frees everything: every connection terminates with Destroyed (delivered
   * on a microtask), listeners and interfaces go away, timers stop. Calling
   * it again does nothing.
   */
  close(): void {
    if (this.#state !== 'open') return;
    this.#end('closed');
  }

  /** lwIP's name for a tcp_state value. */
  static stateName(state: number): string {
    return TCP_STATE_NAMES[state] ?? `UNKNOWN(${state})`;
  }
}
