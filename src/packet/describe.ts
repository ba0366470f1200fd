/**
 * One-line, tcpdump-like text for a packet, for failure messages and traces:
 *
 *   10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 65535, options [mss 1460,wscale 7], length 0
 *   fd00::1 > fd00::2: ICMP6, echo request, id 1, seq 2, length 8
 *
 * Sequence numbers are absolute (tcpdump -S). Never throws.
 */
import { tcpdumpFlags } from './flags.js';
import { parsePacket, type ParsedPacket, type TcpOptions } from './parse.js';

/** Describes raw packet bytes (or an already parsed packet) on one line. */
export function describePacket(packet: Uint8Array | ParsedPacket): string {
  const p = packet instanceof Uint8Array ? parsePacket(packet) : packet;
  if (!p) {
    const n = packet instanceof Uint8Array ? packet.length : 0;
    return `unparseable packet (${n} bytes)`;
  }
  if (p.fragment && (p.fragment.more || p.fragment.offset > 0))
    return `${p.src} > ${p.dst}: ip-proto-${p.protocol} fragment id ${p.fragment.id}, offset ${p.fragment.offset}${p.fragment.more ? ', more' : ''}, length ${p.payload.length}`;
  const bad = p.ipChecksumOk ? '' : ' [bad ip cksum]';
  if (p.tcp) {
    const t = p.tcp;
    const parts = [`Flags [${tcpdumpFlags(t.flags)}]`];
    parts.push(
      t.payloadLength > 0 ? `seq ${t.seq}:${(t.seq + t.payloadLength) >>> 0}` : `seq ${t.seq}`,
    );
    if (t.flags.ack) parts.push(`ack ${t.ack}`);
    parts.push(`win ${t.window}`);
    const opts = describeOptions(t.options);
    if (opts) parts.push(`options [${opts}]`);
    parts.push(`length ${t.payloadLength}`);
    const cksum = t.checksumOk ? '' : ' [bad tcp cksum]';
    return `${p.src}.${t.srcPort} > ${p.dst}.${t.dstPort}: ${parts.join(', ')}${cksum}${bad}`;
  }
  if (p.icmp) {
    const i = p.icmp;
    const name = icmpName(p.version, i.type, i.code);
    const echo = i.id !== undefined ? `, id ${i.id}, seq ${i.seq}` : '';
    const cksum = i.checksumOk ? '' : ' [bad icmp cksum]';
    const prefix = p.version === 4 ? 'ICMP' : 'ICMP6,';
    return `${p.src} > ${p.dst}: ${prefix} ${name}${echo}, length ${p.payload.length + 8}${cksum}${bad}`;
  }
  return `${p.src} > ${p.dst}: ip-proto-${p.protocol} length ${p.payload.length}${bad}`;
}

/** Options as tcpdump lists them (without NOPs), e.g. 'mss 1460,wscale 7'. */
export function describeOptions(o: TcpOptions): string {
  const parts: string[] = [];
  if (o.mss !== undefined) parts.push(`mss ${o.mss}`);
  if (o.sackPermitted) parts.push('sackOK');
  if (o.timestamp) parts.push(`TS val ${o.timestamp[0]} ecr ${o.timestamp[1]}`);
  if (o.wscale !== undefined) parts.push(`wscale ${o.wscale}`);
  if (o.sack) parts.push(`sack ${o.sack.length} ${o.sack.map(([l, r]) => `{${l}:${r}}`).join('')}`);
  return parts.join(',');
}

function icmpName(version: 4 | 6, type: number, code: number): string {
  if (version === 4) {
    switch (type) {
      case 0:
        return 'echo reply';
      case 8:
        return 'echo request';
      case 3:
        return `destination unreachable (code ${code})`;
      case 11:
        return `time exceeded (code ${code})`;
      default:
        return `type ${type}, code ${code}`;
    }
  }
  switch (type) {
    case 128:
      return 'echo request';
    case 129:
      return 'echo reply';
    case 1:
      return `destination unreachable (code ${code})`;
    case 2:
      return 'packet too big';
    case 3:
      return `time exceeded (code ${code})`;
    case 4:
      return `parameter problem (code ${code})`;
    default:
      return `type ${type}, code ${code}`;
  }
}
