/**
 * attachTun: wires a TUN device to a stack's interface, the kernel-facing
 * counterpart of linkInterfaces (src/stack/link.ts). Packets the kernel
 * routes into the device go to iface.inputMany, a batch per event-loop turn
 * (borrowed from the device: inputMany copies them into the stack);
 * packets the stack emits go to the device as one batch each, as pooled
 * transient copies (NetInterface.onTransientOutput) given back once the
 * device has written them or copied those it had to queue.
 *
 * The kernel runs in real time, so the stack should use a RealClock (the
 * default): a VirtualClock would not advance while the kernel waits.
 */
import { StackError } from '../stack/errors.js';
import { NetInterface } from '../stack/interface.js';
import { TunDevice } from './device.js';

/** A running TUN attachment; close() stops it. */
export interface TunLink {
  /** Stops moving packets. The device stays open and the interface stays in its stack. */
  close(): void;
  /** Packets moved so far, each direction. */
  readonly delivered: { toInterface: number; toDevice: number };
}

/**
 * Attaches `device` to `iface`: replaces the interface's output receiver and
 * the device's packet receiver. Packets arriving after the stack closed or
 * the interface was removed are dropped, as on a cut wire; packets the stack
 * emits after the device closed are dropped too. Give both the same MTU.
 * Throws 'ERR_INVALID_ARGUMENT' for wrong arguments and 'ERR_TUN_CLOSED'
 * when the device is already closed.
 */
export function attachTun(device: TunDevice, iface: NetInterface): TunLink {
  if (!(device instanceof TunDevice))
    throw StackError.invalidArgument('attachTun', 'device', 'must be a TunDevice from openTun');
  if (!(iface instanceof NetInterface))
    throw StackError.invalidArgument('attachTun', 'iface', 'must be a NetInterface');
  const delivered = { toInterface: 0, toDevice: 0 };
  let open = true;
  // Borrowed: inputMany copies every packet into the stack before it returns.
  device.onPackets(
    (packets) => {
      if (!open || iface.removed) return;
      delivered.toInterface += packets.length;
      try {
        iface.inputMany(packets);
      } catch (error) {
        // The stack closed or failed meanwhile: the packets are lost, as on a cut wire.
        if (!(error instanceof StackError)) throw error;
      }
    },
    { borrow: true },
  );
  // Pooled copies, reused once released: writeBorrowed copies those it has to queue.
  iface.onTransientOutput((packets) => {
    try {
      if (!open || device.closed) return;
      delivered.toDevice += packets.length;
      device.writeBorrowed(packets);
    } finally {
      iface.releaseOutput(packets);
    }
  });
  return {
    close() {
      if (!open) return;
      open = false;
      if (!device.closed) device.onPackets(undefined);
      iface.onOutput(undefined);
    },
    get delivered() {
      return { ...delivered };
    },
  };
}
