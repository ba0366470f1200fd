/**
 * Packet traces of simulated links, for determinism checks and for reading
 * what happened. A Trace listens to one or more ImpairedLinks and records
 * every send, drop and delivery with its virtual time; it folds each event
 * into a running SHA-256 as it happens, so two runs compare by one string
 * without keeping their packets (keep: false).
 *
 * What is hashed, per event, in order: kind, direction, drop reason,
 * corrupted/duplicate/reordered flags, link id, time (float64), send index,
 * length, then the packet bytes. Equal hashes mean byte-identical traces.
 */
import { describePacket } from '../packet/describe.js';
import type { DropReason } from './impairments.js';
import type { ImpairedLink, LinkEvent } from './impaired-link.js';
import { Sha256 } from './sha256.js';
import type { LinkDirection } from './script.js';

/** One recorded event. */
export interface TraceEntry {
  /** The id given to attach() (default: attach order, from 0). */
  link: number;
  kind: LinkEvent['kind'];
  direction: LinkDirection;
  time: number;
  index: number;
  reason?: DropReason;
  corrupted?: boolean;
  duplicate?: boolean;
  reordered?: boolean;
  /** The bytes (shared with the link; do not modify). */
  packet: Uint8Array;
}

/** Options of Trace. */
export interface TraceOptions {
  /** Keep every entry with its packet (default true); false keeps only counts and the hash. */
  keep?: boolean;
}

const KIND = { send: 1, drop: 2, deliver: 3 } as const;
const REASON: Record<DropReason, number> = { script: 1, mtu: 2, loss: 3, queue: 4, closed: 5 };

/** A packet trace: events of the links it is attached to, in the order they happened. */
export class Trace {
  readonly keep: boolean;
  readonly #entries: TraceEntry[] = [];
  readonly #hash = new Sha256();
  readonly #header = new Uint8Array(24);
  readonly #view = new DataView(this.#header.buffer);
  readonly #counts = { send: 0, drop: 0, deliver: 0 };
  #links = 0;

  constructor(options: TraceOptions = {}) {
    this.keep = options.keep ?? true;
  }

  /** Records the events of `link` from now on under `id`; returns the function that stops it. */
  attach(link: ImpairedLink, id = this.#links): () => void {
    this.#links = Math.max(this.#links, id + 1);
    return link.observe((e) => this.#record(id, e));
  }

  #record(link: number, e: LinkEvent): void {
    const h = this.#header;
    const v = this.#view;
    h[0] = KIND[e.kind];
    h[1] = e.direction === 'ab' ? 0 : 1;
    h[2] = e.reason ? REASON[e.reason] : 0;
    h[3] = (e.corrupted ? 1 : 0) | (e.duplicate ? 2 : 0) | (e.reordered ? 4 : 0);
    v.setUint32(4, link);
    v.setFloat64(8, e.time);
    v.setUint32(16, e.index);
    v.setUint32(20, e.packet.length);
    this.#hash.update(h).update(e.packet);
    this.#counts[e.kind]++;
    if (!this.keep) return;
    const entry: TraceEntry = {
      link,
      kind: e.kind,
      direction: e.direction,
      time: e.time,
      index: e.index,
      packet: e.packet,
    };
    if (e.reason) entry.reason = e.reason;
    if (e.corrupted) entry.corrupted = true;
    if (e.duplicate) entry.duplicate = true;
    if (e.reordered) entry.reordered = true;
    this.#entries.push(entry);
  }

  /** Events recorded so far, by kind. */
  get counts(): { send: number; drop: number; deliver: number } {
    return { ...this.#counts };
  }

  /** Every entry so far (empty when keep is false). */
  get entries(): readonly TraceEntry[] {
    return this.#entries;
  }

  /** SHA-256 (hex) of every event so far; recording goes on. */
  hash(): string {
    return this.#hash.clone().hex();
  }

  /** One line per kept entry: time, link, direction, event, then tcpdump-like text. */
  lines(): string[] {
    return this.#entries.map(formatEntry);
  }
}

/** `12.500 ms L0 ab drop(loss) 10.0.0.1.49152 > 10.0.0.2.80: Flags [S], ...` */
export function formatEntry(e: TraceEntry): string {
  const tags = [
    e.reason ? `(${e.reason})` : '',
    e.corrupted ? ' corrupted' : '',
    e.duplicate ? ' duplicate' : '',
    e.reordered ? ' reordered' : '',
  ].join('');
  return `${e.time.toFixed(3)} ms L${e.link} ${e.direction} #${e.index} ${e.kind}${tags} ${describePacket(e.packet)}`;
}
