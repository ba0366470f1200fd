/**
 * Addresses of connection ends as the TCP layer reports them, and the
 * marshaling of addresses into WASM calls.
 */
import { LwInfo } from '../wasm/abi.js';
import type { LwipRuntime, Words } from '../wasm/runtime.js';
import { formatIp, type IpAddress } from '../stack/address.js';

/** One end of a TCP connection. */
export interface TcpEndpoint {
  readonly family: 4 | 6;
  /** Text form: '10.0.0.1' or 'fd00::1'. */
  readonly address: string;
  readonly port: number;
}

/** Bytes of one IPv6 address being formatted (endpointsOf runs once per connection). */
const v6Bytes = new Uint8Array(16);

/** The text of the address stored at info[at..at+4] (memory order, as lwIP keeps it). */
function addressText(info: Words, at: number, family: 4 | 6): string {
  const w = info[at]!;
  if (family === 4) return `${w & 255}.${(w >>> 8) & 255}.${(w >>> 16) & 255}.${w >>> 24}`;
  for (let i = 0; i < 4; i++) {
    const x = info[at + i]!;
    v6Bytes[i * 4] = x & 255;
    v6Bytes[i * 4 + 1] = (x >>> 8) & 255;
    v6Bytes[i * 4 + 2] = (x >>> 16) & 255;
    v6Bytes[i * 4 + 3] = x >>> 24;
  }
  return formatIp(v6Bytes);
}

/** Reads local and remote endpoints out of an lw_tcp_info result. */
export function endpointsOf(info: Words): { local: TcpEndpoint; peer: TcpEndpoint } {
  const family = info[LwInfo.FAMILY] === 6 ? 6 : 4;
  return {
    local: {
      family,
      address: addressText(info, LwInfo.LOCAL_IP, family),
      port: info[LwInfo.LOCAL_PORT] ?? 0,
    },
    peer: {
      family,
      address: addressText(info, LwInfo.REMOTE_IP, family),
      port: info[LwInfo.REMOTE_PORT] ?? 0,
    },
  };
}

/** Copies up to two addresses into scratch memory; returns their pointers (0 = none). */
export function addressArgs(runtime: LwipRuntime, a?: IpAddress, b?: IpAddress): [number, number] {
  const base = runtime.scratch(32);
  const mem = runtime.u8();
  if (a) mem.set(a.bytes, base);
  if (b) mem.set(b.bytes, base + 16);
  return [a ? base : 0, b ? base + 16 : 0];
}
