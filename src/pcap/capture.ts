/**
 * capture(): records both directions of stack interfaces into a PcapWriter,
 * timestamped by the interface's stack clock. It taps the interface
 * (NetInterface.addTap), so the interface's own output receiver (a link, a
 * probe, a TUN bridge) keeps working unchanged.
 *
 * Capturing one end of a link records the whole conversation; capturing
 * both ends would record each packet twice.
 */
import type { Clock } from '../stack/clock.js';
import type { NetInterface } from '../stack/interface.js';
import type { PcapWriter } from './writer.js';

/** Options of capture(). */
export interface CaptureOptions {
  /** Which directions to record; default both. */
  direction?: 'in' | 'out' | 'both';
  /** Records only packets for which this returns true (e.g. a packetFilter). */
  filter?: (packet: Uint8Array) => boolean;
  /** Time source; default the interface's stack clock. */
  clock?: Clock;
}

/** A running capture. */
export interface Capture {
  /** Packets recorded so far. */
  readonly packets: number;
  /** Stops recording; the writer keeps what it has. Calling it again does nothing. */
  stop(): void;
}

/** Records every packet in and out of `iface` (or of each interface given) into `writer`. */
export function capture(
  iface: NetInterface | readonly NetInterface[],
  writer: PcapWriter,
  options: CaptureOptions = {},
): Capture {
  const list = Array.isArray(iface) ? (iface as readonly NetInterface[]) : [iface as NetInterface];
  const want = options.direction ?? 'both';
  let packets = 0;
  const removers = list.map((i) => {
    const clock = options.clock ?? i.clock;
    return i.addTap((packet, direction) => {
      if (want !== 'both' && want !== direction) return;
      if (options.filter && !options.filter(packet)) return;
      writer.write(packet, clock.now());
      packets++;
    });
  });
  let stopped = false;
  return {
    get packets() {
      return packets;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      for (const remove of removers) remove();
    },
  };
}
