/**
 * Matching packets against expectations that compose and read like a trace:
 *
 *   expectPacket(bytes, ipv4({ src: '10.0.0.2' }), tcp({ flags: 'SA', ack: 1001, options: { mss: 1460 } }));
 *   const isSyn = packetFilter(tcp({ flags: 'S' }));   // (packet: Uint8Array) => boolean
 *
 * Each matcher checks one layer and reports every mismatching field by name
 * ('tcp.ack is 1000, expected 1001'). A field expectation is either a value
 * or a predicate. tcp() and icmp() also require a correct checksum unless
 * `checksumOk` says otherwise.
 */
import { formatIp, tryParseIp } from '../stack/address.js';
import { describePacket } from './describe.js';
import { flagLetters, flagsOf, type TcpFlags, type TcpFlagsSpec } from './flags.js';
import { IpProtocol, parsePacket, type ParsedPacket, type TcpOptions } from './parse.js';

/** An expected value, or a predicate the actual value must satisfy. */
export type Expect<T> = T | ((value: T) => boolean);

/** Checks one aspect of a parsed packet. */
export interface PacketMatcher {
  /** What it expects, for messages, e.g. "tcp({ flags: 'SA', ack: 1001 })". */
  readonly description: string;
  /** The mismatches, each naming a field; empty when the packet matches. */
  check(packet: ParsedPacket): string[];
}

/** IP header fields for ipv4(), ipv6() and ip(). */
export interface IpFields {
  src?: Expect<string>;
  dst?: Expect<string>;
  /** TTL or hop limit. */
  ttl?: Expect<number>;
  /** Upper-layer protocol number. */
  protocol?: Expect<number>;
  /** Total packet length. */
  length?: Expect<number>;
}

/** Expected TCP options: only the named ones are checked; `key: undefined` means "absent". */
export type TcpOptionsFields = {
  [K in keyof TcpOptions]?: Expect<TcpOptions[K]>;
};

/** TCP header fields for tcp(). */
export interface TcpFields {
  srcPort?: Expect<number>;
  dstPort?: Expect<number>;
  /** Compared modulo 2^32, so `isn + 1` works across the wrap. */
  seq?: Expect<number>;
  ack?: Expect<number>;
  /** Letters ('SA': exactly SYN and ACK), an object (only the named flags), or a predicate. */
  flags?: TcpFlagsSpec | ((flags: TcpFlags) => boolean);
  window?: Expect<number>;
  options?: TcpOptionsFields | ((options: TcpOptions) => boolean);
  payloadLength?: Expect<number>;
  /** Exact bytes (or UTF-8 text), or a predicate. */
  payload?: Uint8Array | string | ((payload: Uint8Array) => boolean);
  /** Default true: a bad checksum is a mismatch. Pass `() => true` to accept any. */
  checksumOk?: Expect<boolean>;
}

/** ICMP/ICMPv6 fields for icmp(). */
export interface IcmpFields {
  type?: Expect<number>;
  code?: Expect<number>;
  id?: Expect<number | undefined>;
  seq?: Expect<number | undefined>;
  payload?: Uint8Array | string | ((payload: Uint8Array) => boolean);
  /** Default true. */
  checksumOk?: Expect<boolean>;
}

/** Thrown by expectPacket: which packet, and every field that did not match. */
export class PacketMismatchError extends Error {
  override readonly name = 'PacketMismatchError';
  constructor(
    /** The packet's one-line description. */
    readonly packet: string,
    readonly mismatches: string[],
  ) {
    super(`packet ${packet}\n  ${mismatches.join('\n  ')}`);
  }
}

// ---- field checks ----

function show(value: unknown): string {
  if (typeof value === 'function') {
    const text = value.toString().replace(/\s+/g, ' ');
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  }
  if (value instanceof Uint8Array) return showBytes(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return String(value);
}

function showBytes(b: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(b.subarray(0, 32));
  const printable = /^[\x20-\x7e]*$/.test(text);
  const head = printable ? JSON.stringify(text) : `0x${hex(b.subarray(0, 16))}`;
  return `${b.length} bytes ${head}${b.length > (printable ? 32 : 16) ? '...' : ''}`;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (a instanceof Uint8Array && b instanceof Uint8Array)
    return a.length === b.length && a.every((x, i) => x === b[i]);
  return false;
}

/** Adds a mismatch to `out` unless `actual` satisfies `expected`. */
function field<T>(
  out: string[],
  name: string,
  actual: T,
  expected: Expect<T> | undefined,
  present: boolean,
): void {
  if (!present) return;
  if (typeof expected === 'function') {
    let ok = false;
    try {
      ok = (expected as (v: T) => boolean)(actual) === true;
    } catch (error) {
      out.push(`${name} is ${show(actual)}; the predicate threw ${String(error)}`);
      return;
    }
    if (!ok) out.push(`${name} is ${show(actual)}, which fails ${show(expected)}`);
    return;
  }
  if (!equal(actual, expected)) out.push(`${name} is ${show(actual)}, expected ${show(expected)}`);
}

function has(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function canonicalIp(expected: Expect<string> | undefined): Expect<string> | undefined {
  if (typeof expected !== 'string') return expected;
  const ip = tryParseIp(expected);
  return ip ? formatIp(ip.bytes) : expected;
}

function bytesExpect(
  expected: Uint8Array | string | ((p: Uint8Array) => boolean),
): Expect<Uint8Array> {
  return typeof expected === 'string' ? new TextEncoder().encode(expected) : expected;
}

function describeFields(name: string, fields: object): string {
  const parts = Object.entries(fields).map(([k, v]) => {
    if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v))
      return `${k}: ${describeFields('', v as object)}`;
    return `${k}: ${show(v)}`;
  });
  return `${name}({ ${parts.join(', ')} })`.replace('({  })', '()');
}

// ---- matchers ----

function ipMatcher(name: string, version: 4 | 6 | undefined, fields: IpFields): PacketMatcher {
  const src = canonicalIp(fields.src);
  const dst = canonicalIp(fields.dst);
  return {
    description: describeFields(name, fields),
    check(p) {
      const out: string[] = [];
      if (version !== undefined && p.version !== version) {
        out.push(`ip.version is ${p.version}, expected ${version}`);
        return out;
      }
      field(out, 'ip.src', p.src, src, has(fields, 'src'));
      field(out, 'ip.dst', p.dst, dst, has(fields, 'dst'));
      field(out, 'ip.ttl', p.ttl, fields.ttl, has(fields, 'ttl'));
      field(out, 'ip.protocol', p.protocol, fields.protocol, has(fields, 'protocol'));
      field(out, 'ip.length', p.length, fields.length, has(fields, 'length'));
      if (!p.ipChecksumOk) out.push('ip.checksum is wrong');
      return out;
    },
  };
}

/** An IPv4 packet with these header fields (and a correct header checksum). */
export function ipv4(fields: IpFields = {}): PacketMatcher {
  return ipMatcher('ipv4', 4, fields);
}

/** An IPv6 packet with these header fields. */
export function ipv6(fields: IpFields = {}): PacketMatcher {
  return ipMatcher('ipv6', 6, fields);
}

/** An IPv4 or IPv6 packet with these header fields. */
export function ip(fields: IpFields = {}): PacketMatcher {
  return ipMatcher('ip', undefined, fields);
}

function seqExpect(e: Expect<number> | undefined): Expect<number> | undefined {
  return typeof e === 'number' ? e >>> 0 : e;
}

/** A TCP segment with these fields. Every field not given is not checked, except checksumOk (default true). */
export function tcp(fields: TcpFields = {}): PacketMatcher {
  const flags = fields.flags;
  const expectedFlags = flags === undefined || typeof flags === 'function' ? undefined : flags;
  // Validate letters now, so a typo fails where the matcher is written.
  if (typeof expectedFlags === 'string') flagsOf(expectedFlags);
  return {
    description: describeFields('tcp', fields),
    check(p) {
      const t = p.tcp;
      if (!t) return [`not a TCP segment (${describeProtocol(p)})`];
      const out: string[] = [];
      field(out, 'tcp.srcPort', t.srcPort, fields.srcPort, has(fields, 'srcPort'));
      field(out, 'tcp.dstPort', t.dstPort, fields.dstPort, has(fields, 'dstPort'));
      field(out, 'tcp.seq', t.seq, seqExpect(fields.seq), has(fields, 'seq'));
      field(out, 'tcp.ack', t.ack, seqExpect(fields.ack), has(fields, 'ack'));
      if (typeof flags === 'function') field(out, 'tcp.flags', t.flags, flags, true);
      else if (typeof flags === 'string') {
        const want = flagLetters(flagsOf(flags));
        const got = flagLetters(t.flags);
        if (want !== got) out.push(`tcp.flags is ${show(got)}, expected ${show(want)}`);
      } else if (flags) {
        for (const [k, v] of Object.entries(flags))
          field(out, `tcp.flags.${k}`, t.flags[k as keyof TcpFlags], v, true);
      }
      field(out, 'tcp.window', t.window, fields.window, has(fields, 'window'));
      const o = fields.options;
      if (typeof o === 'function') field(out, 'tcp.options', t.options, o, true);
      else if (o) {
        for (const key of Object.keys(o) as (keyof TcpOptions)[])
          field(out, `tcp.options.${key}`, t.options[key], o[key] as Expect<unknown>, true);
      }
      field(
        out,
        'tcp.payloadLength',
        t.payloadLength,
        fields.payloadLength,
        has(fields, 'payloadLength'),
      );
      if (fields.payload !== undefined)
        field(out, 'tcp.payload', p.payload, bytesExpect(fields.payload), true);
      field(out, 'tcp.checksumOk', t.checksumOk, fields.checksumOk ?? true, true);
      return out;
    },
  };
}

/** An ICMP (IPv4) or ICMPv6 message with these fields; checksumOk defaults to true. */
export function icmp(fields: IcmpFields = {}): PacketMatcher {
  return {
    description: describeFields('icmp', fields),
    check(p) {
      const i = p.icmp;
      if (!i) return [`not an ICMP message (${describeProtocol(p)})`];
      const out: string[] = [];
      field(out, 'icmp.type', i.type, fields.type, has(fields, 'type'));
      field(out, 'icmp.code', i.code, fields.code, has(fields, 'code'));
      field(out, 'icmp.id', i.id, fields.id, has(fields, 'id'));
      field(out, 'icmp.seq', i.seq, fields.seq, has(fields, 'seq'));
      if (fields.payload !== undefined)
        field(out, 'icmp.payload', p.payload, bytesExpect(fields.payload), true);
      field(out, 'icmp.checksumOk', i.checksumOk, fields.checksumOk ?? true, true);
      return out;
    },
  };
}

/** An echo request (or reply with `reply: true`) of either IP version, with these fields. */
export function icmpEcho(
  fields: { reply?: boolean } & Omit<IcmpFields, 'type' | 'code'> = {},
): PacketMatcher {
  const { reply, ...rest } = fields;
  const inner = icmp({ ...rest, code: 0 });
  return {
    description: describeFields(reply ? 'icmpEchoReply' : 'icmpEchoRequest', rest),
    check(p) {
      if (!p.icmp) return inner.check(p);
      const want = p.version === 4 ? (reply ? 0 : 8) : reply ? 129 : 128;
      const out: string[] = [];
      field(out, 'icmp.type', p.icmp.type, want, true);
      return [...out, ...inner.check(p)];
    },
  };
}

/** A custom check: `predicate` returning false is reported as "`description` does not hold". */
export function where(description: string, predicate: (p: ParsedPacket) => boolean): PacketMatcher {
  return {
    description,
    check(p) {
      try {
        return predicate(p) ? [] : [`${description} does not hold`];
      } catch (error) {
        return [`${description} threw ${String(error)}`];
      }
    },
  };
}

function describeProtocol(p: ParsedPacket): string {
  const names: Record<number, string> = {
    [IpProtocol.TCP]: 'TCP',
    [IpProtocol.UDP]: 'UDP',
    [IpProtocol.ICMP]: 'ICMP',
    [IpProtocol.ICMPV6]: 'ICMPv6',
  };
  const name = names[p.protocol] ?? `protocol ${p.protocol}`;
  return p.fragment ? `${name} fragment` : `IPv${p.version} ${name}`;
}

// ---- applying matchers ----

/** Every mismatch of `packet` against `matchers` (an unparseable packet gives one). Never throws. */
export function mismatches(
  packet: Uint8Array | ParsedPacket,
  ...matchers: PacketMatcher[]
): string[] {
  const p = packet instanceof Uint8Array ? parsePacket(packet) : packet;
  if (!p) return [`unparseable packet (${packet instanceof Uint8Array ? packet.length : 0} bytes)`];
  return matchers.flatMap((m) => m.check(p));
}

/** True when `packet` satisfies every matcher. Never throws. */
export function matches(packet: Uint8Array | ParsedPacket, ...matchers: PacketMatcher[]): boolean {
  return mismatches(packet, ...matchers).length === 0;
}

/** A packet filter for link faults and captures: true for packets satisfying every matcher. */
export function packetFilter(...matchers: PacketMatcher[]): (packet: Uint8Array) => boolean {
  return (packet) => matches(packet, ...matchers);
}

/**
 * Asserts that `packet` satisfies every matcher and returns it parsed.
 * Throws PacketMismatchError with the packet's description and every
 * mismatching field.
 */
export function expectPacket(
  packet: Uint8Array | ParsedPacket,
  ...matchers: PacketMatcher[]
): ParsedPacket {
  const p = packet instanceof Uint8Array ? parsePacket(packet) : packet;
  const found = mismatches(p ?? (packet as Uint8Array), ...matchers);
  if (found.length > 0 || !p) throw new PacketMismatchError(describePacket(packet), found);
  return p;
}
