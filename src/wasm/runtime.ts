/**
 * One lwIP instance: a WebAssembly instance of lwip.wasm with its imports
 * wired to a sink (wasm/runtime.c is the C side). The runtime owns the memory
 * views and one scratch buffer for copying bytes in; it knows nothing of
 * connections or interfaces, which live in src/stack and src/tcp.
 *
 * Re-entrancy: imports only report to the sink; the sink queues and acts
 * after the export returns (see wasm/abi.h).
 */
import { WASI } from '@bjorn3/browser_wasi_shim';
import { LwStat, type LwipExports, type LwSink } from './abi.js';

const decoder = new TextDecoder();
const SLAB_SIZE = 256 * 1024;
const SLAB_MAX_PIECE = 16 * 1024;

/**
 * Bytes that are about to be overwritten in full: Node's Buffer.allocUnsafeSlow
 * skips the zero fill that `new Uint8Array(n)` does (measurable when every
 * packet and received chunk is copied out). Returned as a plain Uint8Array
 * over its own ArrayBuffer, never a Buffer, so users see one type everywhere.
 */
const allocUninitialized: (size: number) => Uint8Array = (() => {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  if (B && typeof B.allocUnsafeSlow === 'function') {
    const slow = B.allocUnsafeSlow.bind(B);
    return (size) => {
      const b = slow(size);
      return new Uint8Array(b.buffer, b.byteOffset, size);
    };
  }
  return (size) => new Uint8Array(size);
})();

/** 32-bit words read out of a WASM result area (readWords). */
export type Words = readonly number[];

export class LwipRuntime {
  readonly exports: LwipExports;
  #bytes: Uint8Array;
  #words: Uint32Array;
  #scratch = 0;
  #scratchSize = 0;
  #out: number;
  #slab = allocUninitialized(SLAB_SIZE);
  #slabUsed = 0;
  /** The most recent piece copyOut() carved from the slab, and where it starts (see append()). */
  #lastPiece: Uint8Array | undefined;
  #lastStart = 0;
  /** Transient copies (copyOutTransient): the slab being filled and its live count. */
  #tSlab: Uint8Array | undefined;
  #tUsed = 0;
  #tLive = 0;
  /** The most recent transient copy and where it starts (see appendTransient()). */
  #tLastPiece: Uint8Array | undefined;
  #tLastStart = 0;
  /**
   * Earlier transient slabs with copies still out, by buffer: their live
   * counts. Weak: a slab whose copies are dropped unreleased is collected.
   */
  readonly #tOut = new WeakMap<ArrayBufferLike, { slab: Uint8Array; live: number }>();
  /** Transient slabs with no copies out, ready for reuse. */
  readonly #tFree: Uint8Array[] = [];

  private constructor(exports: LwipExports) {
    this.exports = exports;
    this.#bytes = new Uint8Array(exports.memory.buffer);
    this.#words = new Uint32Array(exports.memory.buffer);
    this.#out = exports.lw_buf_alloc(256);
  }

  /** Instantiates the module; `sink` receives everything the imports report. */
  static async create(module: WebAssembly.Module, sink: LwSink): Promise<LwipRuntime> {
    let runtime: LwipRuntime | undefined;
    const env = {
      js_now: () => sink.now() >>> 0,
      js_output: (netif: number, ptr: number, len: number) => sink.output(netif, ptr, len),
      js_event: (kind: number, handle: number, a: number, b: number) =>
        sink.event(kind, handle, a, b),
      js_recv: (handle: number, ptr: number, len: number) => sink.recv(handle, ptr, len),
      js_fatal: (message: number, file: number, line: number) =>
        sink.fatal(`${runtime!.cString(message)} (${runtime!.cString(file)}:${line})`),
      emscripten_notify_memory_growth: () => runtime?.refreshViews(),
    };
    const wasi = new WASI([], [], []);
    const instance = await WebAssembly.instantiate(module, {
      env,
      wasi_snapshot_preview1: wasi.wasiImport,
    });
    wasi.initialize(instance as never);
    runtime = new LwipRuntime(instance.exports as unknown as LwipExports);
    return runtime;
  }

  /**
   * The current byte view of WASM memory (rebuilt when memory grew). Growing
   * a WebAssembly.Memory detaches its old buffer, which leaves every view of
   * it with length 0: that test is much cheaper than reading memory.buffer,
   * a host call, on every packet.
   */
  u8(): Uint8Array {
    if (this.#bytes.length === 0) this.refreshViews();
    return this.#bytes;
  }

  u32(): Uint32Array {
    if (this.#words.length === 0) this.refreshViews();
    return this.#words;
  }

  refreshViews(): void {
    this.#bytes = new Uint8Array(this.exports.memory.buffer);
    this.#words = new Uint32Array(this.exports.memory.buffer);
  }

  /** Total bytes of WASM linear memory. */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /**
   * A scratch area of at least `size` bytes for copying data in; valid until
   * the next call to scratch().
   */
  scratch(size: number): number {
    if (size > this.#scratchSize) {
      if (this.#scratch) this.exports.lw_buf_free(this.#scratch);
      const want = Math.max(size, 65536, this.#scratchSize * 2);
      this.#scratch = this.exports.lw_buf_alloc(want);
      if (!this.#scratch) throw new RangeError(`lwip-wasm: cannot allocate ${want} bytes`);
      this.#scratchSize = want;
    }
    return this.#scratch;
  }

  /**
   * Copies [ptr, ptr+len) out of WASM memory into memory the caller owns.
   * Small copies are carved from a pooled slab (one allocation per 256 KiB
   * instead of one per packet); a slab region is never reused, so the copy
   * never changes. Because neighbours share the slab's ArrayBuffer, a user
   * who wants to transfer a packet's buffer to a worker must slice() it.
   */
  copyOut(ptr: number, len: number): Uint8Array {
    const mem = this.u8();
    if (len > SLAB_MAX_PIECE) {
      const copy = allocUninitialized(len);
      copy.set(mem.subarray(ptr, ptr + len));
      return copy;
    }
    if (this.#slabUsed + len > SLAB_SIZE) {
      this.#slab = allocUninitialized(SLAB_SIZE);
      this.#slabUsed = 0;
    }
    const at = this.#slabUsed;
    this.#slab.set(mem.subarray(ptr, ptr + len), at);
    // Keep pieces 8-aligned so DataView/Uint32Array users are not surprised.
    this.#slabUsed = (at + len + 7) & ~7;
    this.#lastStart = at;
    return (this.#lastPiece = this.#slab.subarray(at, at + len));
  }

  /**
   * If `piece` is the most recent piece copyOut() or append() returned and
   * the slab has room right after it, copies [ptr, ptr+len) there and
   * returns one view over both; otherwise returns undefined (nothing copied).
   * Lets the stack hand out one chunk for several segments of a connection
   * received in one call, without copying twice. `piece` must not have been
   * handed to anyone yet.
   */
  append(piece: Uint8Array, ptr: number, len: number): Uint8Array | undefined {
    if (piece !== this.#lastPiece || len > SLAB_MAX_PIECE) return undefined;
    const end = this.#lastStart + piece.length;
    if (end + len > SLAB_SIZE) return undefined;
    this.#slab.set(this.u8().subarray(ptr, ptr + len), end);
    this.#slabUsed = (end + len + 7) & ~7;
    return (this.#lastPiece = this.#slab.subarray(this.#lastStart, end + len));
  }

  /**
   * Copies [ptr, ptr+len) out of WASM memory into pooled memory that is
   * reused after release(copy): for packets that are consumed at once and
   * dropped (a memory link copies them into the other stack's WASM memory).
   * Reusing the same few slabs keeps them in cache and spares the page
   * faults and garbage of fresh memory for every packet. The copy must not
   * be read after release(); a copy never released is simply collected.
   */
  copyOutTransient(ptr: number, len: number): Uint8Array {
    if (len > SLAB_SIZE) return this.copyOut(ptr, len);
    let slab = this.#tSlab;
    if (!slab || this.#tUsed + len > SLAB_SIZE) {
      if (slab && this.#tLive > 0) this.#tOut.set(slab.buffer, { slab, live: this.#tLive });
      else if (slab) this.#tFree.push(slab);
      slab = this.#tSlab = this.#tFree.pop() ?? allocUninitialized(SLAB_SIZE);
      this.#tUsed = 0;
      this.#tLive = 0;
    }
    const at = this.#tUsed;
    slab.set(this.u8().subarray(ptr, ptr + len), at);
    this.#tUsed = (at + len + 7) & ~7;
    this.#tLive++;
    this.#tLastStart = at;
    return (this.#tLastPiece = slab.subarray(at, at + len));
  }

  /**
   * append() for transient copies: if `piece` is the most recent copy
   * copyOutTransient() or appendTransient() returned and its slab has room
   * right after it, copies [ptr, ptr+len) there and returns one view over
   * both (still one copy to release); otherwise returns undefined.
   */
  appendTransient(piece: Uint8Array, ptr: number, len: number): Uint8Array | undefined {
    const slab = this.#tSlab;
    if (piece !== this.#tLastPiece || !slab) return undefined;
    const end = this.#tLastStart + piece.length;
    if (end + len > SLAB_SIZE) return undefined;
    slab.set(this.u8().subarray(ptr, ptr + len), end);
    this.#tUsed = (end + len + 7) & ~7;
    return (this.#tLastPiece = slab.subarray(this.#tLastStart, end + len));
  }

  /** Gives back a copy made by copyOutTransient (anything else is ignored). */
  release(copy: Uint8Array): void {
    const buffer = copy.buffer;
    if (this.#tSlab !== undefined && buffer === this.#tSlab.buffer) {
      // The slab being filled: once nothing of it is out, fill it from the start again.
      if (--this.#tLive === 0) {
        this.#tUsed = 0;
        this.#tLastPiece = undefined;
      }
      return;
    }
    const out = this.#tOut.get(buffer);
    if (!out) return;
    if (--out.live > 0) return;
    this.#tOut.delete(buffer);
    if (this.#tFree.length < 16) this.#tFree.push(out.slab);
  }

  /** Copies `data` into the scratch area and returns its address. */
  copyIn(data: Uint8Array, offset = 0): number {
    const ptr = this.scratch(offset + data.length);
    this.u8().set(data, ptr + offset);
    return ptr;
  }

  /**
   * Calls `fill(ptr)` with a result area and returns `words` words of it,
   * as a plain array: a typed array of its own would take memory outside
   * the JavaScript heap, and once WASM memory is large (tens of MiB with
   * tens of thousands of connections) V8 answers every such allocation
   * with a young-generation collection ("external memory pressure"). That
   * halved the setup rate at 50,000 connections.
   */
  readWords(words: number, fill: (ptr: number) => number): Words | undefined {
    if (fill(this.#out) < 0) return undefined;
    const start = this.#out >>> 2;
    const u32 = this.u32();
    const out = new Array<number>(words);
    for (let i = 0; i < words; i++) out[i] = u32[start + i]!;
    return out;
  }

  stats(): Words {
    return this.readWords(LwStat.WORDS, (p) => this.exports.lw_stats(p))!;
  }

  cString(ptr: number): string {
    const mem = this.u8();
    let end = ptr;
    while (end < mem.length && mem[end] !== 0) end++;
    return decoder.decode(mem.subarray(ptr, end));
  }
}
