/**
 * Where a transparent flow may go, and where it really goes.
 *
 * A Policy decides, for the destination a client dialled (the held SYN's
 * `local`), whether the proxy may dial it at all (allow/deny lists of
 * CIDRs) and which address it dials instead (VIRTUAL=REAL maps, e.g. the
 * gateway 10.0.2.2 to the host's 127.0.0.1, as slirp4netns does). Rules
 * look at the address the client dialled, before mapping: a map is the
 * operator's explicit consent to reach its target. Addresses are parsed by
 * src/stack/address.ts, the project's one IP parser.
 */
import { cidrContains, formatIp, parseCidr, parseIp, type Cidr } from '../stack/address.js';
import { StackError } from '../stack/errors.js';

/** Options of a Policy; every list may be empty. */
export interface PolicyOptions {
  /**
   * 'VIRTUAL=REAL' pairs of addresses: a flow to VIRTUAL is dialled at
   * REAL, same port. The families may differ ('fd00::2=127.0.0.1').
   */
  map?: readonly string[];
  /** CIDRs the proxy may dial. Empty or absent: every destination not denied. */
  allow?: readonly string[];
  /** CIDRs the proxy refuses (RST to the client). Deny wins over allow. */
  deny?: readonly string[];
}

/** What to do with one flow. */
export type PolicyDecision =
  | { action: 'dial'; host: string; port: number; mapped: boolean }
  | { action: 'deny'; rule: string };

interface Mapping {
  virtual: string;
  real: string;
}

function formatCidr(c: Cidr): string {
  return `${formatIp(c.ip.bytes)}/${c.prefix}`;
}

const DECIDED_MAX = 1024;

/** An immutable allow/deny/map rule set. */
export class Policy {
  readonly #maps = new Map<string, Mapping>();
  readonly #allow: Cidr[];
  readonly #deny: Cidr[];
  /** Decisions by address text (with port 0), at most DECIDED_MAX of them. */
  readonly #decided = new Map<string, PolicyDecision>();

  /**
   * Parses the rules. Throws StackError 'ERR_INVALID_ARGUMENT' naming the
   * bad entry (not an address, a bad prefix, a map without '=', a VIRTUAL
   * mapped twice).
   */
  constructor(options: PolicyOptions = {}) {
    const op = 'Policy';
    const list = (value: unknown, field: string): string[] => {
      if (value === undefined) return [];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
        throw StackError.invalidArgument(op, field, 'must be an array of strings');
      return value as string[];
    };
    for (const entry of list(options.map, 'map')) {
      const eq = entry.indexOf('=');
      if (eq < 0)
        throw StackError.invalidArgument(
          op,
          'map',
          `entry ${JSON.stringify(entry)} is not VIRTUAL=REAL`,
        );
      const virtual = parseIp(entry.slice(0, eq).trim(), op, 'map');
      const real = parseIp(entry.slice(eq + 1).trim(), op, 'map');
      const key = formatIp(virtual.bytes);
      if (this.#maps.has(key))
        throw StackError.invalidArgument(op, 'map', `maps ${key} more than once`);
      this.#maps.set(key, { virtual: key, real: formatIp(real.bytes, real.scopeId) });
    }
    this.#allow = list(options.allow, 'allow').map((c) => parseCidr(c.trim(), op, 'allow'));
    this.#deny = list(options.deny, 'deny').map((c) => parseCidr(c.trim(), op, 'deny'));
  }

  /** The rules in text form (for a status banner). */
  describe(): { map: string[]; allow: string[]; deny: string[] } {
    return {
      map: [...this.#maps.values()].map((m) => `${m.virtual}=${m.real}`),
      allow: this.#allow.map(formatCidr),
      deny: this.#deny.map(formatCidr),
    };
  }

  /**
   * Decides for a destination the client dialled. Throws StackError
   * 'ERR_INVALID_ARGUMENT' when `address` is not an IP address.
   */
  decide(address: string, port: number): PolicyDecision {
    // A proxy decides for every SYN, mostly for the same few destinations.
    let decided = this.#decided.get(address);
    if (!decided) {
      decided = this.#decide(address, 0);
      if (this.#decided.size >= DECIDED_MAX) this.#decided.clear();
      this.#decided.set(address, decided);
    }
    return decided.action === 'deny' ? { ...decided } : { ...decided, port };
  }

  #decide(address: string, port: number): PolicyDecision {
    const ip = parseIp(address, 'Policy.decide', 'address');
    for (const rule of this.#deny)
      if (cidrContains(rule, ip)) return { action: 'deny', rule: `deny ${formatCidr(rule)}` };
    if (this.#allow.length > 0 && !this.#allow.some((rule) => cidrContains(rule, ip)))
      return { action: 'deny', rule: 'not in the allow list' };
    const mapping = this.#maps.get(formatIp(ip.bytes));
    if (mapping) return { action: 'dial', host: mapping.real, port, mapped: true };
    return { action: 'dial', host: formatIp(ip.bytes, ip.scopeId), port, mapped: false };
  }
}
