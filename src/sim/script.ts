/**
 * Scripted faults: rules that pick packets on a simulated link by direction,
 * predicate, count and time window, and drop, duplicate, corrupt or delay
 * them. They run before the random impairments (impairments.ts), see every
 * packet a stack emits, and are deterministic by construction.
 *
 *   dropNth(3)                          the 3rd packet on the link (either direction)
 *   dropAll(isSynAck)                   every SYN-ACK
 *   partition(5_000, 20_000)            nothing gets through from t=5 s to t=20 s
 *   { match: (p, i) => cut, action: 'drop' }   a partition the test opens and closes itself
 *
 * Predicates are plain functions `(packet, info) => boolean`; the helpers
 * here (isSyn, isSynAck, ...) read the packet through src/packet's
 * parsePacket, cached once per packet in `info.parsed`. In JSON scenario
 * files a match is a name ('syn-ack') or fields for src/packet's ip()/tcp()
 * matchers ({ "tcp": { "flags": "SA" } }).
 */
import { ip, packetFilter, tcp, type IpFields, type TcpFields } from '../packet/match.js';
import { parsePacket, type ParsedPacket } from '../packet/parse.js';
import type { ScriptEffect } from './impairments.js';

/** A direction of a link: 'ab' carries what side a sends to side b. */
export type LinkDirection = 'ab' | 'ba';

/** What a predicate knows about a packet besides its bytes. */
export interface PacketInfo {
  readonly direction: LinkDirection;
  /** 1-based position among the packets sent in this direction (this one included). */
  readonly index: number;
  /** 1-based position among the packets sent on the link, both directions. */
  readonly linkIndex: number;
  /** Send time on the link's clock (ms). */
  readonly time: number;
  /** The packet parsed by src/packet (computed on first use, then cached); undefined if malformed. */
  readonly parsed: ParsedPacket | undefined;
}

/** Picks packets. Must not modify the packet; should not throw (a throw counts as false). */
export type PacketPredicate = (packet: Uint8Array, info: PacketInfo) => boolean;

/** Names of the built-in predicates, for JSON scenarios. */
export type PacketMatchName = 'any' | 'tcp' | 'syn' | 'syn-ack' | 'ack' | 'data' | 'fin' | 'rst';

/** A match in data form: a name, or fields checked by src/packet's ip() and tcp() matchers. */
export type PacketMatchSpec = PacketMatchName | { ip?: IpFields; tcp?: TcpFields };

/** What a rule does to the packets it picks. */
export type ScriptAction = 'drop' | 'duplicate' | 'corrupt' | { delay: number };

/** One scripted fault. A packet is picked when every given condition holds. */
export interface ScriptRule {
  /** Only packets in this direction; default both. */
  direction?: LinkDirection;
  /** Only packets this predicate (or match spec) accepts; default all. */
  match?: PacketPredicate | PacketMatchSpec;
  /**
   * Only the n-th packet(s), 1-based, counted among the packets that satisfy
   * direction, match and time window (so `{ match: isSyn, nth: 2 }` is the
   * second SYN). Default: every such packet.
   */
  nth?: number | readonly number[];
  /** Only packets sent at or after this time (ms on the link's clock). */
  from?: number;
  /** Only packets sent before this time (ms). */
  until?: number;
  action: ScriptAction;
}

// ---- predicates over parsePacket ----

/** A TCP segment (any flags). */
export const isTcp: PacketPredicate = (_p, info) => info.parsed?.tcp !== undefined;
/** A SYN without ACK (a connection request). */
export const isSyn: PacketPredicate = (_p, info) => {
  const f = info.parsed?.tcp?.flags;
  return !!f && f.syn && !f.ack;
};
/** A SYN-ACK (a listener's answer). */
export const isSynAck: PacketPredicate = (_p, info) => {
  const f = info.parsed?.tcp?.flags;
  return !!f && f.syn && f.ack;
};
/** A segment with FIN set. */
export const isFin: PacketPredicate = (_p, info) => info.parsed?.tcp?.flags.fin === true;
/** A segment with RST set. */
export const isRst: PacketPredicate = (_p, info) => info.parsed?.tcp?.flags.rst === true;
/** A segment carrying payload bytes. */
export const isData: PacketPredicate = (_p, info) => (info.parsed?.tcp?.payloadLength ?? 0) > 0;
/** A bare acknowledgement: ACK only, no payload, no SYN/FIN/RST. */
export const isPureAck: PacketPredicate = (_p, info) => {
  const t = info.parsed?.tcp;
  if (!t) return false;
  const f = t.flags;
  return f.ack && !f.syn && !f.fin && !f.rst && t.payloadLength === 0;
};

const NAMED: Record<PacketMatchName, PacketPredicate> = {
  any: () => true,
  tcp: isTcp,
  syn: isSyn,
  'syn-ack': isSynAck,
  ack: isPureAck,
  data: isData,
  fin: isFin,
  rst: isRst,
};

/** Turns a match spec (or a predicate) into a predicate; throws on unknown names. */
export function toPredicate(match: PacketPredicate | PacketMatchSpec): PacketPredicate {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') {
    const named = NAMED[match];
    if (!named)
      throw new RangeError(
        `script: unknown match '${match}' (known: ${Object.keys(NAMED).join(', ')})`,
      );
    return named;
  }
  if (typeof match !== 'object' || match === null)
    throw new TypeError('script: match must be a function, a name or { ip?, tcp? }');
  for (const key of Object.keys(match))
    if (key !== 'ip' && key !== 'tcp') throw new RangeError(`script: unknown match field '${key}'`);
  const matchers = [];
  if (match.ip) matchers.push(ip(match.ip));
  if (match.tcp) matchers.push(tcp(match.tcp));
  const filter = packetFilter(...matchers);
  return (packet, info) => (info.parsed ? filter(packet) : false);
}

/** All predicates hold. */
export function allOf(...predicates: PacketPredicate[]): PacketPredicate {
  return (p, i) => predicates.every((f) => f(p, i));
}

/** Some predicate holds. */
export function anyOf(...predicates: PacketPredicate[]): PacketPredicate {
  return (p, i) => predicates.some((f) => f(p, i));
}

// ---- rule helpers ----

/** Drops the n-th packet (1-based) that `match` accepts (default: any packet), in `direction` (default both). */
export function dropNth(
  n: number | readonly number[],
  match?: PacketPredicate | PacketMatchSpec,
  direction?: LinkDirection,
): ScriptRule {
  return { nth: n, match, direction, action: 'drop' };
}

/** Drops every packet `match` accepts. */
export function dropAll(
  match: PacketPredicate | PacketMatchSpec,
  direction?: LinkDirection,
): ScriptRule {
  return { match, direction, action: 'drop' };
}

/** Drops everything sent in [from, until) (ms on the link's clock), both directions unless given. */
export function partition(from: number, until: number, direction?: LinkDirection): ScriptRule {
  return { from, until, direction, action: 'drop' };
}

// ---- the compiled script ----

interface Compiled {
  direction: LinkDirection | undefined;
  match: PacketPredicate | undefined;
  nth: Set<number> | undefined;
  from: number;
  until: number;
  action: ScriptAction;
  count: number;
}

function checkRule(rule: ScriptRule, i: number): Compiled {
  const where = `script rule ${i}`;
  if (typeof rule !== 'object' || rule === null) throw new TypeError(`${where}: not an object`);
  const known = new Set(['direction', 'match', 'nth', 'from', 'until', 'action']);
  for (const key of Object.keys(rule))
    if (!known.has(key)) throw new RangeError(`${where}: unknown field '${key}'`);
  if (rule.direction !== undefined && rule.direction !== 'ab' && rule.direction !== 'ba')
    throw new RangeError(`${where}: direction must be 'ab' or 'ba'`);
  const a = rule.action;
  const actionOk =
    a === 'drop' ||
    a === 'duplicate' ||
    a === 'corrupt' ||
    (typeof a === 'object' &&
      a !== null &&
      typeof a.delay === 'number' &&
      a.delay >= 0 &&
      Number.isFinite(a.delay));
  if (!actionOk)
    throw new RangeError(
      `${where}: action must be 'drop', 'duplicate', 'corrupt' or { delay: ms }`,
    );
  let nth: Set<number> | undefined;
  if (rule.nth !== undefined) {
    const list = typeof rule.nth === 'number' ? [rule.nth] : [...rule.nth];
    for (const n of list)
      if (!Number.isInteger(n) || n < 1)
        throw new RangeError(`${where}: nth must hold integers >= 1, got ${String(n)}`);
    nth = new Set(list);
  }
  for (const key of ['from', 'until'] as const) {
    const v = rule[key];
    if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v)))
      throw new RangeError(`${where}: ${key} must be a number (ms)`);
  }
  return {
    direction: rule.direction,
    match: rule.match === undefined ? undefined : toPredicate(rule.match),
    nth,
    from: rule.from ?? -Infinity,
    until: rule.until ?? Infinity,
    action: a,
    count: 0,
  };
}

/**
 * A compiled list of rules with their counters. evaluate() must see every
 * packet of the link, in send order, so that `nth` counts are exact.
 */
export class Script {
  readonly #rules: Compiled[];

  /** Throws RangeError/TypeError naming the first bad rule. */
  constructor(rules: readonly ScriptRule[] = []) {
    if (!Array.isArray(rules)) throw new TypeError('script must be an array of rules');
    this.#rules = rules.map(checkRule);
  }

  get empty(): boolean {
    return this.#rules.length === 0;
  }

  /** The combined effect of every rule that picks this packet, or undefined when none does. */
  evaluate(packet: Uint8Array, info: PacketInfo): ScriptEffect | undefined {
    let effect: ScriptEffect | undefined;
    for (const r of this.#rules) {
      if (r.direction !== undefined && r.direction !== info.direction) continue;
      if (info.time < r.from || info.time >= r.until) continue;
      if (r.match) {
        let ok = false;
        try {
          ok = r.match(packet, info) === true;
        } catch {
          ok = false;
        }
        if (!ok) continue;
      }
      r.count++;
      if (r.nth && !r.nth.has(r.count)) continue;
      effect ??= { drop: false, duplicate: 0, corrupt: false, delay: 0 };
      const a = r.action;
      if (a === 'drop') effect.drop = true;
      else if (a === 'duplicate') effect.duplicate++;
      else if (a === 'corrupt') effect.corrupt = true;
      else effect.delay += a.delay;
    }
    return effect;
  }
}

/** Builds the PacketInfo of one packet, parsing it only if a predicate asks. */
export function packetInfo(
  packet: Uint8Array,
  direction: LinkDirection,
  index: number,
  linkIndex: number,
  time: number,
): PacketInfo {
  let parsed: ParsedPacket | undefined;
  let done = false;
  return {
    direction,
    index,
    linkIndex,
    time,
    get parsed() {
      if (!done) {
        parsed = parsePacket(packet);
        done = true;
      }
      return parsed;
    },
  };
}
