/**
 * Helpers of the kernel proxy tests: why they cannot run here (one-line
 * skip reasons) and a fixture that runs the proxy program in-process with
 * its TUN device in a fresh namespace. The namespaces themselves (named
 * lwp-<pid>-<n>, always deleted, children ended by PID) are in
 * test/helpers/namespace.ts, re-exported here for the tests.
 *
 * Network safety: the namespace's only link is the TUN device leading to
 * the proxy; the proxy maps the gateway addresses to this host's loopback
 * and its allow list holds nothing but those gateways, so no test traffic
 * can reach any other address. Under CI=true as root, missing tools are
 * installed with apt-get instead of skipping.
 */
import { existsSync } from 'node:fs';
import { startProxy, type ProxyProgramOptions, type RunningProxy } from '../../src/cli/proxy.js';
import { ensure } from '../helpers/system.js';
import { Namespace } from '../helpers/namespace.js';

export {
  Namespace,
  finish,
  lineStarting,
  removeStaleNamespaces,
  repoRoot,
  resultOf,
  type RunResult,
} from '../helpers/namespace.js';

const CI = process.env.CI === 'true';
const isRoot = process.getuid?.() === 0;

/** Gateway addresses (the proxy stack's own) and the namespace's addresses. */
export const GW4 = '10.0.2.1';
export const GW6 = 'fd00:2::1';
export const NS_ADDRESSES = ['10.0.2.100/24', 'fd00:2::100/64'];

const ADDON = new URL('../../tun/build/Release/tun.node', import.meta.url);

/** Why the kernel proxy tests cannot run here, or undefined. */
export const kernelReason: string | undefined =
  process.platform !== 'linux'
    ? 'TUN devices and network namespaces are Linux-only'
    : !isRoot
      ? 'needs root (CAP_NET_ADMIN) for TUN devices and network namespaces'
      : !existsSync('/dev/net/tun')
        ? 'no /dev/net/tun in this system'
        : !CI && !existsSync(ADDON)
          ? 'the native TUN addon is not built (run make tun)'
          : !ensure('ip', 'iproute2')
            ? 'ip (iproute2) is not installed'
            : !ensure('nsenter', 'util-linux')
              ? 'nsenter (util-linux) is not installed'
              : undefined;

/** Why the curl test cannot run, or undefined. */
export const curlReason: string | undefined =
  kernelReason ?? (ensure('curl', 'curl') ? undefined : 'curl is not installed');

/** Why the ping test cannot run, or undefined. */
export const pingReason: string | undefined =
  kernelReason ??
  (ensure('ping', 'iputils-ping') ? undefined : 'ping (iputils-ping) is not installed');

/** Proxy options of the fixture: gateways mapped to loopback, and nothing else allowed. */
export function fixtureOptions(ns: Namespace): ProxyProgramOptions {
  return {
    tun: ns.device,
    netns: ns.name,
    addresses: NS_ADDRESSES,
    mtu: 1500,
    upstream: 'direct',
    map: [`${GW4}=127.0.0.1`, `${GW6}=::1`],
    allow: [`${GW4}/32`, `${GW6}/128`],
    deny: [],
    maxFlows: 1024,
    idleTimeoutMs: 0,
    dialTimeoutMs: 5000,
  };
}

/**
 * Runs `fn` with the proxy program running in-process, its TUN device in a
 * fresh namespace routed through it; stops the proxy and deletes the
 * namespace afterwards, whatever happened, and checks both are gone.
 */
export async function withKernelProxy(
  fn: (k: { ns: Namespace; running: RunningProxy }) => Promise<void>,
  options: Partial<ProxyProgramOptions> = {},
): Promise<void> {
  const ns = new Namespace();
  let running: RunningProxy | undefined;
  try {
    running = await startProxy({ ...fixtureOptions(ns), ...options });
    await fn({ ns, running });
  } finally {
    await running?.stop(500);
    ns.delete();
  }
  if (ns.exists()) throw new Error(`namespace ${ns.name} is still there`);
}
