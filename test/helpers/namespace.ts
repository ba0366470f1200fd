/**
 * Network namespaces for tests and benchmarks: lwp-<pid>-<n>, unique per
 * process (so parallel runs never collide), always deleted, with children
 * started inside them and ended by PID. Also the small helpers that wait
 * for a child: its exit with output (finish), a line it prints
 * (lineStarting), and the JSON line a client ends with (resultOf).
 * removeStaleNamespaces() deletes only namespaces whose creating process
 * is gone. Needs root and iproute2; callers check that first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export const repoRoot = new URL('../..', import.meta.url).pathname;

/** Whether a process with this PID is alive (signal 0). */
export function alive(pid: number): boolean {
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
    return this.node('test/proxy-kernel/client.ts', args);
  }

  /** Starts a TypeScript program of this repository (path from its root) inside the namespace. */
  node(script: string, args: string[]): ChildProcess {
    return this.spawn(process.execPath, ['--import', 'tsx', script, ...args]);
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
