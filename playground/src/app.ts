/**
 * The playground's state and simulation wiring, without any DOM: a
 * Simulation (one VirtualClock) with stacks A (10.0.0.1) and B (10.0.0.2)
 * on one impaired link, each listening on port 7 (echo) and port 9
 * (discard), the connections the user opened or accepted with what they
 * sent and received, bulk transfers with their expected SHA-256, a packet
 * log and a pcap capture of A's interface.
 *
 * The views read this object once per animation frame; nothing here
 * touches the page. Time only moves when time.ts advances the clock.
 *
 * Changing the impairments rebuilds the link (ImpairedLink options are
 * fixed at creation): packets in flight on the old wire are dropped
 * ('closed'), and TCP recovers them like any other loss.
 */
import {
  PcapWriter,
  Sha256,
  Simulation,
  capture,
  checkImpairments,
  type Capture,
  type ImpairedLink,
  type Impairments,
  type NetInterface,
  type Stack,
  type TcpConnection,
  type TcpConnectionInfo,
} from '../../src/index.js';
import { PacketLog } from './packet-log.js';
import { transferPayload } from './payload.js';

export type Side = 'A' | 'B';

export const ECHO_PORT = 7;
export const DISCARD_PORT = 9;

/** Link impairments as the control panel edits them (percentages, ms, Mbit/s). */
export interface LinkSettings {
  lossPercent: number;
  delayMs: number;
  jitterMs: number;
  reorderPercent: number;
  duplicatePercent: number;
  corruptPercent: number;
  /** 0: unlimited. */
  bandwidthMbit: number;
  queueKiB: number;
}

export const defaultLinkSettings: LinkSettings = {
  lossPercent: 0,
  delayMs: 10,
  jitterMs: 0,
  reorderPercent: 0,
  duplicatePercent: 0,
  corruptPercent: 0,
  bandwidthMbit: 0,
  queueKiB: 64,
};

/** The library's impairments for panel settings. */
export function toImpairments(s: LinkSettings): Impairments {
  const out: Impairments = {
    loss: s.lossPercent / 100,
    delay: s.delayMs,
    jitter: s.jitterMs,
    reorder: s.reorderPercent / 100,
    duplicate: s.duplicatePercent / 100,
    corrupt: s.corruptPercent / 100,
  };
  if (s.bandwidthMbit > 0)
    out.bandwidth = { bitsPerSecond: s.bandwidthMbit * 1e6, queueBytes: s.queueKiB * 1024 };
  return out;
}

export interface StackNode {
  side: Side;
  stack: Stack;
  iface: NetInterface;
  ipv4: string;
}

/** Samples of one connection over virtual time, for the charts. */
export interface Series {
  t: number[];
  inFlight: number[];
  cwnd: number[];
  sendWindow: number[];
  receiveWindow: number[];
  /** Bumped on every new sample. */
  version: number;
}

/** A connection as the playground shows it. */
export interface ConnView {
  /** 'A#3': side and a per-side number in the order connections appeared. */
  key: string;
  node: StackNode;
  conn: TcpConnection;
  /** 'echo' / 'discard' for accepted ones, 'client' for outgoing ones. */
  role: 'client' | 'echo' | 'discard';
  openedAt: number;
  state: string;
  info: TcpConnectionInfo | undefined;
  /** Termination reason and error code, once terminated. */
  ended?: string;
  rxBytes: number;
  rxHash: Sha256;
  /** SHA-256 of everything received, set at the peer's FIN. */
  rxSha256?: string;
  rxEOF: boolean;
  /** The last received bytes as text, until something not text arrives (then rxBinary). */
  rxText: string;
  rxBinary: boolean;
  rxDecoder: TextDecoder;
  /** Bytes accepted by write() so far, and waiting in our queue. */
  txBytes: number;
  queued: number;
  queue: Uint8Array[];
  shutdownWhenDrained: boolean;
  closeWhenDrained: boolean;
  /** Receiving paused by the echo server's own backpressure (not by the user). */
  echoPaused: boolean;
  series: Series;
}

/** A bulk transfer: a client connection to the peer's discard port that sends `size` bytes and half-closes. */
export interface Transfer {
  id: number;
  from: Side;
  size: number;
  /** SHA-256 of the bytes sent. */
  sha256: string;
  sender: ConnView;
  receiver: ConnView | undefined;
  state: 'sending' | 'completed' | 'failed';
  detail: string;
  startedAt: number;
  completedAt?: number;
}

export interface LogLine {
  time: number;
  text: string;
}

/** Options of App.create. */
export interface AppOptions {
  /** The compiled lwip.wasm (compiled once, shared by every stack). */
  wasm: WebAssembly.Module;
  seed?: number;
  link?: LinkSettings;
}

const MAX_SAMPLES = 4000;
/** The capture stops growing here (it lives in page memory). */
export const PCAP_LIMIT = 256 << 20;
const ECHO_HIGH_WATER = 256 * 1024;

export class App {
  readonly wasm: WebAssembly.Module;
  seed: number;
  linkSettings: LinkSettings;
  /** Accepted connections are marked active at once (else they wait for the user). */
  autoActivate = true;
  /** A connection closes (gracefulClose) when its peer half-closes and its queue is empty. */
  closeOnEof = true;

  sim!: Simulation;
  nodes!: Record<Side, StackNode>;
  link!: ImpairedLink;
  packets!: PacketLog;
  pcap!: PcapWriter;
  conns: ConnView[] = [];
  transfers: Transfer[] = [];
  log: LogLine[] = [];
  /** Bumped when conns, transfers or the log change shape. */
  version = 0;
  #generation = 0;
  #linkGeneration = 0;
  #capture: Capture | undefined;
  #nextTransfer = 1;
  #nextConn = { A: 1, B: 1 };

  private constructor(options: AppOptions) {
    this.wasm = options.wasm;
    this.seed = options.seed ?? 1;
    this.linkSettings = { ...(options.link ?? defaultLinkSettings) };
  }

  static async create(options: AppOptions): Promise<App> {
    const app = new App(options);
    await app.reset();
    return app;
  }

  get clock() {
    return this.sim.clock;
  }

  get now(): number {
    return this.sim.clock.now();
  }

  /** Starts over: fresh stacks, link, logs and capture, with the current seed and link settings. */
  async reset(seed = this.seed): Promise<void> {
    const generation = ++this.#generation;
    this.#capture?.stop();
    this.sim?.close();
    this.seed = seed;
    this.sim = new Simulation({ seed });
    this.packets = new PacketLog();
    this.pcap = new PcapWriter({ timeOffsetMs: Date.now() });
    this.conns = [];
    this.transfers = [];
    this.log = [];
    this.#nextTransfer = 1;
    this.#nextConn = { A: 1, B: 1 };
    this.#linkGeneration = 0;
    const make = async (side: Side, host: number): Promise<StackNode> => {
      const stack = await this.sim.addStack(side, { wasm: this.wasm });
      const ipv4 = `10.0.0.${host}`;
      const iface = stack.addInterface({ ipv4: `${ipv4}/24`, ipv6: `fd00::${host}/64` });
      return { side, stack, iface, ipv4 };
    };
    const a = await make('A', 1);
    const b = await make('B', 2);
    if (generation !== this.#generation) return; // a newer reset won
    this.nodes = { A: a, B: b };
    for (const node of [a, b]) {
      for (const port of [ECHO_PORT, DISCARD_PORT])
        node.stack.listen({ port }, (conn) => this.#accepted(node, conn, port, generation));
    }
    const pcap = this.pcap;
    this.#capture = capture(a.iface, pcap, { filter: () => pcap.size < PCAP_LIMIT });
    this.#buildLink();
    this.#log(`seed ${seed}: stacks A ${a.ipv4} and B ${b.ipv4}; echo on :7, discard on :9`);
  }

  /** Applies new link settings (rebuilds the link). Throws RangeError for impossible values. */
  setLink(settings: LinkSettings): void {
    checkImpairments(toImpairments(settings)); // before the old link goes
    this.linkSettings = { ...settings };
    this.link.close();
    this.#buildLink();
    this.#log(`link: ${describeLink(settings)}`);
  }

  /** Opens a connection from `from` to the other stack's `port`. */
  connect(from: Side, port: number): ConnView {
    const node = this.nodes[from];
    const peer = this.nodes[from === 'A' ? 'B' : 'A'];
    const conn = node.stack.connect({ address: peer.ipv4, port });
    const cv = this.#track(node, conn, 'client', this.#generation);
    this.#log(`${cv.key} connecting to ${peer.ipv4}:${port}`);
    return cv;
  }

  /** Queues bytes on a connection (written as the send buffer takes them). */
  send(cv: ConnView, data: Uint8Array): void {
    if (!cv.conn.alive || cv.conn.writeEnded || cv.shutdownWhenDrained) return;
    if (data.length === 0) return;
    cv.queue.push(data);
    cv.queued += data.length;
    this.#pump(cv);
  }

  sendText(cv: ConnView, text: string): void {
    this.send(cv, new TextEncoder().encode(text));
  }

  /** Half-closes once everything queued is written. */
  shutdownWrite(cv: ConnView): void {
    if (!cv.conn.alive) return;
    cv.shutdownWhenDrained = true;
    this.#pump(cv);
  }

  gracefulClose(cv: ConnView): void {
    if (!cv.conn.alive) return;
    cv.queue = [];
    cv.queued = 0;
    cv.conn.gracefulClose();
    this.#log(`${cv.key} close`);
  }

  abort(cv: ConnView): void {
    if (!cv.conn.alive) return;
    cv.conn.abort();
    this.#log(`${cv.key} abort (RST)`);
  }

  setRecvEnabled(cv: ConnView, enabled: boolean): void {
    if (!cv.conn.alive) return;
    cv.echoPaused = false;
    cv.conn.setRecvEnabled(enabled);
    this.#log(`${cv.key} receiving ${enabled ? 'resumed' : 'paused'}`);
  }

  markActive(cv: ConnView): void {
    if (!cv.conn.alive || cv.conn.active || cv.conn.direction !== 'accepted') return;
    cv.conn.markActive();
    this.#log(`${cv.key} markActive`);
  }

  /** Opens a connection to the peer's discard port, sends `size` deterministic bytes and half-closes. */
  startTransfer(from: Side, size: number): Transfer {
    const id = this.#nextTransfer++;
    const data = transferPayload(this.seed, id, size);
    const sender = this.connect(from, DISCARD_PORT);
    const t: Transfer = {
      id,
      from,
      size,
      sha256: new Sha256().update(data).hex(),
      sender,
      receiver: undefined,
      state: 'sending',
      detail: 'connecting',
      startedAt: this.now,
    };
    this.transfers.push(t);
    this.send(sender, data);
    this.shutdownWrite(sender);
    this.#log(`transfer ${id}: ${size} bytes from ${from}, sha256 ${t.sha256.slice(0, 16)}…`);
    return t;
  }

  /** Reads every live connection's TCP figures; notes state changes; adds chart samples. */
  sample(): void {
    const now = this.now;
    for (const cv of this.conns) {
      if (!cv.conn.alive) continue;
      const info = cv.conn.info();
      // lwIP may have freed the pcb a moment before the 'terminated' event
      // arrives; that event reports the end (with its reason).
      if (info.state === 'TERMINATED') continue;
      cv.info = info;
      if (info.state !== cv.state) this.#stateChanged(cv, info.state);
      const s = cv.series;
      const last = s.t.length - 1;
      const at = last >= 0 && s.t[last] === now ? last : s.t.length;
      s.t[at] = now;
      s.inFlight[at] = info.unacked;
      s.cwnd[at] = info.congestionWindow;
      s.sendWindow[at] = info.sendWindow;
      s.receiveWindow[at] = info.receiveWindow;
      s.version++;
      if (s.t.length > MAX_SAMPLES) decimate(s);
    }
  }

  // ---- internals ----

  #buildLink(): void {
    const n = this.#linkGeneration++;
    this.link = this.sim.link(
      this.nodes.A.iface,
      this.nodes.B.iface,
      toImpairments(this.linkSettings),
    );
    this.link.observe((e) => {
      this.packets.onLinkEvent(e, n);
      if (e.kind === 'send') this.sample();
    });
  }

  #accepted(node: StackNode, conn: TcpConnection, port: number, generation: number): void {
    if (generation !== this.#generation) return;
    const cv = this.#track(node, conn, port === ECHO_PORT ? 'echo' : 'discard', generation);
    this.#log(`${cv.key} accepted from ${conn.peer.address}:${conn.peer.port} (${cv.role})`);
    if (this.autoActivate) conn.markActive();
  }

  #track(
    node: StackNode,
    conn: TcpConnection,
    role: ConnView['role'],
    generation: number,
  ): ConnView {
    const cv: ConnView = {
      key: `${node.side}#${this.#nextConn[node.side]++}`,
      node,
      conn,
      role,
      openedAt: this.now,
      state: '',
      info: undefined,
      rxBytes: 0,
      rxHash: new Sha256(),
      rxEOF: false,
      rxText: '',
      rxBinary: false,
      rxDecoder: new TextDecoder('utf-8', { fatal: true }),
      txBytes: 0,
      queued: 0,
      queue: [],
      shutdownWhenDrained: false,
      closeWhenDrained: false,
      echoPaused: false,
      series: { t: [], inFlight: [], cwnd: [], sendWindow: [], receiveWindow: [], version: 0 },
    };
    const live = () => generation === this.#generation;
    conn.on('becameActive', () => {
      if (!live()) return;
      this.#log(
        `${cv.key} active (${conn.local.address}:${conn.local.port} ↔ ${conn.peer.address}:${conn.peer.port})`,
      );
      this.#pump(cv);
    });
    conn.on('readable', (data) => {
      if (!live()) return;
      cv.rxBytes += data.length;
      cv.rxHash.update(data);
      if (!cv.rxBinary) {
        const text = asText(cv.rxDecoder, data);
        if (text === undefined) {
          cv.rxBinary = true;
          cv.rxText = '';
        } else cv.rxText = (cv.rxText + text).slice(-200);
      }
      if (cv.role === 'echo') {
        this.send(cv, data);
        if (cv.queued > ECHO_HIGH_WATER && conn.recvEnabled) {
          cv.echoPaused = true;
          conn.setRecvEnabled(false);
        }
      }
      this.#updateTransfers();
    });
    conn.on('readEOF', () => {
      if (!live()) return;
      cv.rxEOF = true;
      cv.rxSha256 = cv.rxHash.clone().hex();
      this.#log(
        `${cv.key} peer half-closed after ${cv.rxBytes} bytes (sha256 ${cv.rxSha256.slice(0, 16)}…)`,
      );
      if (this.closeOnEof) {
        cv.closeWhenDrained = true;
        this.#pump(cv);
      }
      this.#updateTransfers();
    });
    conn.on('writable', () => {
      if (live()) this.#pump(cv);
    });
    conn.on('terminated', (reason, error) => {
      if (!live()) return;
      cv.ended = error ? `${reason} (${error.code})` : reason;
      cv.queue = [];
      cv.queued = 0;
      this.#stateChanged(cv, 'TERMINATED', ` (${cv.ended})`);
      this.#log(`${cv.key} terminated: ${cv.ended}`);
      this.#updateTransfers();
    });
    this.conns.push(cv);
    if (this.conns.length > 60) {
      const i = this.conns.findIndex((c) => !c.conn.alive);
      if (i >= 0) this.conns.splice(i, 1);
    }
    this.version++;
    this.sample();
    return cv;
  }

  #pump(cv: ConnView): void {
    const conn = cv.conn;
    if (!conn.alive || !conn.active) return;
    while (cv.queue.length > 0 && !conn.writeEnded) {
      const head = cv.queue[0]!;
      const n = conn.write(head);
      cv.txBytes += n;
      cv.queued -= n;
      if (n < head.length) {
        cv.queue[0] = head.subarray(n);
        return; // a 'writable' event follows when there is room
      }
      cv.queue.shift();
    }
    if (cv.echoPaused && cv.queued < ECHO_HIGH_WATER / 2) {
      cv.echoPaused = false;
      conn.setRecvEnabled(true);
    }
    if (cv.queue.length > 0) return;
    if (cv.closeWhenDrained) {
      cv.closeWhenDrained = false;
      conn.gracefulClose();
      this.#log(`${cv.key} close (after the peer's FIN)`);
    } else if (cv.shutdownWhenDrained && !conn.writeEnded) {
      conn.shutdownWrite();
      this.#log(`${cv.key} half-close (FIN) after ${cv.txBytes} bytes`);
    }
  }

  #stateChanged(cv: ConnView, state: string, detail = ''): void {
    const before = cv.state;
    if (state === before) return;
    cv.state = state;
    this.version++;
    if (before === '') return;
    this.packets.note(this.now, cv.node.side, `${cv.key} ${before} → ${state}${detail}`);
  }

  #updateTransfers(): void {
    for (const t of this.transfers) {
      if (t.state !== 'sending') continue;
      const s = t.sender;
      t.receiver ??= this.conns.find(
        (c) =>
          c.node !== s.node &&
          c.role === 'discard' &&
          c.conn.peer.port === s.conn.local.port &&
          c.conn.peer.address === s.conn.local.address,
      );
      const r = t.receiver;
      t.detail = r ? `${r.rxBytes} of ${t.size} bytes received` : 'connecting';
      if (r?.rxEOF) {
        if (r.rxBytes === t.size && r.rxSha256 === t.sha256) {
          t.state = 'completed';
          t.completedAt = this.now;
          t.detail = `${t.size} bytes intact in ${((this.now - t.startedAt) / 1000).toFixed(3)} s`;
          this.#log(`transfer ${t.id} completed: ${t.detail}`);
        } else {
          t.state = 'failed';
          t.detail = `received ${r.rxBytes} bytes, sha256 ${r.rxSha256}`;
          this.#log(`transfer ${t.id} FAILED: ${t.detail}`);
        }
      } else if (s.ended && s.ended !== 'close') {
        t.state = 'failed';
        t.detail = `sender ${s.ended}`;
      } else if (r?.ended) {
        t.state = 'failed';
        t.detail = `receiver ${r.ended} before the end`;
      }
      if (t.state !== 'sending') this.version++;
    }
  }

  #log(text: string): void {
    this.log.push({ time: this.now, text });
    if (this.log.length > 300) this.log.splice(0, 100);
    this.version++;
  }
}

/** One line for link settings, e.g. 'loss 10%, delay 10 ms'. */
export function describeLink(s: LinkSettings): string {
  const parts = [`delay ${s.delayMs} ms`];
  if (s.jitterMs) parts.push(`jitter ${s.jitterMs} ms`);
  if (s.lossPercent) parts.push(`loss ${s.lossPercent}%`);
  if (s.reorderPercent) parts.push(`reorder ${s.reorderPercent}%`);
  if (s.duplicatePercent) parts.push(`duplicate ${s.duplicatePercent}%`);
  if (s.corruptPercent) parts.push(`corrupt ${s.corruptPercent}%`);
  if (s.bandwidthMbit) parts.push(`${s.bandwidthMbit} Mbit/s, queue ${s.queueKiB} KiB`);
  return parts.join(', ');
}

/** The bytes as text when they are UTF-8 without control characters (other than tab and newlines). */
function asText(decoder: TextDecoder, data: Uint8Array): string | undefined {
  for (const c of data) if (c < 9 || (c > 13 && c < 32) || c === 127) return undefined;
  try {
    // A chunk may end inside a character; `stream` keeps that for the next one.
    return decoder.decode(data, { stream: true });
  } catch {
    return undefined;
  }
}

/** Halves a series, keeping every other sample (and the latest). */
function decimate(s: Series): void {
  for (const key of ['t', 'inFlight', 'cwnd', 'sendWindow', 'receiveWindow'] as const) {
    const a = s[key];
    const last = a[a.length - 1]!;
    const kept = a.filter((_, i) => i % 2 === 0);
    if (a.length % 2 === 0) kept.push(last);
    s[key] = kept;
  }
}
