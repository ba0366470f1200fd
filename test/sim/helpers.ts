/**
 * Helpers of the simulation tests: two stacks on one impaired link in a
 * Simulation with a kept trace, a one-way transfer, and trace queries.
 */
import type { NetInterface, Stack, TcpConnection } from '../../src/index.js';
import { parsePacket, type ParsedPacket } from '../../src/packet/index.js';
import {
  Simulation,
  type ImpairedLink,
  type ImpairedLinkOptions,
  type TraceEntry,
} from '../../src/sim/index.js';
import { bytes, collect, writeAll } from '../helpers/net.js';

export interface SimPair {
  sim: Simulation;
  a: Stack;
  b: Stack;
  ia: NetInterface;
  ib: NetInterface;
  link: ImpairedLink;
  /** Trace entries so far. */
  entries(): readonly TraceEntry[];
}

/** Stacks a (10.0.0.1) and b (10.0.0.2) on one impaired link, trace kept. */
export async function simPair(
  link: ImpairedLinkOptions = {},
  options: { seed?: number; mtu?: number; window?: number } = {},
): Promise<SimPair> {
  const sim = new Simulation({ seed: options.seed ?? 1, trace: true });
  const tcp = options.window ? { window: options.window, sendBuffer: options.window } : undefined;
  const a = await sim.addStack('a', tcp ? { tcp } : {});
  const b = await sim.addStack('b', tcp ? { tcp } : {});
  const mtu = options.mtu ?? 1500;
  const ia = a.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64', mtu });
  const ib = b.addInterface({ ipv4: '10.0.0.2/24', ipv6: 'fd00::2/64', mtu });
  const l = sim.link(ia, ib, link);
  return { sim, a, b, ia, ib, link: l, entries: () => sim.trace!.entries };
}

export interface Transfer {
  client: TcpConnection;
  data: Uint8Array;
  /** What the server has read so far. */
  received(): ReturnType<typeof collect> | undefined;
  /** The server read everything and EOF. */
  complete(): boolean;
}

/** a sends `size` bytes to b on `port` and half-closes; b closes after EOF. */
export function transfer(p: SimPair, size: number, port = 80, seed = 7): Transfer {
  let got: ReturnType<typeof collect> | undefined;
  p.b.listen({ port }, (s) => {
    got = collect(s);
    s.markActive();
    s.on('readEOF', () => s.gracefulClose());
  });
  const client = p.a.connect({ address: '10.0.0.2', port });
  client.on('readEOF', () => client.gracefulClose());
  const data = bytes(size, seed);
  writeAll(client, data, () => client.shutdownWrite());
  return {
    client,
    data,
    received: () => got,
    complete: () => got?.eof() === true,
  };
}

/** Trace entries of one kind and direction, parsed. */
export function events(
  entries: readonly TraceEntry[],
  kind: TraceEntry['kind'],
  direction?: 'ab' | 'ba',
): (TraceEntry & { parsed: ParsedPacket | undefined })[] {
  return entries
    .filter((e) => e.kind === kind && (direction === undefined || e.direction === direction))
    .map((e) => ({ ...e, parsed: parsePacket(e.packet) }));
}

/** Number of bits in which two equal-length byte strings differ. */
export function bitDistance(x: Uint8Array, y: Uint8Array): number {
  if (x.length !== y.length) return Infinity;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    let v = x[i]! ^ y[i]!;
    while (v) {
      n += v & 1;
      v >>= 1;
    }
  }
  return n;
}
