/**
 * The Internet checksum (RFC 1071) and the pseudo-headers TCP, UDP and
 * ICMPv6 fold into it (RFC 793 for IPv4, RFC 8200 section 8.1 for IPv6).
 * Used by craft.ts to fill checksums in and by parse.ts to verify them.
 */

/**
 * Adds `bytes` to a running one's-complement sum as big-endian 16-bit words
 * (an odd trailing byte is padded with zero). Returns the unfolded sum; pass
 * it back as `sum` to continue, and finish with foldChecksum().
 */
export function sumWords(bytes: Uint8Array, sum = 0): number {
  const n = bytes.length;
  let i = 0;
  for (; i + 1 < n; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < n) sum += bytes[i]! << 8;
  // Fold early so the running sum never leaves the exact range of a double.
  while (sum > 0xffffffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Folds a running sum to 16 bits and complements it: the value that goes on the wire. */
export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The Internet checksum of `bytes`. A buffer that carries its own correct checksum gives 0. */
export function internetChecksum(bytes: Uint8Array): number {
  return foldChecksum(sumWords(bytes));
}

/**
 * The running sum of the pseudo-header for an upper-layer packet of
 * `length` bytes with protocol (next header) `protocol`. `src` and `dst`
 * are 4 bytes (IPv4) or 16 bytes (IPv6), in network order.
 */
export function pseudoHeaderSum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  let sum = sumWords(src);
  sum = sumWords(dst, sum);
  if (src.length === 4) return sum + protocol + length;
  // IPv6: 32-bit upper-layer length, then three zero bytes and the next header.
  return sum + Math.floor(length / 0x10000) + (length & 0xffff) + protocol;
}

/**
 * The checksum of an upper-layer segment (TCP, UDP, ICMPv6) including its
 * pseudo-header. Computed over a segment whose checksum field holds the
 * transmitted value, a correct segment gives 0.
 */
export function transportChecksum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  segment: Uint8Array,
): number {
  return foldChecksum(sumWords(segment, pseudoHeaderSum(src, dst, protocol, segment.length)));
}
