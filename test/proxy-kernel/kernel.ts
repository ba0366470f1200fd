/**
 * Helpers of the kernel proxy tests: why they cannot run here (one-line
 * skip reasons), network namespaces named lwp-<pid>-<tag> that are always
 * deleted, kernel clients (test/proxy-kernel/client.ts) run inside them
 * and ended by PID, and a fixture that runs the proxy program in-process
 * with its TUN device in the namespace.
 *
 * Network safety: the namespace's only link is the TUN device leading to
 * the proxy; the proxy maps the gateway addresses to this host's loopback
 * and its allow list holds nothing but those gateways, so no test traffic
 * can reach any other address. Under CI=true as root, missing tools are
 * installed with apt-get instead of skipping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startProxy, type ProxyProgramOptions, type RunningProxy } from '../../src/cli/proxy.js';
import { ensure } from '../helpers/system.js';

const CI = process.env.CI === 'true';
const isRoot = process.getuid?.() === 0;
export const repoRoot = new URL('../..', import.meta.url).pathname;

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Deletes lwp-<pid>-* namespaces of processes that died without cleaning up; others are left alone. */
export function removeStaleNamespaces(): void {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of out.split('\n')) {
    const m = /^(lwp-(?:demo-)?(\d+)(?:-\S+)?)/.exec(line);
    if (m && Number(m[2]) !== process.pid && !alive(Number(m[2])))
      spawnSync('ip', ['netns', 'del', m[1]!], { stdio: 'ignore' });
  }
}

let serial = 0;

/** Output of a finished child. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A network namespace lwp-<pid>-<n>; delete() ends its children by PID and removes it. */
export class Namespace {
  readonly name: string;
  readonly #children = new Set<ChildProcess>();
  #deleted = false;

  constructor() {
    this.name = `lwp-${process.pid}-${serial++}`;
    const r = spawnSync('ip', ['netns', 'add', this.name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip netns add ${this.name}: ${r.stderr.trim()}`);
  }

  /** A device name unique to this namespace and process, at most 15 bytes. */
  get device(): string {
    return `lwp${process.pid}${this.name.slice(this.name.lastIndexOf('-') + 1)}`.slice(0, 15);
  }

  /** Starts `command args` inside the namespace. */
  spawn(command: string, args: string[]): ChildProcess {
    if (this.#deleted) throw new Error(`namespace ${this.name} was deleted`);
    const child = spawn('ip', ['netns', 'exec', this.name, command, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Starts the kernel client (test/proxy-kernel/client.ts) inside the namespace. */
  client(args: string[]): ChildProcess {
    return this.spawn(process.execPath, [
      '--import',
      'tsx',
      'test/proxy-kernel/client.ts',
      ...args,
    ]);
  }

  /** Runs a command inside the namespace to its end (killed by PID after `timeoutMs`). */
  run(command: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return finish(this.spawn(command, args), `${command} ${args.join(' ')}`, timeoutMs);
  }

  /** Runs `ip -n <ns> args`; returns its exit status and output. */
  ip(...args: string[]): { status: number | null; out: string } {
    const r = spawnSync('ip', ['-n', this.name, ...args], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  }

  /** Ends children still running (SIGKILL by PID) and deletes the namespace. Idempotent. */
  delete(): void {
    for (const c of this.#children)
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null)
        process.kill(c.pid, 'SIGKILL');
    this.#children.clear();
    if (this.#deleted) return;
    this.#deleted = true;
    spawnSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
  }

  /** True while `ip netns list` shows it. */
  exists(): boolean {
    const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    return out.split('\n').some((line) => line.split(' ')[0] === this.name);
  }
}

/** Collects a child's output; resolves when it exits; kills it by PID after `timeoutMs`. */
export function finish(child: ChildProcess, what: string, timeoutMs = 60_000): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`${what}: no exit within ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once('error', (e) => (clearTimeout(timer), reject(e)));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Resolves with the first line on `stream` starting with `prefix` (rejects on exit or after `timeoutMs`). */
export function lineStarting(
  child: ChildProcess,
  prefix: string,
  timeoutMs = 30_000,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<string> {
  const watched = stream === 'stdout' ? child.stdout : child.stderr;
  const other = stream === 'stdout' ? child.stderr : child.stdout;
  return new Promise((resolve, reject) => {
    let seen = '';
    let rest = '';
    const onData = (d: Buffer) => {
      seen += d.toString();
      const line = seen.split('\n').find((l) => l.startsWith(prefix));
      if (line !== undefined) done(undefined, line);
    };
    const onOther = (d: Buffer) => (rest += d.toString());
    const onExit = (code: number | null) =>
      done(new Error(`child exited (${code}) before printing '${prefix}': ${seen}${rest}`));
    const timer = setTimeout(
      () => done(new Error(`no '${prefix}' line within ${timeoutMs} ms: ${seen}${rest}`)),
      timeoutMs,
    );
    const done = (error: Error | undefined, line = '') => {
      clearTimeout(timer);
      watched?.off('data', onData);
      other?.off('data', onOther);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(line);
    };
    watched?.on('data', onData);
    other?.on('data', onOther);
    child.once('exit', onExit);
  });
}

/** The last JSON line a client printed. */
export function resultOf(r: RunResult): Record<string, unknown> {
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`client printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
}

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
