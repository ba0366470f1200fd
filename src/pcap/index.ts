/**
 * src/pcap: classic pcap files (LINKTYPE_RAW) of what stack interfaces send
 * and receive, readable by Wireshark and tshark. Re-exported from the
 * package root.
 */
export { PcapWriter, LINKTYPE_RAW, type PcapWriterOptions } from './writer.js';
export { readPcap, type PcapFile, type PcapRecord } from './read.js';
export { capture, type Capture, type CaptureOptions } from './capture.js';
