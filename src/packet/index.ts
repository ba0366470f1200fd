/**
 * src/packet: crafting, parsing, describing and matching raw IPv4/IPv6
 * packets (TCP, ICMP/ICMPv6), and PacketProbe for packet-level tests of a
 * stack. Independent of lwIP except for PacketProbe, which drives an
 * interface. Re-exported from the package root.
 */
export {
  internetChecksum,
  pseudoHeaderSum,
  transportChecksum,
  sumWords,
  foldChecksum,
} from './checksum.js';
export {
  parseFlags,
  flagLetters,
  tcpdumpFlags,
  TcpFlagBits,
  type TcpFlags,
  type TcpFlagLetters,
  type TcpFlagsSpec,
} from './flags.js';
export {
  parsePacket,
  parseTcpOptions,
  IpProtocol,
  type ParsedPacket,
  type TcpHeader,
  type TcpOptions,
  type IcmpHeader,
  type FragmentInfo,
} from './parse.js';
export {
  craftIp,
  craftTcp,
  craftIcmpEcho,
  encodeTcpOptions,
  type CraftIpOptions,
  type CraftTcpOptions,
  type CraftIcmpEchoOptions,
} from './craft.js';
export { describePacket, describeOptions } from './describe.js';
export {
  expectPacket,
  matches,
  mismatches,
  packetFilter,
  ipv4,
  ipv6,
  ip,
  tcp,
  icmp,
  icmpEcho,
  where,
  PacketMismatchError,
  type PacketMatcher,
  type Expect,
  type IpFields,
  type TcpFields,
  type TcpOptionsFields,
  type IcmpFields,
} from './match.js';
export { PacketProbe, type PacketProbeOptions, type ProbeRecord } from './probe.js';
