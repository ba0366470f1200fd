/**
 * The kernel's end of the proxy's TUN device, configured with ip(8): move
 * the device into a network namespace, give it its addresses and MTU, bring
 * it up, and route the namespace's default traffic through the proxy's
 * gateway address. This is how slirp4netns works: the namespace sees a
 * plain link, while the proxy's own sockets stay in the caller's namespace.
 *
 * A namespace is named ('lwp-demo', an entry of /run/netns, used with
 * `ip -n`) or given as a path ('/proc/1234/ns/net', entered with nsenter).
 * Only the command line and the demo use this file; the proxy itself does
 * not (it knows packets and sockets, not devices). Node only.
 */
import { spawnSync } from 'node:child_process';
import { formatIp, parseCidr, type Cidr } from '../stack/address.js';

/** How the kernel side of the device is set up. */
export interface KernelSideOptions {
  /** The TUN device's name. */
  device: string;
  /** Move the device into this namespace (name or path) first; default: stay here. */
  netns?: string;
  /** Addresses with prefix for the device, e.g. '10.0.2.100/24', 'fd00:2::100/64'. */
  addresses: readonly string[];
  mtu: number;
  /** Route the namespace's default traffic (per family) via these gateway addresses. */
  defaultRoutes?: readonly string[];
}

/** A failed ip(8) command: the command line and what ip said. */
export class IpCommandError extends Error {
  readonly command: string;
  constructor(command: string, stderr: string) {
    super(`${command}: ${stderr || 'failed'}`);
    this.name = 'IpCommandError';
    this.command = command;
  }
}

function run(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.error) throw new IpCommandError(argv.join(' '), r.error.message);
  if (r.status !== 0) throw new IpCommandError(argv.join(' '), r.stderr.trim());
  return r.stdout;
}

/** True for a namespace path rather than a name. */
function isPath(netns: string): boolean {
  return netns.includes('/');
}

/**
 * Runs `ip ARGS` inside `netns` (or here when undefined) and returns its
 * output. Throws IpCommandError with ip's message on failure.
 */
export function ipIn(netns: string | undefined, args: readonly string[]): string {
  if (netns === undefined) return run(['ip', ...args]);
  if (isPath(netns)) return run(['nsenter', `--net=${netns}`, 'ip', ...args]);
  return run(['ip', '-n', netns, ...args]);
}

/** Moves a device of this namespace into `netns` (which takes the device down). */
export function moveToNetns(device: string, netns: string): void {
  run(['ip', 'link', 'set', 'dev', device, 'netns', netns]);
}

/**
 * The gateway for a device address: the first host of its prefix, or the
 * second when the device has the first ('10.0.2.100/24' -> 10.0.2.1,
 * 'fd00:2::1/64' -> fd00:2::2). Throws a TypeError when the prefix leaves
 * no room for two hosts.
 */
export function defaultGateway(address: string): string {
  const cidr = parseCidr(address, 'defaultGateway', 'address');
  const bits = cidr.ip.bytes.length * 8;
  if (cidr.prefix > bits - 2)
    throw new TypeError(`${address}: the prefix leaves no room for a gateway address`);
  const pick = (n: number) => {
    const out = network(cidr);
    let carry = n;
    for (let i = out.length - 1; i >= 0 && carry > 0; i--) {
      const sum = out[i]! + carry;
      out[i] = sum & 0xff;
      carry = sum >> 8;
    }
    return out;
  };
  const first = pick(1);
  const same = first.every((b, i) => b === cidr.ip.bytes[i]);
  return formatIp(same ? pick(2) : first);
}

function network(cidr: Cidr): Uint8Array {
  const out = cidr.ip.bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, cidr.prefix - i * 8));
    out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/**
 * Configures the device: moves it (if `netns`), sets MTU and a transmit
 * queue of 1000 packets, brings loopback
 * and the device up, adds the addresses (IPv6 without duplicate address
 * detection: nothing else is on this link) and replaces the default route
 * of each gateway's family. Throws IpCommandError on the first failure;
 * what was done stays (closing the device undoes all of it).
 */
export function configureKernelSide(options: KernelSideOptions): void {
  const { device, netns } = options;
  if (netns !== undefined) moveToNetns(device, netns);
  const ip = (...args: string[]) => ipIn(netns, args);
  if (netns !== undefined) ip('link', 'set', 'dev', 'lo', 'up');
  // txqueuelen 1000 (a TUN device gets 500): the queue in front of the
  // proxy absorbs a burst of the kernel's sender instead of dropping it
  // into retransmissions while the proxy is busy; slirp4netns' tap has 1000.
  ip('link', 'set', 'dev', device, 'mtu', String(options.mtu), 'txqueuelen', '1000');
  for (const address of options.addresses) {
    const v6 = address.includes(':');
    ip('addr', 'add', address, 'dev', device, ...(v6 ? ['nodad'] : []));
  }
  ip('link', 'set', 'dev', device, 'up');
  for (const gateway of options.defaultRoutes ?? []) {
    const family = gateway.includes(':') ? '-6' : '-4';
    ip(family, 'route', 'replace', 'default', 'via', gateway, 'dev', device);
  }
}
