/**
 * Just enough ICMP for the TUN tests: IPv4 echo requests to write into a
 * device and a matcher for the replies that come back.
 */

function checksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 ICMP echo request from `src` to `dst` (default 10.77.0.1 -> 10.77.0.2). */
export function echoRequest(
  id: number,
  seq: number,
  payload: Uint8Array,
  src: readonly number[] = [10, 77, 0, 1],
  dst: readonly number[] = [10, 77, 0, 2],
): Uint8Array {
  const p = new Uint8Array(28 + payload.length);
  const v = new DataView(p.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, p.length);
  v.setUint8(8, 64);
  v.setUint8(9, 1);
  p.set(src, 12);
  p.set(dst, 16);
  v.setUint16(10, checksum(p, 0, 20));
  v.setUint8(20, 8);
  v.setUint16(24, id);
  v.setUint16(26, seq);
  p.set(payload, 28);
  v.setUint16(22, checksum(p, 20, p.length));
  return p;
}

/** The sequence number of an IPv4 ICMP echo reply, or undefined for any other packet. */
export function echoReplySeq(p: Uint8Array): number | undefined {
  if (p.length < 28 || p[0] !== 0x45 || p[9] !== 1 || p[20] !== 0) return undefined;
  return new DataView(p.buffer, p.byteOffset).getUint16(26);
}
