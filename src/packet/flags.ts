/**
 * TCP control flags in the three shapes tests use: the header bits, an
 * object of booleans, and short letter strings ('S', 'SA', 'FA', 'R', 'PA'),
 * plus tcpdump's rendering ('[S.]'). craft.ts and match.ts both read the
 * letter form through parseFlags() so a typo fails the same way everywhere.
 */

/** The six classic TCP flags (ECE and CWR are not modelled). */
export interface TcpFlags {
  syn: boolean;
  ack: boolean;
  fin: boolean;
  rst: boolean;
  psh: boolean;
  urg: boolean;
}

/**
 * Flags as letters, any order: S (SYN), A (ACK), F (FIN), R (RST), P (PSH),
 * U (URG); '.' is accepted for ACK as in tcpdump. '' means no flag.
 * Examples: 'S', 'SA', 'A', 'PA', 'FA', 'R', 'RA'.
 */
export type TcpFlagLetters = string;

/** Either letters (every flag not named is clear) or an object (only the named flags matter). */
export type TcpFlagsSpec = TcpFlagLetters | Partial<TcpFlags>;

/** Bit values in the TCP header's flags byte. */
export const TcpFlagBits = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
} as const;

const LETTERS: Record<string, keyof TcpFlags> = {
  S: 'syn',
  A: 'ack',
  '.': 'ack',
  F: 'fin',
  R: 'rst',
  P: 'psh',
  U: 'urg',
};

/** All flags clear. */
export function noFlags(): TcpFlags {
  return { syn: false, ack: false, fin: false, rst: false, psh: false, urg: false };
}

/** Parses letters like 'SA' into flags; throws an Error naming the first unknown letter. */
export function parseFlags(letters: TcpFlagLetters): TcpFlags {
  if (typeof letters !== 'string')
    throw new TypeError(`TCP flags must be letters like 'SA', got ${String(letters)}`);
  const flags = noFlags();
  for (const ch of letters) {
    const name = LETTERS[ch];
    if (!name)
      throw new Error(
        `TCP flags ${JSON.stringify(letters)}: unknown letter '${ch}' (use S A F R P U)`,
      );
    flags[name] = true;
  }
  return flags;
}

/** Flags from a spec: letters are complete, an object is completed with clear flags. */
export function flagsOf(spec: TcpFlagsSpec): TcpFlags {
  return typeof spec === 'string' ? parseFlags(spec) : { ...noFlags(), ...spec };
}

/** The header byte for `flags`. */
export function flagsToBits(flags: TcpFlags): number {
  return (
    (flags.fin ? TcpFlagBits.FIN : 0) |
    (flags.syn ? TcpFlagBits.SYN : 0) |
    (flags.rst ? TcpFlagBits.RST : 0) |
    (flags.psh ? TcpFlagBits.PSH : 0) |
    (flags.ack ? TcpFlagBits.ACK : 0) |
    (flags.urg ? TcpFlagBits.URG : 0)
  );
}

/** Flags from the header byte. */
export function flagsFromBits(bits: number): TcpFlags {
  return {
    syn: (bits & TcpFlagBits.SYN) !== 0,
    ack: (bits & TcpFlagBits.ACK) !== 0,
    fin: (bits & TcpFlagBits.FIN) !== 0,
    rst: (bits & TcpFlagBits.RST) !== 0,
    psh: (bits & TcpFlagBits.PSH) !== 0,
    urg: (bits & TcpFlagBits.URG) !== 0,
  };
}

/** Letters for `flags` in a fixed order (S F R P U A), e.g. 'SA', 'FA', '' for none. */
export function flagLetters(flags: TcpFlags): string {
  return (
    (flags.syn ? 'S' : '') +
    (flags.fin ? 'F' : '') +
    (flags.rst ? 'R' : '') +
    (flags.psh ? 'P' : '') +
    (flags.urg ? 'U' : '') +
    (flags.ack ? 'A' : '')
  );
}

/** tcpdump's rendering without brackets: 'S', 'S.', 'F.', 'P.', '.', 'none'. */
export function tcpdumpFlags(flags: TcpFlags): string {
  const text =
    (flags.fin ? 'F' : '') +
    (flags.syn ? 'S' : '') +
    (flags.rst ? 'R' : '') +
    (flags.psh ? 'P' : '') +
    (flags.urg ? 'U' : '') +
    (flags.ack ? '.' : '');
  return text === '' ? 'none' : text;
}
