/**
 * Helpers of the TUN tests: why a test cannot run here (one-line skip
 * reasons), network namespaces that always go away, and child processes run
 * inside them and ended by PID. Kernel traffic in these tests stays inside a
 * namespace the test created: its only links are its loopback and the TUN
 * device whose other end is our stack.
 *
 * Under CI=true as root, missing tools (ip, ping) are installed with
 * apt-get instead of skipping, so that CI runs every test.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { alive, finish, type RunResult } from '../helpers/namespace.js';
import { ensure } from '../helpers/system.js';

export { finish, type RunResult };

const CI = process.env.CI === 'true';
const isRoot = process.getuid?.() === 0;
const root = new URL('../..', import.meta.url).pathname;

/** The repository root, for spawning test scripts. */
export const repoRoot = root;

const ADDON = new URL('../../tun/build/Release/tun.node', import.meta.url);

/** Why a test that opens TUN devices cannot run here, or undefined. */
export const tunReason: string | undefined =
  process.platform !== 'linux'
    ? 'TUN devices are Linux-only'
    : !isRoot
      ? 'needs root (CAP_NET_ADMIN) to create TUN devices'
      : !existsSync('/dev/net/tun')
        ? 'no /dev/net/tun in this system'
        : !CI && !existsSync(ADDON)
          ? 'the native TUN addon is not built (run make tun)'
          : undefined;

/** Why a test that needs network namespaces (ip from iproute2) cannot run here, or undefined. */
export const netnsReason: string | undefined =
  tunReason ?? (ensure('ip', 'iproute2') ? undefined : 'ip (iproute2) is not installed');

/** Why a test that runs ping cannot run here, or undefined. */
export const pingReason: string | undefined =
  netnsReason ??
  (ensure('ping', 'iputils-ping') ? undefined : 'ping (iputils-ping) is not installed');

/** A short tag, unique in this process, for device and namespace names. */
let serial = 0;
export function uniqueTag(): string {
  return (serial++).toString(36);
}

/** A TUN device name unique to this process: lwt<pid><tag>, at most 15 bytes. */
export function deviceName(tag: string): string {
  return `lwt${process.pid}${tag}`.slice(0, 15);
}

/**
 * Deletes lwt-<pid>-* namespaces left by test processes that died without
 * cleaning up (killed by the runner's timeout, say). Namespaces of live
 * processes, other workers' included, are left alone.
 */
export function removeStaleNamespaces(): void {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of out.split('\n')) {
    const m = /^(lwt-(\d+)-\S+)/.exec(line);
    if (m && !alive(Number(m[2]))) spawnSync('ip', ['netns', 'del', m[1]!], { stdio: 'ignore' });
  }
}

/** A network namespace named lwt-<pid>-<tag>; delete() removes it and ends its children. */
export class Netns {
  readonly name: string;
  readonly #children = new Set<ChildProcess>();
  #deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates the namespace with its loopback up. */
  static create(tag: string): Netns {
    const ns = new Netns(`lwt-${process.pid}-${tag}`);
    execFileSync('ip', ['netns', 'add', ns.name], { stdio: 'pipe' });
    try {
      ns.ip('link', 'set', 'dev', 'lo', 'up');
    } catch (error) {
      ns.delete();
      throw error;
    }
    return ns;
  }

  /** Runs `ip -n <ns> ...args`; throws with ip's message on failure. */
  ip(...args: string[]): string {
    const r = spawnSync('ip', ['-n', this.name, ...args], { encoding: 'utf8' });
    if (r.status !== 0)
      throw new Error(`ip -n ${this.name} ${args.join(' ')}: ${r.stderr.trim() || r.status}`);
    return r.stdout;
  }

  /** Moves a network device of our namespace into this one (which takes it down). */
  moveIn(device: string): void {
    execFileSync('ip', ['link', 'set', 'dev', device, 'netns', this.name], { stdio: 'pipe' });
  }

  /** Starts `command args` inside the namespace; delete() kills it by PID if it still runs. */
  spawn(command: string, args: string[]): ChildProcess {
    if (this.#deleted) throw new Error(`namespace ${this.name} was deleted`);
    const child = spawn('ip', ['netns', 'exec', this.name, command, ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Runs a command inside the namespace to its end (killed by PID after `timeoutMs`). */
  run(command: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return finish(this.spawn(command, args), `${command} ${args.join(' ')}`, timeoutMs);
  }

  /** Runs test/tun/peer.ts (a Node helper) inside the namespace. */
  peer(args: string[]): ChildProcess {
    return this.spawn(process.execPath, ['--import', 'tsx', 'test/tun/peer.ts', ...args]);
  }

  /** Ends children still running (by PID) and deletes the namespace. Idempotent. */
  delete(): void {
    for (const child of this.#children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
        process.kill(child.pid, 'SIGKILL');
    }
    this.#children.clear();
    if (this.#deleted) return;
    this.#deleted = true;
    execFileSync('ip', ['netns', 'del', this.name], { stdio: 'pipe' });
  }

  /** True while `ip netns list` shows the namespace. */
  exists(): boolean {
    const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    return out.split('\n').some((line) => line.split(' ')[0] === this.name);
  }
}

/** Resolves when the child prints `line` on stdout (rejects if it exits first or after `timeoutMs`). */
export function waitForLine(child: ChildProcess, line: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let errors = '';
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (seen.split('\n').includes(line)) done(undefined);
    };
    const onErr = (d: Buffer) => (errors += d.toString());
    const onExit = (code: number | null) =>
      done(new Error(`child exited (${code}) before printing ${line}: ${seen}${errors}`));
    const timer = setTimeout(
      () => done(new Error(`no "${line}" from the child within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (error: Error | undefined) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}
