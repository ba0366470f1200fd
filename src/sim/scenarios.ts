/**
 * Scenarios: a client stack and a server stack on one impaired link, one
 * TCP exchange between them, described as plain data (so a JSON file can
 * hold one, see src/cli/sim.ts) and run in virtual time by runScenario(),
 * which returns a summary: did the exchange end as expected, how long it
 * took in virtual and real time, what the link did, and the trace hash.
 *
 * Exchanges:
 *   transfer    the client sends `bytes` and half-closes; the server checks
 *               them and closes; both ends must close cleanly with the data intact.
 *   half-close  the client sends a request and half-closes; only after that
 *               EOF does the server answer (a digest of the request plus
 *               `bytes` of body) and close; the client must read it all.
 *   reset       the server aborts after the first bytes arrive; the client
 *               must see Reset with ECONNRESET.
 * A scenario may instead expect the client to fail with an error code
 * (`expect.clientError`, e.g. ETIMEDOUT when every SYN-ACK is dropped).
 */
import type { PcapWriter } from '../pcap/writer.js';
import { capture } from '../pcap/capture.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { Impairments } from './impairments.js';
import type { LinkDirectionStats } from './impaired-link.js';
import { SimRandom } from './random.js';
import { Simulation } from './scheduler.js';
import type { ScriptRule } from './script.js';
import { Sha256 } from './sha256.js';

/** The TCP exchange a scenario runs. */
export type ExchangeKind = 'transfer' | 'half-close' | 'reset';

/** Link impairments in data form: shared fields, per-direction overrides, a script. */
export interface ScenarioLink extends Impairments {
  /** Client -> server overrides. */
  ab?: Impairments;
  /** Server -> client overrides. */
  ba?: Impairments;
  /** Scripted faults; in JSON `match` is a name or { ip?, tcp? } fields. 'ab' is client -> server. */
  script?: ScriptRule[];
}

/** A scenario as data. */
export interface Scenario {
  name: string;
  description?: string;
  /** Default seed (the caller's seed wins). */
  seed?: number;
  exchange: ExchangeKind;
  /** transfer: bytes sent; half-close: bytes of response body (default 1 MiB / 64 KiB). */
  bytes?: number;
  /** IP version of the connection (default 4). */
  ipVersion?: 4 | 6;
  /** Interface MTU of both stacks (default 1500). */
  mtu?: number;
  /** TCP receive window and send buffer of both stacks (default: the stack's 1 MiB). */
  window?: number;
  link?: ScenarioLink;
  /** Expected outcome other than success, e.g. { clientError: 'ETIMEDOUT' }. */
  expect?: { clientError?: string };
  /** Virtual time allowed before the run counts as hung (ms, default 1 hour). */
  limitMs?: number;
}

/** How one end finished. */
export interface EndSummary {
  /** 'close' | 'reset' | 'abort' | 'destroyed', or 'alive' if it never terminated. */
  reason: string;
  /** Error code, e.g. 'ECONNRESET'. */
  error?: string;
  bytesIn: number;
  bytesOut: number;
}

/** What runScenario() reports. */
export interface ScenarioSummary {
  scenario: string;
  exchange: ExchangeKind;
  seed: number;
  /** True when the exchange ended as the scenario expects. */
  ok: boolean;
  /** What went wrong, one entry per failed expectation. */
  problems: string[];
  /** Virtual ms until both ends terminated (or the limit). */
  virtualMs: number;
  /** Virtual ms until the stacks were idle (TIME_WAIT over) or the limit. */
  idleMs: number;
  realMs: number;
  /** Timer instants the scheduler visited. */
  steps: number;
  client: EndSummary;
  server: EndSummary;
  /** Per direction: 'ab' is client -> server. */
  link: { ab: LinkDirectionStats; ba: LinkDirectionStats };
  /** SHA-256 of the full packet trace and the event counts. */
  trace: { hash: string; send: number; drop: number; deliver: number };
}

/** Options of runScenario(). */
export interface RunScenarioOptions {
  /** Overrides the scenario's seed. */
  seed?: number;
  /** Records the client interface (both directions) into this writer. */
  pcap?: PcapWriter;
  /** Keep trace entries (for printing); default false (hash only). */
  keepTrace?: boolean;
  /** Receives the simulation before the exchange starts (to observe or add to it). */
  onSimulation?: (sim: Simulation) => void;
}

const MiB = 1 << 20;

/** The built-in scenarios, by name. */
export const scenarios: readonly Scenario[] = [
  {
    name: 'clean',
    description: '1 MiB over a perfect 5 ms link',
    exchange: 'transfer',
    bytes: MiB,
    link: { delay: 5 },
  },
  {
    name: 'lossy',
    description: '1 MiB with 5% loss, 20+-5 ms delay, 2% reordering, 1% duplication, 1% bit flips',
    exchange: 'transfer',
    bytes: MiB,
    link: { loss: 0.05, delay: 20, jitter: 5, reorder: 0.02, duplicate: 0.01, corrupt: 0.01 },
  },
  {
    name: 'bursty',
    description: '1 MiB with 5% loss in bursts of 4 packets on average, 10 ms delay',
    exchange: 'transfer',
    bytes: MiB,
    link: { loss: { rate: 0.05, meanBurst: 4 }, delay: 10 },
  },
  {
    name: 'slow-link',
    description: '2 MiB through 10 Mbit/s with a 64 KiB queue (tail drop) and 20 ms delay',
    exchange: 'transfer',
    bytes: 2 * MiB,
    link: { delay: 20, bandwidth: { bitsPerSecond: 10e6, queueBytes: 65536 } },
  },
  {
    name: 'partition',
    description: '1 MiB at 8 Mbit/s; the link is cut from t=0.5 s to t=5 s, then heals',
    exchange: 'transfer',
    bytes: MiB,
    link: {
      delay: 10,
      bandwidth: { bitsPerSecond: 8e6, queueBytes: 1 << 20 },
      script: [{ from: 500, until: 5000, action: 'drop' }],
    },
  },
  {
    name: 'half-close',
    description:
      'request, client FIN, then the server answers 64 KiB on the half-closed connection',
    exchange: 'half-close',
    bytes: 64 << 10,
    link: { delay: 5, loss: 0.02 },
  },
  {
    name: 'reset',
    description: 'the server aborts mid-transfer; the client sees ECONNRESET',
    exchange: 'reset',
    bytes: MiB,
    link: { delay: 5 },
  },
  {
    name: 'syn-ack-blackhole',
    description: 'every SYN-ACK is dropped; connect fails with ETIMEDOUT',
    exchange: 'transfer',
    bytes: 1024,
    link: { delay: 5, script: [{ match: 'syn-ack', action: 'drop' }] },
    expect: { clientError: 'ETIMEDOUT' },
  },
];

/** A built-in scenario by name, or undefined. */
export function findScenario(name: string): Scenario | undefined {
  return scenarios.find((s) => s.name === name);
}

/** Checks the shape of a scenario (e.g. parsed from JSON); throws an Error naming the bad field. */
export function checkScenario(value: unknown): Scenario {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('scenario must be a JSON object');
  const s = value as Record<string, unknown>;
  const known = new Set([
    'name',
    'description',
    'seed',
    'exchange',
    'bytes',
    'ipVersion',
    'mtu',
    'window',
    'link',
    'expect',
    'limitMs',
  ]);
  for (const key of Object.keys(s))
    if (!known.has(key)) throw new Error(`scenario: unknown field '${key}'`);
  if (typeof s.name !== 'string' || s.name === '')
    throw new Error('scenario.name must be a string');
  if (s.exchange !== 'transfer' && s.exchange !== 'half-close' && s.exchange !== 'reset')
    throw new Error(`scenario.exchange must be 'transfer', 'half-close' or 'reset'`);
  const int = (k: string, min: number, max: number) => {
    const v = s[k];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < min || (v as number) > max))
      throw new Error(`scenario.${k} must be an integer in ${min}..${max}`);
  };
  int('seed', 0, Number.MAX_SAFE_INTEGER);
  int('bytes', 1, 1 << 30);
  int('mtu', 576, 65535);
  int('window', 2048, 8 << 20);
  int('limitMs', 1, 365 * 24 * 3600_000);
  if (s.ipVersion !== undefined && s.ipVersion !== 4 && s.ipVersion !== 6)
    throw new Error('scenario.ipVersion must be 4 or 6');
  if (s.link !== undefined && (typeof s.link !== 'object' || s.link === null))
    throw new Error('scenario.link must be an object');
  if (s.expect !== undefined) {
    const e = s.expect as Record<string, unknown>;
    if (
      typeof e !== 'object' ||
      e === null ||
      (e.clientError !== undefined && typeof e.clientError !== 'string')
    )
      throw new Error('scenario.expect must be { clientError?: string }');
  }
  return value as Scenario;
}

/** Deterministic payload of `n` bytes. */
function payload(n: number, seed: number): Uint8Array {
  const rng = new SimRandom(seed).fork('payload');
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = rng.next();
  for (let i = words.length * 4; i < n; i++) out[i] = rng.next() & 0xff;
  return out;
}

function hex(bytes: Uint8Array): string {
  return new Sha256().update(bytes).hex();
}

/** Writes `data` as the connection takes it; calls `then` after the last byte. */
function writeAll(conn: TcpConnection, data: Uint8Array, then: () => void): void {
  let off = 0;
  const pump = () => {
    while (off < data.length) {
      const n = conn.write(data.subarray(off));
      if (n === 0) return;
      off += n;
    }
    conn.off('writable', pump);
    then();
  };
  conn.on('writable', pump);
  if (conn.active) pump();
  else conn.on('becameActive', pump);
}

function copyStats(s: LinkDirectionStats): LinkDirectionStats {
  return { ...s, dropped: { ...s.dropped } };
}

function endOf(conn: TcpConnection | undefined): EndSummary {
  if (!conn) return { reason: 'never connected', bytesIn: 0, bytesOut: 0 };
  const info = conn.info();
  const out: EndSummary = {
    reason: conn.alive ? 'alive' : (conn.terminationReason ?? 'alive'),
    bytesIn: info.bytesIn,
    bytesOut: info.bytesOut,
  };
  if (conn.error) out.error = conn.error.code;
  return out;
}

/**
 * Runs a scenario in a fresh Simulation and closes it. The same scenario
 * and seed give the same summary (except realMs), trace hash included.
 * Throws only for an invalid scenario.
 */
export async function runScenario(
  scenario: Scenario,
  options: RunScenarioOptions = {},
): Promise<ScenarioSummary> {
  checkScenario(scenario);
  const seed = options.seed ?? scenario.seed ?? 1;
  const started = performance.now();
  const sim = new Simulation({ seed, trace: { keep: options.keepTrace ?? false } });
  try {
    const tcp = scenario.window
      ? { window: scenario.window, sendBuffer: scenario.window }
      : undefined;
    const client = await sim.addStack('client', tcp ? { tcp } : {});
    const server = await sim.addStack('server', tcp ? { tcp } : {});
    const mtu = scenario.mtu ?? 1500;
    const ic = client.addInterface({ ipv4: '10.0.0.1/24', ipv6: 'fd00::1/64', mtu });
    const is = server.addInterface({ ipv4: '10.0.0.2/24', ipv6: 'fd00::2/64', mtu });
    const link = sim.link(ic, is, scenario.link ?? {});
    const cap = options.pcap ? capture(ic, options.pcap) : undefined;
    options.onSimulation?.(sim);

    const problems: string[] = [];
    const kind = scenario.exchange;
    const size = scenario.bytes ?? (kind === 'half-close' ? 64 << 10 : MiB);
    const data = payload(size, seed);
    const request = payload(kind === 'half-close' ? 4096 : 0, seed + 1);
    let accepted: TcpConnection | undefined;
    let serverDone = false;
    const serverHash = new Sha256();
    let serverGot = 0;

    server.listen({ port: 80 }, (s) => {
      accepted = s;
      s.markActive();
      s.on('readable', (d) => {
        serverGot += d.length;
        serverHash.update(d);
        if (kind === 'reset') s.abort();
      });
      s.on('readEOF', () => {
        if (kind === 'half-close') {
          const digest = new TextEncoder().encode(serverHash.clone().hex());
          const reply = new Uint8Array(digest.length + data.length);
          reply.set(digest);
          reply.set(data, digest.length);
          writeAll(s, reply, () => s.gracefulClose());
        } else s.gracefulClose();
      });
      s.on('terminated', () => (serverDone = true));
    });

    const address = scenario.ipVersion === 6 ? 'fd00::2' : '10.0.0.2';
    const c = client.connect({ address, port: 80 });
    const clientHash = new Sha256();
    let clientGot = 0;
    c.on('readable', (d) => {
      clientGot += d.length;
      clientHash.update(d);
    });
    c.on('readEOF', () => c.gracefulClose());
    const sent = kind === 'half-close' ? request : data;
    writeAll(c, sent, () => {
      if (kind !== 'reset') c.shutdownWrite();
    });

    const limit = scenario.limitMs ?? 3600_000;
    const ended = await sim.run({
      done: () => !c.alive && (accepted === undefined || serverDone),
      limit,
    });
    const virtualMs = ended.time;
    const idle = await sim.run({ limit });
    cap?.stop();

    const clientEnd = endOf(c);
    const serverEnd = endOf(accepted);
    if (ended.reason !== 'done') problems.push(`not finished after ${limit} virtual ms`);
    const expected = scenario.expect?.clientError;
    if (expected) {
      if (clientEnd.error !== expected)
        problems.push(
          `client ended ${clientEnd.reason}/${clientEnd.error ?? 'no error'}, expected ${expected}`,
        );
    } else if (kind === 'reset') {
      if (clientEnd.error !== 'ECONNRESET')
        problems.push(
          `client ended ${clientEnd.reason}/${clientEnd.error ?? 'no error'}, expected ECONNRESET`,
        );
      if (serverEnd.reason !== 'abort')
        problems.push(`server ended ${serverEnd.reason}, expected abort`);
    } else {
      if (clientEnd.reason !== 'close' || serverEnd.reason !== 'close')
        problems.push(
          `ends were client ${clientEnd.reason} / server ${serverEnd.reason}, expected close / close`,
        );
      if (serverGot !== sent.length || serverHash.hex() !== hex(sent))
        problems.push(`server got ${serverGot} of ${sent.length} bytes or a wrong sha256`);
      if (kind === 'half-close') {
        const digest = new TextEncoder().encode(hex(request));
        const reply = new Uint8Array(digest.length + data.length);
        reply.set(digest);
        reply.set(data, digest.length);
        if (clientGot !== reply.length || clientHash.hex() !== hex(reply))
          problems.push(
            `client got ${clientGot} of ${reply.length} response bytes or a wrong sha256`,
          );
      }
    }
    if (idle.reason !== 'idle') problems.push('timers still pending at the limit');
    const counts = sim.trace!.counts;
    return {
      scenario: scenario.name,
      exchange: kind,
      seed,
      ok: problems.length === 0,
      problems,
      virtualMs,
      idleMs: idle.time,
      realMs: performance.now() - started,
      steps: ended.steps + idle.steps,
      client: clientEnd,
      server: serverEnd,
      link: { ab: copyStats(link.stats.ab), ba: copyStats(link.stats.ba) },
      trace: { hash: sim.trace!.hash(), ...counts },
    };
  } finally {
    sim.close();
  }
}
