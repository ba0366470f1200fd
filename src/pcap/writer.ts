/**
 * PcapWriter: classic libpcap capture files (magic 0xa1b2c3d4, version 2.4,
 * microsecond timestamps) with LINKTYPE_RAW (101): each record is a bare
 * IPv4 or IPv6 packet, exactly what a stack interface carries, so Wireshark
 * and tshark read them without a fake Ethernet header.
 *
 * The file is built in memory (little-endian, like most capture tools);
 * take it as bytes(), as a Blob in a browser, or write it with toFile() in
 * Node (node:fs is imported only then, so this module loads in browsers).
 */

/** LINKTYPE_RAW: records start with an IPv4 or IPv6 header. */
export const LINKTYPE_RAW = 101;

/** Options of PcapWriter. */
export interface PcapWriterOptions {
  /** Longest record kept; longer packets are cut (their original length is kept). Default 65535. */
  snaplen?: number;
  /**
   * Added to every timestamp, in ms. A VirtualClock starts at 0, so captures
   * date from 1970 by default; pass Date.now() to date them from now.
   */
  timeOffsetMs?: number;
}

const HEADER = 24;
const RECORD = 16;

/** Writes packets into a classic pcap file held in memory. */
export class PcapWriter {
  readonly snaplen: number;
  readonly timeOffsetMs: number;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #count = 0;

  constructor(options: PcapWriterOptions = {}) {
    const snaplen = options.snaplen ?? 65535;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff)
      throw new RangeError(`PcapWriter: snaplen must be a positive integer, got ${snaplen}`);
    this.snaplen = snaplen;
    this.timeOffsetMs = options.timeOffsetMs ?? 0;
    const header = new Uint8Array(HEADER);
    const dv = new DataView(header.buffer);
    dv.setUint32(0, 0xa1b2c3d4, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    // thiszone and sigfigs stay 0.
    dv.setUint32(16, snaplen, true);
    dv.setUint32(20, LINKTYPE_RAW, true);
    this.#push(header);
  }

  /** Records written so far. */
  get count(): number {
    return this.#count;
  }

  /** Bytes of the file so far (header included). */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends one packet seen at `timeMs` (stack clock time). The packet is
   * copied; the caller keeps its buffer.
   */
  write(packet: Uint8Array, timeMs: number): void {
    const ms = Math.max(0, timeMs + this.timeOffsetMs);
    let sec = Math.floor(ms / 1000);
    let usec = Math.round((ms - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec += 1;
      usec -= 1_000_000;
    }
    const kept = Math.min(packet.length, this.snaplen);
    const record = new Uint8Array(RECORD + kept);
    const dv = new DataView(record.buffer);
    dv.setUint32(0, sec >>> 0, true);
    dv.setUint32(4, usec, true);
    dv.setUint32(8, kept, true);
    dv.setUint32(12, packet.length, true);
    record.set(packet.subarray(0, kept), RECORD);
    this.#push(record);
    this.#count++;
  }

  /** The whole file so far as one new Uint8Array. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    this.#chunks = [out];
    return out.slice();
  }

  /** The file so far as a Blob (type application/vnd.tcpdump.pcap), e.g. for a download link. */
  toBlob(): Blob {
    // A fresh copy: its buffer holds exactly the file.
    return new Blob([this.bytes().buffer as ArrayBuffer], { type: 'application/vnd.tcpdump.pcap' });
  }

  /** Node only: writes the file so far to `path` (replacing it), creating parent folders. */
  async toFile(path: string): Promise<void> {
    const fs = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await fs.mkdir(dirname(path), { recursive: true });
    await fs.writeFile(path, this.bytes());
  }

  #push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }
}
