/**
 * `lwip-wasm proxy`: a tun2socks-style proxy. A TUN device's packets go to a
 * stack whose interface is transparent; a TransparentProxy relays every TCP
 * flow to its destination with Node sockets (or through a SOCKS5 server).
 * With --netns the device lives in another network namespace, routed there
 * as its default gateway, while the proxy's sockets stay here (the
 * slirp4netns way). The stack answers pings to its own (gateway) address.
 *
 * startProxy() is the program without its command line (the demo and the
 * kernel tests run it in-process); runProxy() adds options, the status
 * line, the exit summary and graceful shutdown on SIGINT/SIGTERM.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { Stack } from '../tcp/stack.js';
import { attachTun, type TunLink } from '../tun/attach.js';
import { openTun, type TunDevice } from '../tun/device.js';
import { TransparentProxy, type ProxyStats } from '../proxy/proxy.js';
import { directDialer, type Dialer } from '../proxy/dialer.js';
import { socks5Dialer } from '../proxy/socks5.js';
import { Policy } from '../proxy/policy.js';
import { configureKernelSide, defaultGateway } from '../proxy/tun-config.js';
import { parseCidr } from '../stack/address.js';
import { parseArgs } from './args.js';
import { HeapSlack } from './heap-slack.js';

/** What startProxy sets up. */
export interface ProxyProgramOptions {
  /** TUN device name; default: the kernel picks one. */
  tun?: string;
  /** The device's own addresses with prefix (at most one IPv4 and one IPv6). */
  addresses: string[];
  /** The stack's (gateway) addresses, at most one per family of `addresses`; missing ones: defaultGateway(). */
  gateways?: string[];
  mtu: number;
  /** 'direct' or a socks5:// URL. */
  upstream: string;
  /** Namespace (name or path) to move the device into, with a default route via the gateways. */
  netns?: string;
  map: string[];
  allow: string[];
  deny: string[];
  maxFlows: number;
  /** 0: never. */
  idleTimeoutMs: number;
  dialTimeoutMs: number;
}

/** A running proxy program; stop() undoes everything startProxy did. */
export interface RunningProxy {
  proxy: TransparentProxy;
  stack: Stack;
  device: TunDevice;
  /** The stack's addresses (what the kernel side routes through). */
  gateways: string[];
  /** Resolves with the error when the device fails (e.g. its namespace was deleted). */
  failed: Promise<Error>;
  /**
   * Ends flows in order (then resets those left after `timeoutMs`), closes
   * the device (which removes it, with its addresses and routes) and the
   * stack. Idempotent.
   */
  stop(timeoutMs?: number): Promise<void>;
}

/** The upstream dialer for 'direct' or a socks5:// URL. Throws TypeError for anything else. */
export function dialerFor(upstream: string): Dialer {
  if (upstream === 'direct') return directDialer();
  if (upstream.startsWith('socks5://')) return socks5Dialer(upstream);
  throw new TypeError(`--upstream must be 'direct' or socks5://host:port, got '${upstream}'`);
}

/**
 * Opens the TUN device, configures its kernel side (in `netns` if given),
 * and runs a TransparentProxy on a fresh stack attached to it. Needs root
 * (or CAP_NET_ADMIN) and the native TUN addon. On failure everything made so
 * far is closed again before the error is thrown.
 */
export async function startProxy(options: ProxyProgramOptions): Promise<RunningProxy> {
  const cidrs = options.addresses.map((a) => parseCidr(a, 'proxy', '--address'));
  const v4 = options.addresses.filter((_, i) => cidrs[i]!.ip.family === 4);
  const v6 = options.addresses.filter((_, i) => cidrs[i]!.ip.family === 6);
  if (v4.length > 1 || v6.length > 1 || cidrs.length === 0)
    throw new TypeError('--address: give one IPv4 and/or one IPv6 address with prefix');
  // One gateway per family of the addresses: the one given, or the default for that prefix.
  const given = options.gateways ?? [];
  for (const g of given) {
    const family = parseCidr(g, 'proxy', '--gateway').ip.family;
    if ((family === 4 ? v4 : v6).length === 0)
      throw new TypeError(`--gateway ${g}: no IPv${family} --address to go with it`);
  }
  const gateways = [...v4, ...v6].map(
    (own) => given.find((g) => g.includes(':') === own.includes(':')) ?? defaultGateway(own),
  );
  const gateway = (family: 4 | 6) => {
    const own = family === 4 ? v4[0] : v6[0];
    const gw = gateways.find((g) => g.includes(':') === (family === 6));
    return own === undefined ? undefined : `${gw}/${own.slice(own.indexOf('/') + 1)}`;
  };
  const policy = new Policy({ map: options.map, allow: options.allow, deny: options.deny });
  const dialer = dialerFor(options.upstream);

  // offload: a batch of the stack's segments reaches the kernel as a few GSO packets.
  const device = await openTun({ name: options.tun, mtu: options.mtu, offload: true });
  let stack: Stack | undefined;
  let link: TunLink | undefined;
  let proxy: TransparentProxy | undefined;
  try {
    configureKernelSide({
      device: device.name,
      netns: options.netns,
      addresses: [...v4, ...v6],
      mtu: options.mtu,
      defaultRoutes: options.netns !== undefined ? gateways : [],
    });
    // Seeded from the kernel directly: WebCrypto's default would load OpenSSL
    // (about 2 MiB resident) for these 8 bytes alone.
    stack = await Stack.create({ seed: kernelRandomSeed() });
    const iface = stack.addInterface({
      ipv4: gateway(4),
      ipv6: gateway(6),
      mtu: options.mtu,
      transparent: true,
    });
    link = attachTun(device, iface);
    proxy = new TransparentProxy(stack, {
      dialer,
      policy,
      maxFlows: options.maxFlows,
      idleTimeoutMs: options.idleTimeoutMs,
      dialTimeoutMs: options.dialTimeoutMs,
    });
  } catch (error) {
    link?.close();
    device.close();
    stack?.close();
    throw error;
  }
  const failed = new Promise<Error>((resolve) => device.onError(resolve));
  let stopping: Promise<void> | undefined;
  const running: RunningProxy = {
    proxy,
    stack,
    device,
    gateways: [...gateways],
    failed,
    stop(timeoutMs = 3000) {
      stopping ??= (async () => {
        await proxy!.shutdown({ timeoutMs });
        link!.close();
        device.close();
        stack!.close();
      })();
      return stopping;
    },
  };
  return running;
}

/** 64 random bits from /dev/urandom. */
function kernelRandomSeed(): bigint {
  const bytes = Buffer.alloc(8);
  const fd = openSync('/dev/urandom', 'r');
  try {
    readSync(fd, bytes, 0, 8, null);
  } finally {
    closeSync(fd);
  }
  return bytes.readBigUInt64LE();
}

// ---- the command line ----

const USAGE = `usage: lwip-wasm proxy [options]

Relays the TCP traffic of a TUN device to real sockets through lwIP (in
WebAssembly). Needs root (or CAP_NET_ADMIN).

  --tun NAME            TUN device name (default: chosen by the kernel)
  --address CIDR        the device's address, IPv4 and/or IPv6 (repeatable;
                        default 10.0.2.100/24)
  --gateway IP          the proxy's own address on that link, one per family
                        (default: the first host of each --address prefix)
  --mtu N               MTU of the device and the stack (default 1500)
  --netns NAME|PATH     move the device into this network namespace and route
                        its default traffic through the proxy; the proxy's own
                        sockets stay in this namespace
  --upstream URL        direct (default) or socks5://[user:password@]host:port
  --map VIRTUAL=REAL    flows to VIRTUAL are dialled at REAL (repeatable), e.g.
                        --map 10.0.2.1=127.0.0.1 reaches this host's loopback
  --allow CIDR          dial only destinations inside these (repeatable)
  --deny CIDR           refuse destinations inside these (repeatable)
  --max-flows N         flows at once; more are refused (default 1024)
  --idle-timeout SEC    reset flows idle this long (default 0: never)
  --dial-timeout SEC    no answer to the client after this long (default 10)
  --shutdown-timeout SEC  on SIGINT/SIGTERM, reset flows still open after
                        this long (default 3)
  --heap-slack MIB      while flows run, run a full collection of the JavaScript
                        heap once its old generation holds this much more than
                        after the last one, or a quarter more if that is more
                        (default 2; 0 leaves it to V8, which lets the garbage of
                        short flows pile up: ~5 MiB more peak RSS at thousands
                        of flows a second)
  --verbose             one line per flow on stderr
`;

const SPEC = {
  tun: { type: 'string' },
  address: { type: 'string', many: true },
  gateway: { type: 'string', many: true },
  mtu: { type: 'number' },
  netns: { type: 'string' },
  upstream: { type: 'string' },
  map: { type: 'string', many: true },
  allow: { type: 'string', many: true },
  deny: { type: 'string', many: true },
  'max-flows': { type: 'number' },
  'idle-timeout': { type: 'number' },
  'dial-timeout': { type: 'number' },
  'shutdown-timeout': { type: 'number' },
  'heap-slack': { type: 'number' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** Parses the proxy's options. Throws Error with a message naming the bad option. */
export function parseProxyArgs(args: string[]): ProxyProgramOptions & {
  shutdownTimeoutMs: number;
  /** Bytes; 0: off. */
  heapSlack: number;
  verbose: boolean;
  help: boolean;
} {
  const { positional, options: o } = parseArgs(args, SPEC);
  if (positional.length > 0) throw new Error(`unexpected argument '${positional[0]}'`);
  const list = (name: string) => (o[name] as string[] | undefined) ?? [];
  const seconds = (name: string, fallback: number, min: number) => {
    const v = (o[name] as number | undefined) ?? fallback;
    if (v < min) throw new Error(`option --${name} must be at least ${min}`);
    return Math.round(v * 1000);
  };
  const mtu = (o.mtu as number | undefined) ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535)
    throw new Error('option --mtu must be an integer in 1280..65535');
  const maxFlows = (o['max-flows'] as number | undefined) ?? 1024;
  if (!Number.isInteger(maxFlows) || maxFlows < 1)
    throw new Error('option --max-flows must be a positive integer');
  const heapSlack = (o['heap-slack'] as number | undefined) ?? 2;
  if (heapSlack < 0) throw new Error('option --heap-slack must be at least 0');
  const gateways = list('gateway');
  return {
    tun: o.tun as string | undefined,
    addresses: list('address').length > 0 ? list('address') : ['10.0.2.100/24'],
    ...(gateways.length > 0 ? { gateways } : {}),
    mtu,
    upstream: (o.upstream as string | undefined) ?? 'direct',
    netns: o.netns as string | undefined,
    map: list('map'),
    allow: list('allow'),
    deny: list('deny'),
    maxFlows,
    idleTimeoutMs: seconds('idle-timeout', 0, 0),
    dialTimeoutMs: seconds('dial-timeout', 10, 0.001),
    shutdownTimeoutMs: seconds('shutdown-timeout', 3, 0),
    heapSlack: Math.round(heapSlack * 1048576),
    verbose: o.verbose === true,
    help: o.help === true,
  };
}

/** '12.3 MiB' */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function mbit(bytes: number, seconds: number): string {
  return seconds > 0 ? ((bytes * 8) / seconds / 1e6).toFixed(1) : '0.0';
}

/** The one-line status: flows, bytes, rate over the last interval. */
export function statusLine(s: ProxyStats, prev: ProxyStats, seconds: number): string {
  const rejected = s.refused + s.dropped + s.denied + s.overLimit;
  return (
    `flows ${s.flowsActive} active (${s.flowsDialing} dialing), ${s.flowsTotal} total` +
    ` | up ${formatBytes(s.bytesUp)} down ${formatBytes(s.bytesDown)}` +
    ` | ${mbit(s.bytesUp - prev.bytesUp, seconds)} / ${mbit(s.bytesDown - prev.bytesDown, seconds)} Mbit/s` +
    (rejected > 0 ? ` | rejected ${rejected}` : '')
  );
}

/** The exit summary. */
export function summaryLine(s: ProxyStats, seconds: number): string {
  return (
    `proxy: ${s.flowsTotal} flows in ${seconds.toFixed(1)} s, up ${formatBytes(s.bytesUp)}, down ${formatBytes(s.bytesDown)}` +
    ` (${mbit(s.bytesUp + s.bytesDown, seconds)} Mbit/s average);` +
    ` refused ${s.refused}, dropped ${s.dropped}, denied ${s.denied}, over limit ${s.overLimit}, idle-closed ${s.idleClosed}`
  );
}

function endpoint(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** Runs the proxy until SIGINT/SIGTERM (or a device failure); returns the exit code. */
export async function runProxy(args: string[]): Promise<number> {
  let options: ReturnType<typeof parseProxyArgs>;
  try {
    options = parseProxyArgs(args);
    if (!options.help) dialerFor(options.upstream);
  } catch (error) {
    process.stderr.write(`lwip-wasm proxy: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let running: RunningProxy;
  try {
    running = await startProxy(options);
  } catch (error) {
    const e = error as Error & { code?: string };
    process.stderr.write(`lwip-wasm proxy: ${e.message}\n`);
    return e.code === 'ERR_INVALID_ARGUMENT' || e instanceof TypeError ? 2 : 1;
  }
  const { proxy, device } = running;
  const started = performance.now();
  const rules = proxy.policy.describe();
  const where = options.netns !== undefined ? ` in netns ${options.netns}` : '';
  process.stdout.write(
    `proxy ready: tun ${device.name}${where}, ${options.addresses.join(' ')} via gateway ${running.gateways.join(' ')}, mtu ${options.mtu}, upstream ${proxy.dialer.description}` +
      (rules.map.length ? `, map ${rules.map.join(' ')}` : '') +
      (rules.allow.length ? `, allow ${rules.allow.join(' ')}` : '') +
      (rules.deny.length ? `, deny ${rules.deny.join(' ')}` : '') +
      '\n',
  );
  if (options.verbose) {
    proxy.on('flow', (r) =>
      process.stderr.write(
        `open  ${endpoint(r.client)} -> ${endpoint(r.destination)} via ${r.target}\n`,
      ),
    );
    proxy.on('flowClosed', (s) =>
      process.stderr.write(
        `close ${endpoint(s.client)} -> ${endpoint(s.destination)}: ${s.outcome}${s.error ? ` ${s.error}` : ''}, up ${s.bytesUp} down ${s.bytesDown}, ${(s.durationMs / 1000).toFixed(1)} s\n`,
      ),
    );
    proxy.on('rejected', (r) =>
      process.stderr.write(
        `${r.answer === 'refuse' ? 'refuse' : 'drop  '} ${endpoint(r.client)} -> ${endpoint(r.destination)}: ${r.why}\n`,
      ),
    );
  }

  const slack =
    options.heapSlack > 0 ? new HeapSlack(options.heapSlack, () => proxy.flowCount > 0) : undefined;
  if (slack) proxy.on('flow', () => slack.wake());

  const tty = process.stdout.isTTY === true;
  let prev = proxy.stats();
  let prevAt = performance.now();
  const ticker = tty
    ? setInterval(() => {
        const now = performance.now();
        const s = proxy.stats();
        process.stdout.write(`\r${statusLine(s, prev, (now - prevAt) / 1000)}\x1b[K`);
        prev = s;
        prevAt = now;
      }, 1000)
    : undefined;

  let signals = 0;
  let onSignal: (name: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    onSignal = (name: string) => {
      signals++;
      if (signals === 1) resolve(name);
      // A second signal: do not wait for flows to finish.
      else for (const r of proxy.flows()) r.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const why = await Promise.race([
    stopped,
    running.failed.then((e) => `device failed: ${e.message}`),
  ]);
  if (ticker) clearInterval(ticker);
  slack?.stop();
  if (tty) process.stdout.write('\r\x1b[K');
  process.stdout.write(`proxy: stopping (${why})\n`);
  await running.stop(options.shutdownTimeoutMs);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  // The process's peak resident memory over its whole life, shutdown included
  // (getrusage's ru_maxrss, in KiB: VmHWM on Linux); bench-tun reads it here.
  const peak = formatBytes(process.resourceUsage().maxRSS * 1024);
  process.stdout.write(
    `${summaryLine(proxy.stats(), (performance.now() - started) / 1000)}; peak RSS ${peak}\n`,
  );
  return why.startsWith('device failed') ? 1 : 0;
}
