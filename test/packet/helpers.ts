/**
 * Shared fixtures of the packet-level tests: one stack on a VirtualClock
 * with a PacketProbe on its interface, and a scripted TCP peer that keeps
 * its own sequence numbers so each test reads as the trace it checks.
 * (Not a test file: the runner only runs *.test.ts.)
 */
import {
  Stack,
  VirtualClock,
  type NetInterface,
  type StackOptions,
  type TcpConnection,
} from '../../src/index.js';
import {
  PacketProbe,
  craftTcp,
  expectPacket,
  ip,
  tcp,
  type CraftTcpOptions,
  type ParsedPacket,
  type TcpFlagsSpec,
} from '../../src/packet/index.js';

/** Addresses of the stack's interface and of the scripted peer. */
export const V4 = { stack: '10.0.0.1', peer: '10.0.0.2' } as const;
export const V6 = { stack: 'fd00::1', peer: 'fd00::2' } as const;
export type Family = typeof V4 | typeof V6;

export interface Rig {
  clock: VirtualClock;
  stack: Stack;
  iface: NetInterface;
  probe: PacketProbe;
  close(): void;
}

/** One stack (10.0.0.1/24, fd00::1/64) on a virtual clock, its interface driven by a probe. */
export async function rig(options: { mtu?: number; stack?: StackOptions } = {}): Promise<Rig> {
  const clock = new VirtualClock();
  const stack = await Stack.create({ clock, seed: 11, ...options.stack });
  const iface = stack.addInterface({
    ipv4: `${V4.stack}/24`,
    ipv6: `${V6.stack}/64`,
    mtu: options.mtu ?? 1500,
  });
  const probe = new PacketProbe(iface);
  return {
    clock,
    stack,
    iface,
    probe,
    close() {
      probe.close();
      stack.close();
    },
  };
}

/** Extra fields of one crafted segment (the peer fills addresses, ports, seq and ack). */
export type SegmentExtra = Omit<
  CraftTcpOptions,
  'src' | 'dst' | 'srcPort' | 'dstPort' | 'flags' | 'seq'
> & { seq?: number };

/**
 * A TCP endpoint played by the test. `seq` is the next sequence number it
 * sends, `ack` the next it expects from the stack. send() advances `seq` by
 * what the segment occupies (payload, SYN, FIN); the test moves `ack`.
 */
export class Peer {
  seq: number;
  ack = 0;
  /** The stack's ISN once a SYN or SYN-ACK from it was seen. */
  stackIsn = 0;

  constructor(
    readonly probe: PacketProbe,
    readonly family: Family,
    readonly port: number,
    readonly stackPort: number,
    isn = 1000,
  ) {
    this.seq = isn;
  }

  /** Matcher fields for a packet from the stack to this peer. */
  get fromStack() {
    return ip({ src: this.family.stack, dst: this.family.peer });
  }

  /** Crafts a segment from the peer with the current seq/ack (not sent). */
  segment(flags: TcpFlagsSpec, extra: SegmentExtra = {}): Uint8Array {
    return craftTcp({
      src: this.family.peer,
      dst: this.family.stack,
      srcPort: this.port,
      dstPort: this.stackPort,
      seq: this.seq,
      ack: this.ack,
      flags,
      ...extra,
    });
  }

  /** Sends a segment and advances seq by its length (+1 for SYN and FIN). */
  send(flags: TcpFlagsSpec, extra: SegmentExtra = {}): void {
    const packet = this.segment(flags, extra);
    this.probe.inject(packet);
    const p = expectPacket(packet);
    const t = p.tcp!;
    if (extra.seq === undefined)
      this.seq = (this.seq + t.payloadLength + (t.flags.syn ? 1 : 0) + (t.flags.fin ? 1 : 0)) >>> 0;
  }

  /** Waits for the next packet and checks it is TCP from the stack to this peer with `fields`. */
  async expect(fields: Parameters<typeof tcp>[0] = {}): Promise<ParsedPacket> {
    return this.probe.expectNext(
      this.fromStack,
      tcp({ srcPort: this.stackPort, dstPort: this.port, ...fields }),
    );
  }

  /**
   * Active open against a listening port: SYN (with mss and wscale 7),
   * expects SYN-ACK, sends ACK. Returns the SYN-ACK.
   */
  async handshake(window = 65535): Promise<ParsedPacket> {
    const mss = this.family === V4 ? 1460 : 1440;
    this.send('S', { options: { mss, wscale: 7 } });
    const synAck = await this.expect({ flags: 'SA', ack: this.seq });
    this.stackIsn = synAck.tcp!.seq;
    this.ack = (this.stackIsn + 1) >>> 0;
    this.send('A', { window });
    return synAck;
  }

  /**
   * Reads `total` bytes of data from the stack, acknowledging each in-order
   * segment at once (window `window`, scaled by 7 as announced). Returns
   * the bytes in order; fails on a gap or on anything but data.
   */
  async receive(total: number, window = 65535): Promise<Uint8Array> {
    const out = new Uint8Array(total);
    let got = 0;
    while (got < total) {
      const p = await this.expect({ flags: (f) => f.ack && !f.syn && !f.rst });
      const t = p.tcp!;
      if (t.payloadLength === 0) continue;
      if (t.seq !== this.ack) continue; // a retransmission of what we already have
      out.set(p.payload.subarray(0, Math.min(p.payload.length, total - got)), got);
      got += t.payloadLength;
      this.ack = (this.ack + t.payloadLength) >>> 0;
      this.send('A', { window });
    }
    return out;
  }
}

/**
 * A listener on `port` whose connections are marked active at once; the
 * array fills as handshakes complete.
 */
export function listenActive(stack: Stack, port: number): TcpConnection[] {
  const accepted: TcpConnection[] = [];
  stack.listen({ port }, (conn) => {
    conn.markActive();
    accepted.push(conn);
  });
  return accepted;
}
