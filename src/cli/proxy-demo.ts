/**
 * The TUN part of `make demo`: the proxy against the real Linux kernel.
 * As root with /dev/net/tun it creates a network namespace whose only route
 * is a TUN device leading to the proxy, starts an HTTP server on this
 * host's loopback, fetches from it with curl inside the namespace through
 * the gateway address (mapped to 127.0.0.1), over IPv4 and IPv6, prints
 * what came back, and removes everything it created (namespace, device,
 * server, curl processes by PID). Elsewhere it prints one "skipped: ..." line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { loadTunAddon } from '../tun/native.js';
import { formatBytes, startProxy, summaryLine, type RunningProxy } from './proxy.js';

const BLOB = 4 << 20;

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Why the demo cannot run here, or undefined. */
async function skipReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'TUN devices are Linux-only';
  if (process.getuid?.() !== 0) return 'needs root to create a TUN device and a network namespace';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  try {
    await loadTunAddon();
  } catch (error) {
    return (error as Error).message;
  }
  if (!onPath('ip')) return 'ip (iproute2) is not installed';
  if (!onPath('curl')) return 'curl is not installed';
  return undefined;
}

function blob(): Buffer {
  const out = Buffer.alloc(BLOB);
  let x = 0x2545f491;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Runs a command to its end, collecting stdout as bytes; the child is recorded for cleanup. */
function run(
  children: Set<ChildProcess>,
  argv: string[],
): Promise<{ code: number | null; out: Buffer; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, out: Buffer.concat(out), err: err.trim() });
    });
  });
}

export async function runProxyDemo(): Promise<number> {
  const reason = await skipReason();
  if (reason !== undefined) {
    console.log(`proxy demo skipped: ${reason}`);
    return 0;
  }
  const ns = `lwp-demo-${process.pid}`;
  const tun = `lwpd${process.pid}`.slice(0, 15);
  const children = new Set<ChildProcess>();
  const data = blob();
  const digest = createHash('sha256').update(data).digest('hex');
  let server: Server | undefined;
  let running: RunningProxy | undefined;
  let nsMade = false;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    for (const c of children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let ok = true;
  const started = performance.now();
  try {
    const made = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`ip netns add ${ns}: ${made.stderr.trim()}`);
    nsMade = true;
    server = createServer((req, res) => {
      if (req.url === '/blob') {
        res.writeHead(200, { 'content-length': data.length });
        res.end(data);
      } else res.end(`hello from ${req.socket.localAddress}:${req.socket.localPort}, via lwIP\n`);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    running = await startProxy({
      tun,
      netns: ns,
      addresses: ['10.0.2.100/24', 'fd00:2::100/64'],
      mtu: 1500,
      upstream: 'direct',
      map: ['10.0.2.1=127.0.0.1', 'fd00:2::1=127.0.0.1'],
      allow: ['10.0.2.1/32', 'fd00:2::1/128'],
      deny: [],
      maxFlows: 64,
      idleTimeoutMs: 0,
      dialTimeoutMs: 5000,
    });
    console.log(
      `proxy demo: namespace ${ns} routes through tun ${tun} to the proxy (gateway 10.0.2.1, fd00:2::1 -> this host's 127.0.0.1:${port})`,
    );
    const curl = (url: string) =>
      run(children, ['ip', 'netns', 'exec', ns, 'curl', '-sS', '--max-time', '20', url]);
    const hello = await curl(`http://10.0.2.1:${port}/`);
    if (hello.code === 0)
      console.log(`  curl http://10.0.2.1:${port}/ -> ${hello.out.toString().trim()}`);
    else {
      ok = false;
      console.log(`  curl http://10.0.2.1:${port}/ failed (${hello.code}): ${hello.err}`);
    }
    const t0 = performance.now();
    const got = await curl(`http://[fd00:2::1]:${port}/blob`);
    const seconds = (performance.now() - t0) / 1000;
    const same = createHash('sha256').update(got.out).digest('hex') === digest;
    if (got.code === 0 && same)
      console.log(
        `  curl http://[fd00:2::1]:${port}/blob -> ${formatBytes(got.out.length)} in ${seconds.toFixed(2)} s, sha256 matches`,
      );
    else {
      ok = false;
      console.log(
        `  curl http://[fd00:2::1]:${port}/blob failed (${got.code}, ${got.out.length} bytes, sha256 ${same ? 'matches' : 'differs'}): ${got.err}`,
      );
    }
    if (interrupted) ok = false;
  } catch (error) {
    ok = false;
    console.log(`proxy demo failed: ${(error as Error).message}`);
  } finally {
    for (const c of children) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    if (running) {
      await running.stop(1000);
      const seconds = (performance.now() - started) / 1000;
      console.log(`  ${summaryLine(running.proxy.stats(), seconds)}`);
    }
    if (server) await new Promise((resolve) => server!.close(resolve));
    if (nsMade) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  const clean = !left.split('\n').some((l) => l.split(' ')[0] === ns);
  console.log(
    `proxy demo: ${ok ? 'ok' : 'FAILED'}; namespace and device ${clean ? 'removed' : 'NOT removed'}`,
  );
  return ok && clean ? 0 : 1;
}
