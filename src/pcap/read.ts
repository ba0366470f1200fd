/**
 * Reading classic pcap files back (both byte orders, micro- and nanosecond
 * variants): for tests of PcapWriter and for replaying captures into a
 * stack. pcapng is not supported.
 */

/** One record of a pcap file. */
export interface PcapRecord {
  /** Timestamp in ms (fractional). */
  timeMs: number;
  /** The captured bytes (a view into the file). */
  data: Uint8Array;
  /** The packet's length on the wire (larger than data when cut by snaplen). */
  originalLength: number;
}

/** A parsed pcap file. */
export interface PcapFile {
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linkType: number;
  littleEndian: boolean;
  nanoseconds: boolean;
  records: PcapRecord[];
}

/**
 * Parses a classic pcap file. Throws an Error saying what is wrong with a
 * file that is not pcap or is cut short (a cut final record is an error).
 */
export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < 24)
    throw new Error(`readPcap: ${bytes.length} bytes is too short for a header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLE = dv.getUint32(0, true);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    littleEndian = true;
    nanoseconds = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = dv.getUint32(0, false);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d)
      throw new Error(`readPcap: bad magic 0x${magicLE.toString(16)}`);
    littleEndian = false;
    nanoseconds = magicBE === 0xa1b23c4d;
  }
  const u16 = (o: number) => dv.getUint16(o, littleEndian);
  const u32 = (o: number) => dv.getUint32(o, littleEndian);
  const file: PcapFile = {
    versionMajor: u16(4),
    versionMinor: u16(6),
    snaplen: u32(16),
    linkType: u32(20) & 0x0fffffff,
    littleEndian,
    nanoseconds,
    records: [],
  };
  let off = 24;
  while (off < bytes.length) {
    if (off + 16 > bytes.length) throw new Error(`readPcap: record header at ${off} is cut short`);
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    const orig = u32(off + 12);
    if (off + 16 + incl > bytes.length)
      throw new Error(`readPcap: record at ${off} claims ${incl} bytes, the file ends first`);
    file.records.push({
      timeMs: sec * 1000 + (nanoseconds ? frac / 1e6 : frac / 1e3),
      data: bytes.subarray(off + 16, off + 16 + incl),
      originalLength: orig,
    });
    off += 16 + incl;
  }
  return file;
}
