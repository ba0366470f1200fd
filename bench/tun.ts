/**
 * `make bench-tun` (root): the transparent proxy (`lwip-wasm proxy`) against
 * slirp4netns doing the same job, measured side by side in one run.
 *
 * Each side gets a fresh network namespace (lwp-<pid>-<n>) whose only link
 * leads to it: our proxy's TUN device, or slirp4netns' tap0. Both map
 * 10.0.2.2 to this host's loopback (slirp4netns by default, ours with
 * --map 10.0.2.2=127.0.0.1 and nothing else allowed), so all traffic stays
 * on this machine. Measured, for each side:
 *
 *   1. iperf3, one stream, namespace -> host and host -> namespace (-R),
 *      at MTU 65520 and 1500, against an iperf3 server on 127.0.0.1;
 *   2. short connections: a new TCP connection per HTTP/1.0 request, from
 *      the namespace (bench/tun-client.ts) to an HTTP server on 127.0.0.1,
 *      at MTU 1500;
 *   3. peak RSS (VmHWM) of the proxy process and of slirp4netns, the
 *      highest seen over all of the above: the proxy's over its whole life,
 *      shutdown included (it prints it on exit), slirp4netns' when it is
 *      stopped.
 *
 * Runs alternate between the two sides (lwip-wasm, slirp4netns, lwip-wasm,
 * ...) so slow phases of a noisy machine hit both; each figure is the
 * median of BENCH_TUN_RUNS runs (default 3) of BENCH_TUN_SECONDS seconds
 * (default 5). For work on one figure, BENCH_TUN_TESTS (up,down,rate),
 * BENCH_TUN_MTUS (65520,1500) and BENCH_TUN_SIDES (lwip-wasm,slirp4netns)
 * narrow the run, BENCH_TUN_NODE_OPTIONS becomes the proxy's NODE_OPTIONS
 * (e.g. --cpu-prof), BENCH_TUN_PROXY_ARGS adds options to its command line
 * (e.g. --heap-slack 2), BENCH_TUN_BIN runs another build of it, and
 * BENCH_TUN_PROXY_LOG=FILE copies its output to FILE.<pid>. Targets: every
 * ratio lwip-wasm / slirp4netns >= 1.0, the proxy's peak RSS < 64 MiB.
 * Every child is bounded in time and ended by
 * PID; the namespaces are deleted whatever happens.
 *
 * The proxy runs from dist/ (`make build`), as a user would run it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import {
  Namespace,
  lineStarting,
  removeStaleNamespaces,
  repoRoot,
  resultOf,
} from '../test/helpers/namespace.js';

const RUNS = Number(process.env.BENCH_TUN_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_TUN_SECONDS ?? 5);
const list = (name: string, all: string[]) =>
  (process.env[name] ?? all.join(',')).split(',').filter((x) => all.includes(x));
const TESTS = list('BENCH_TUN_TESTS', ['up', 'down', 'rate']);
const MTUS = list('BENCH_TUN_MTUS', ['65520', '1500']).map(Number);
const RATE_MTU = 1500;
const RATE_WORKERS = Number(process.env.BENCH_TUN_WORKERS ?? 8);
const RATE_MAX = 40_000;
const HOST = '10.0.2.2';
const NS_ADDRESS = '10.0.2.100/24';
const RSS_TARGET_MIB = 64;

type Side = 'lwip-wasm' | 'slirp4netns';
const SIDES = list('BENCH_TUN_SIDES', ['lwip-wasm', 'slirp4netns']) as Side[];

function reason(): string | undefined {
  if (process.platform !== 'linux') return 'TUN devices and network namespaces are Linux-only';
  if (process.getuid?.() !== 0) return 'needs root (TUN devices, network namespaces)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun in this system';
  if (!existsSync(new URL('../tun/build/Release/tun.node', import.meta.url)))
    return 'the native TUN addon is not built (make tun)';
  if (!existsSync(new URL('../dist/cli/main.js', import.meta.url)))
    return 'dist/ is not built (make build)';
  for (const tool of ['ip', 'slirp4netns', 'iperf3'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed`;
  return undefined;
}

// ---- children of this process (ended by PID) ----

const children = new Set<ChildProcess>();
const spaces = new Set<Namespace>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killAll(): void {
  for (const c of children)
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null)
      process.kill(c.pid, 'SIGKILL');
  children.clear();
  for (const ns of spaces) ns.delete();
  spaces.clear();
}

function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('exit', () => (clearTimeout(timer), resolve()));
  });
}

/** A "Name:  N kB" field of /proc/PID/status, in bytes (0 if the process is gone). */
function statusBytes(pid: number | undefined, field: 'VmHWM' | 'RssAnon'): number {
  if (pid === undefined) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Peak RSS (VmHWM) of a process in bytes. */
const peakRss = (pid: number | undefined) => statusBytes(pid, 'VmHWM');
/** RssAnon of a process in bytes: its private memory, without the mapped program and libraries. */
const anonRss = (pid: number | undefined) => statusBytes(pid, 'RssAnon');

/** CPU seconds (user + system) a process used so far (0 if it is gone). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ
  } catch {
    return 0;
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

// ---- one side in one namespace ----

interface Session {
  ns: Namespace;
  /** The process doing the job (our proxy, or slirp4netns). */
  process: ChildProcess;
  /** Ends it; resolves with its peak RSS (VmHWM) and sampled peak private (anonymous) RSS. */
  stop(): Promise<{ rss: number; anon: number }>;
}

/** How often the private RSS is sampled (the kernel keeps no peak of it). */
const ANON_SAMPLE_MS = 50;

async function startSide(side: Side, mtu: number): Promise<Session> {
  const ns = new Namespace();
  spaces.add(ns);
  try {
    let child: ChildProcess;
    if (side === 'lwip-wasm') {
      child = track(
        // The bin file itself, as npx runs it: its #! line picks Node's flags.
        spawn(
          process.env.BENCH_TUN_BIN ?? 'dist/cli/main.js',
          [
            'proxy',
            '--tun',
            ns.device,
            '--netns',
            ns.name,
            '--address',
            NS_ADDRESS,
            '--gateway',
            HOST,
            '--mtu',
            String(mtu),
            '--map',
            `${HOST}=127.0.0.1`,
            '--allow',
            `${HOST}/32`,
            '--max-flows',
            '4096',
            ...(process.env.BENCH_TUN_PROXY_ARGS ?? '').split(' ').filter(Boolean),
          ],
          {
            cwd: repoRoot,
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, NODE_OPTIONS: process.env.BENCH_TUN_NODE_OPTIONS ?? '' },
          },
        ),
      );
      const log = process.env.BENCH_TUN_PROXY_LOG;
      if (log) child.stdout!.pipe(createWriteStream(`${log}.${child.pid}`));
      await lineStarting(child, 'proxy ready', 15_000);
    } else {
      child = track(
        spawn(
          'slirp4netns',
          ['--configure', `--mtu=${mtu}`, '--netns-type=path', `/run/netns/${ns.name}`, 'tap0'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      );
      const until = performance.now() + 10_000;
      while (!/inet 10\.0\.2\.100\/24/.test(ns.ip('-4', 'addr', 'show', 'dev', 'tap0').out)) {
        if (child.exitCode !== null) throw new Error(`slirp4netns exited (${child.exitCode})`);
        if (performance.now() > until) throw new Error('slirp4netns did not configure tap0');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // The proxy's exit summary reports its peak RSS over its whole life,
    // shutdown included; the last lines of its output are kept for it.
    let tail = '';
    child.stdout?.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4096)));
    child.stderr?.resume();
    let anon = anonRss(child.pid);
    const sampler = setInterval(() => (anon = Math.max(anon, anonRss(child.pid))), ANON_SAMPLE_MS);
    return {
      ns,
      process: child,
      async stop() {
        clearInterval(sampler);
        const hwm = peakRss(child.pid);
        anon = Math.max(anon, anonRss(child.pid));
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
        await exited(child, 5000);
        const lifetime = /peak RSS ([\d.]+) (KiB|MiB|GiB)/.exec(tail);
        if (side === 'lwip-wasm' && !lifetime)
          throw new Error('the proxy printed no peak RSS on exit');
        const unit = { KiB: 1024, MiB: 1048576, GiB: 1073741824 }[lifetime?.[2] ?? 'MiB']!;
        const rss = Math.max(hwm, lifetime ? Number(lifetime[1]) * unit : 0);
        ns.delete();
        spaces.delete(ns);
        return { rss, anon };
      },
    };
  } catch (error) {
    ns.delete();
    throw error;
  }
}

/** iperf3 from the namespace to 127.0.0.1 (via 10.0.2.2): bits/s and bytes at the receiver. */
async function iperf(
  ns: Namespace,
  port: number,
  reverse: boolean,
): Promise<{ bps: number; bytes: number }> {
  const args = ['-c', HOST, '-p', String(port), '-t', String(SECONDS), '-O', '1', '-J'];
  if (reverse) args.push('-R');
  const r = await ns.run('iperf3', args, (SECONDS + 30) * 1000);
  let json: {
    end?: { sum_received?: { bits_per_second?: number; bytes?: number } };
    error?: string;
  };
  try {
    json = JSON.parse(r.stdout) as typeof json;
  } catch {
    throw new Error(`iperf3 printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
  const bps = json.end?.sum_received?.bits_per_second;
  if (json.error !== undefined || bps === undefined)
    throw new Error(`iperf3: ${json.error ?? 'no result'}`);
  // The omitted first second moved bytes too (about one second's worth).
  return { bps, bytes: (json.end?.sum_received?.bytes ?? 0) + bps / 8 };
}

/** Short connections from the namespace to the HTTP server: requests per second, and how many. */
async function connectionRate(
  ns: Namespace,
  port: number,
): Promise<{ rate: number; requests: number }> {
  const r = await ns.run(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/tun-client.ts',
      HOST,
      String(port),
      String(SECONDS),
      String(RATE_WORKERS),
      '10000',
      String(RATE_MAX),
    ],
    (SECONDS + 60) * 1000,
  );
  const out = resultOf(r) as {
    rate: number;
    requests: number;
    errors: number;
    firstError?: string;
  };
  if (out.errors > 0) process.stderr.write(`  (${out.errors} errors, first: ${out.firstError})\n`);
  return out;
}

// ---- the run ----

interface Line {
  label: string;
  unit: 'bps' | 'rate';
  values: Record<Side, number[]>;
  /** CPU seconds of the side's process per GB moved, or per 1000 connections. */
  cpu: Record<Side, number[]>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

function show(v: number, unit: Line['unit']): string {
  if (Number.isNaN(v)) return 'failed';
  return unit === 'bps' ? `${(v / 1e9).toFixed(2)} Gbit/s` : `${Math.round(v)} /s`;
}

async function main(): Promise<void> {
  const why = reason();
  if (why !== undefined) {
    console.log(`bench-tun: skipped: ${why}`);
    return;
  }
  removeStaleNamespaces();
  const iperfPort = await freePort();
  const iperfServer = track(
    spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(iperfPort)], { stdio: 'ignore' }),
  );
  const httpServer = http.createServer((_req, res) => {
    res.setHeader('Connection', 'close');
    res.end('ok\n');
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const httpPort = (httpServer.address() as net.AddressInfo).port;
  await new Promise((r) => setTimeout(r, 300)); // the iperf3 server's listen

  const lines: Line[] = [];
  const line = (label: string, unit: Line['unit']) => {
    let l = lines.find((x) => x.label === label);
    if (!l)
      lines.push(
        (l = {
          label,
          unit,
          values: { 'lwip-wasm': [], slirp4netns: [] },
          cpu: { 'lwip-wasm': [], slirp4netns: [] },
        }),
      );
    return l;
  };
  for (const mtu of MTUS) {
    if (TESTS.includes('up')) line(`iperf3 ns -> host, MTU ${mtu}`, 'bps');
    if (TESTS.includes('down')) line(`iperf3 host -> ns (-R), MTU ${mtu}`, 'bps');
  }
  if (TESTS.includes('rate') && MTUS.includes(RATE_MTU))
    line(`new connection per request, MTU ${RATE_MTU}`, 'rate');
  const rss: Record<Side, number> = { 'lwip-wasm': 0, slirp4netns: 0 };
  const anon: Record<Side, number> = { 'lwip-wasm': 0, slirp4netns: 0 };

  console.log(
    `bench-tun: lwip-wasm proxy vs slirp4netns, ${RUNS} run(s) of ${SECONDS} s per figure, alternating`,
  );
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const mtu of MTUS) {
        for (const side of SIDES) {
          const s = await startSide(side, mtu);
          try {
            let up = NaN;
            let down = NaN;
            let rate: number | undefined;
            const pid = s.process.pid;
            const measure = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
              const before = cpuSeconds(pid);
              const result = await fn();
              return [result, cpuSeconds(pid) - before];
            };
            if (TESTS.includes('up')) {
              const [r, cpu] = await measure(() => iperf(s.ns, iperfPort, false));
              const l = line(`iperf3 ns -> host, MTU ${mtu}`, 'bps');
              l.values[side].push((up = r.bps));
              l.cpu[side].push(cpu / (r.bytes / 1e9));
            }
            if (TESTS.includes('down')) {
              const [r, cpu] = await measure(() => iperf(s.ns, iperfPort, true));
              const l = line(`iperf3 host -> ns (-R), MTU ${mtu}`, 'bps');
              l.values[side].push((down = r.bps));
              l.cpu[side].push(cpu / (r.bytes / 1e9));
            }
            if (mtu === RATE_MTU && TESTS.includes('rate')) {
              const [r, cpu] = await measure(() => connectionRate(s.ns, httpPort));
              const l = line(`new connection per request, MTU ${RATE_MTU}`, 'rate');
              l.values[side].push((rate = r.rate));
              l.cpu[side].push(cpu / (r.requests / 1000));
            }
            process.stdout.write(
              `  run ${run + 1} ${side.padEnd(11)} MTU ${String(mtu).padEnd(5)} ` +
                `up ${show(up, 'bps')}, down ${show(down, 'bps')}` +
                (rate !== undefined ? `, ${show(rate, 'rate')}` : '') +
                '\n',
            );
          } finally {
            const peak = await s.stop();
            rss[side] = Math.max(rss[side], peak.rss);
            anon[side] = Math.max(anon[side], peak.anon);
          }
        }
      }
    }
  } finally {
    killAll();
    await new Promise((r) => httpServer.close(r));
  }

  const W = 40;
  console.log(
    `\n${''.padEnd(W)}${'lwip-wasm'.padStart(14)}${'slirp4netns'.padStart(14)}${'ratio'.padStart(8)}  target`,
  );
  for (const l of lines) {
    const a = median(l.values['lwip-wasm']);
    const b = median(l.values['slirp4netns']);
    const ratio = a / b;
    console.log(
      `${l.label.padEnd(W)}${show(a, l.unit).padStart(14)}${show(b, l.unit).padStart(14)}` +
        `${(ratio.toFixed(2) + 'x').padStart(8)}  >= 1.0x ${ratio >= 1 ? 'met' : 'NOT met'}`,
    );
  }
  console.log(
    `\nCPU seconds of the process doing the job, per GB moved or per 1000 connections (median):`,
  );
  for (const l of lines) {
    const a = median(l.cpu['lwip-wasm']);
    const b = median(l.cpu['slirp4netns']);
    console.log(
      `${l.label.padEnd(W)}${a.toFixed(2).padStart(14)}${b.toFixed(2).padStart(14)}${((a / b).toFixed(2) + 'x').padStart(8)}`,
    );
  }
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log(
    `${'peak RSS (VmHWM), whole run'.padEnd(W)}${mib(rss['lwip-wasm']).padStart(14)}${mib(rss['slirp4netns']).padStart(14)}` +
      `${''.padStart(8)}  < ${RSS_TARGET_MIB} MiB ${rss['lwip-wasm'] < RSS_TARGET_MIB * 1048576 ? 'met' : 'NOT met'}`,
  );
  // VmHWM counts the pages of the program and its libraries that were read
  // (for node, ~40 MiB of its binary, shared with every node process); the
  // private part is what the job itself costs.
  console.log(
    `${`peak private RSS (RssAnon, every ${ANON_SAMPLE_MS} ms)`.padEnd(W)}${mib(anon['lwip-wasm']).padStart(14)}${mib(anon['slirp4netns']).padStart(14)}${(anon['slirp4netns'] > 0 ? (anon['lwip-wasm'] / anon['slirp4netns']).toFixed(2) + 'x' : '').padStart(8)}`,
  );
}

const cleanupOnSignal = () => {
  killAll();
  process.exit(130);
};
process.once('SIGINT', cleanupOnSignal);
process.once('SIGTERM', cleanupOnSignal);
// Whatever ends the process (a crash included), no child or namespace is left behind.
process.once('exit', killAll);
await main();
