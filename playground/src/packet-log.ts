/**
 * The playground's record of the wire: one PacketRecord per packet a stack
 * sent, updated as the link delivers or drops its copies, plus notes
 * (connection state changes) placed between packets. Views (packet list,
 * sequence diagram) read it once per frame; it keeps only the most recent
 * records so a long bulk transfer costs bounded memory.
 *
 * Retransmissions are recognised the way a capture tool does it: per TCP
 * flow, a segment whose sequence space was already sent is a retransmission.
 */
import {
  parsePacket,
  type DropReason,
  type LinkDirection,
  type LinkEvent,
  type ParsedPacket,
} from '../../src/index.js';

/** One packet as sent, and what became of its copies. */
export interface PacketRecord {
  /** 1-based number over the whole session. */
  n: number;
  /** Virtual time it was sent (ms). */
  time: number;
  dir: LinkDirection;
  /** Link generation (the link is rebuilt when impairments change). */
  link: number;
  /** Send index in its direction on its link. */
  index: number;
  length: number;
  parsed: ParsedPacket | undefined;
  /** The flow's first sequence number, for relative numbers (undefined before a SYN was seen). */
  isn: number | undefined;
  /** The reverse flow's first sequence number, for relative acknowledgement numbers. */
  ackIsn: number | undefined;
  retx: boolean;
  status: 'flight' | 'delivered' | 'dropped';
  reason?: DropReason;
  deliveredAt?: number;
  copies: number;
  corrupted: boolean;
  duplicate: boolean;
  reordered: boolean;
}

/** A line between packets, e.g. a connection state change. */
export interface PacketNote {
  /** Shown after the packet with this number (0: before the first). */
  after: number;
  time: number;
  side: 'A' | 'B';
  text: string;
}

const seqAfter = (a: number, b: number) => ((a - b) | 0) > 0;
const seqBefore = (a: number, b: number) => ((a - b) | 0) < 0;

export class PacketLog {
  /** Records kept (the most recent). */
  readonly keep: number;
  /** Records kept, oldest first. */
  readonly records: PacketRecord[] = [];
  readonly notes: PacketNote[] = [];
  #byKey = new Map<string, PacketRecord>();
  /** Per flow: highest sequence number sent so far (end of the segment) and the ISN. */
  #flows = new Map<string, { max: number; isn: number | undefined }>();
  total = 0;
  retransmissions = 0;
  dropped = 0;
  /** Bumped on every change, so views can skip idle frames. */
  version = 0;

  constructor(keep = 2000) {
    this.keep = keep;
  }

  /** Feeds one link event (an ImpairedLink observer calls this). */
  onLinkEvent(e: LinkEvent, link: number): void {
    this.version++;
    const key = `${link}:${e.direction}:${e.index}`;
    if (e.kind === 'send') {
      const parsed = parsePacket(e.packet);
      const { retx, isn } = this.#classify(parsed);
      const t = parsed?.tcp;
      const ackIsn = t
        ? this.#flows.get(`${parsed.dst}.${t.dstPort}>${parsed.src}.${t.srcPort}`)?.isn
        : undefined;
      const record: PacketRecord = {
        n: ++this.total,
        time: e.time,
        dir: e.direction,
        link,
        index: e.index,
        length: e.packet.length,
        parsed,
        isn,
        ackIsn,
        retx,
        status: 'flight',
        copies: 0,
        corrupted: false,
        duplicate: false,
        reordered: false,
      };
      if (retx) this.retransmissions++;
      this.records.push(record);
      this.#byKey.set(key, record);
      if (this.records.length > this.keep * 1.25) this.#trim();
      return;
    }
    const record = this.#byKey.get(key);
    if (e.kind === 'drop') this.dropped++;
    if (!record) return;
    if (e.kind === 'drop') {
      // A drop is final for a packet none of whose copies arrived.
      if (record.copies === 0) {
        record.status = 'dropped';
        record.reason = e.reason;
      }
    } else {
      record.copies++;
      record.status = 'delivered';
      record.deliveredAt ??= e.time;
      if (e.corrupted) record.corrupted = true;
      if (e.duplicate) record.duplicate = true;
      if (e.reordered) record.reordered = true;
    }
  }

  /** Adds a note after the latest packet. */
  note(time: number, side: 'A' | 'B', text: string): void {
    this.version++;
    this.notes.push({ after: this.total, time, side, text });
    if (this.notes.length > 400) this.notes.splice(0, 100);
  }

  #trim(): void {
    const cut = this.records.length - this.keep;
    for (const r of this.records.splice(0, cut)) {
      this.#byKey.delete(`${r.link}:${r.dir}:${r.index}`);
    }
  }

  #classify(p: ParsedPacket | undefined): { retx: boolean; isn: number | undefined } {
    const t = p?.tcp;
    if (!p || !t) return { retx: false, isn: undefined };
    const key = `${p.src}.${t.srcPort}>${p.dst}.${t.dstPort}`;
    const space = t.payloadLength + (t.flags.syn ? 1 : 0) + (t.flags.fin ? 1 : 0);
    const end = (t.seq + space) >>> 0;
    let flow = this.#flows.get(key);
    if (t.flags.syn) {
      // A SYN starts the flow's sequence space; the same SYN again is a retransmission.
      if (flow && flow.isn === t.seq) return { retx: true, isn: flow.isn };
      this.#flows.set(key, { max: end, isn: t.seq });
      return { retx: false, isn: t.seq };
    }
    if (!flow) {
      flow = { max: t.seq, isn: undefined };
      this.#flows.set(key, flow);
    }
    if (space === 0) return { retx: false, isn: flow.isn };
    if (seqAfter(end, flow.max)) {
      const overlaps = seqBefore(t.seq, flow.max);
      flow.max = end;
      return { retx: overlaps, isn: flow.isn };
    }
    return { retx: true, isn: flow.isn };
  }
}
