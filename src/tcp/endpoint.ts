/**
 * Addresses of connection ends as the TCP layer reports them, and the
 * marshaling of addresses into WASM calls.
 */
import { LwInfo } from '../wasm/abi.js';
import type { LwipRuntime } from '../wasm/runtime.js';
import { formatIp, type IpAddress } from '../stack/address.js';

/** One end of a TCP connection. */
export interface TcpEndpoint {
  readonly family: 4 | 6;
  /** Text form: '10.0.0.1' or 'fd00::1'. */
  readonly address: string;
  readonly port: number;
}

/** Reads local and remote endpoints out of an lw_tcp_info result. */
export function endpointsOf(info: Uint32Array): { local: TcpEndpoint; peer: TcpEndpoint } {
  const family = info[LwInfo.FAMILY] === 6 ? 6 : 4;
  const bytes = (at: number) => {
    const b = new Uint8Array(info.buffer, info.byteOffset + at * 4, 16);
    return family === 4 ? b.slice(0, 4) : b.slice();
  };
  return {
    local: {
      family,
      address: formatIp(bytes(LwInfo.LOCAL_IP)),
      port: info[LwInfo.LOCAL_PORT] ?? 0,
    },
    peer: {
      family,
      address: formatIp(bytes(LwInfo.REMOTE_IP)),
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
