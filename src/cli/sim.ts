/**
 * `lwip-wasm sim`: runs a simulated scenario (two stacks, an impaired link,
 * one TCP exchange) in virtual time and prints a summary; optionally writes
 * a pcap of the client's interface.
 *
 *   lwip-wasm sim --list                       the built-in scenarios
 *   lwip-wasm sim lossy --seed 7 --pcap l.pcap  a built-in scenario
 *   lwip-wasm sim ./my-scenario.json           a scenario file
 *
 * Options: --seed N (replaces the scenario's seed), --pcap FILE, --json
 * (the summary as JSON), --trace (every packet event, one line each).
 * Exit code: 0 when the exchange ended as the scenario expects, 1 if not,
 * 2 for usage errors.
 *
 * Scenario file format (JSON; every field but name and exchange optional):
 *
 *   {
 *     "name": "my-lossy-v6",
 *     "description": "what it shows",
 *     "seed": 7,
 *     "exchange": "transfer",          // or "half-close" | "reset"
 *     "bytes": 1048576,                // transfer size / half-close response body
 *     "ipVersion": 6,                  // 4 (default) or 6
 *     "mtu": 1500,                     // both interfaces, 576..65535
 *     "window": 262144,                // TCP window and send buffer of both stacks
 *     "limitMs": 3600000,              // virtual time allowed
 *     "expect": { "clientError": "ETIMEDOUT" },   // when failure is the point
 *     "link": {                        // both directions; "ab" = client -> server
 *       "delay": 20, "jitter": 5,      // ms
 *       "loss": 0.05,                  // or { "rate": 0.05, "meanBurst": 4 }
 *       "reorder": 0.02,               // or { "rate": 0.02, "extraDelay": 30 }
 *       "duplicate": 0.01, "corrupt": 0.01,
 *       "bandwidth": { "bitsPerSecond": 10000000, "queueBytes": 65536 },
 *       "mtu": 1400,                   // longer packets are dropped
 *       "ab": { "loss": 0.1 },         // per-direction overrides
 *       "ba": {},
 *       "script": [
 *         { "nth": 3, "action": "drop" },
 *         { "match": "syn-ack", "action": "drop" },
 *         { "match": { "tcp": { "flags": "FA" } }, "direction": "ba", "action": { "delay": 500 } },
 *         { "from": 1000, "until": 5000, "action": "drop" }
 *       ]
 *     }
 *   }
 *
 * Script matches: any, tcp, syn, syn-ack, ack (bare ACK), data, fin, rst, or
 * { "ip": {...}, "tcp": {...} } fields of src/packet's ip()/tcp() matchers.
 * Actions: "drop", "duplicate", "corrupt", { "delay": ms }.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { PcapWriter } from '../pcap/writer.js';
import {
  checkScenario,
  findScenario,
  runScenario,
  scenarios,
  type Scenario,
  type ScenarioSummary,
} from '../sim/scenarios.js';
import { formatEntry, type Trace } from '../sim/trace.js';
import type { LinkDirectionStats } from '../sim/impaired-link.js';
import { parseArgs } from './args.js';

const USAGE = `usage: lwip-wasm sim <scenario | file.json> [--seed N] [--pcap FILE] [--json] [--trace]
       lwip-wasm sim --list
`;

async function loadScenario(ref: string): Promise<Scenario> {
  const builtin = findScenario(ref);
  if (builtin) return builtin;
  if (!ref.endsWith('.json') && !ref.includes('/'))
    throw new Error(`unknown scenario '${ref}' (see lwip-wasm sim --list)`);
  const text = await readFile(ref, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${ref}: not valid JSON: ${(error as Error).message}`);
  }
  if (value && typeof value === 'object' && !('name' in value))
    (value as Record<string, unknown>).name = basename(ref).replace(/\.json$/, '');
  return checkScenario(value);
}

function direction(name: string, s: LinkDirectionStats): string {
  const drops = Object.entries(s.dropped)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${why} ${n}`)
    .join(', ');
  const extras = [
    s.duplicated ? `${s.duplicated} duplicated` : '',
    s.corrupted ? `${s.corrupted} corrupted` : '',
    s.reordered ? `${s.reordered} reordered` : '',
  ].filter(Boolean);
  return `  ${name}: sent ${s.sent}, delivered ${s.delivered}, dropped ${drops || '0'}${extras.length ? `; ${extras.join(', ')}` : ''}`;
}

function printSummary(r: ScenarioSummary, pcap: string | undefined): void {
  const end = (e: ScenarioSummary['client']) =>
    `${e.reason}${e.error ? ` (${e.error})` : ''}, ${e.bytesOut} B out, ${e.bytesIn} B in`;
  const lines = [
    `scenario ${r.scenario} (${r.exchange}), seed ${r.seed}: ${r.ok ? 'OK' : 'FAILED'}`,
    ...r.problems.map((p) => `  problem: ${p}`),
    `  ended at ${(r.virtualMs / 1000).toFixed(3)} s virtual, idle at ${(r.idleMs / 1000).toFixed(3)} s; ${r.realMs.toFixed(0)} ms real, ${r.steps} timer steps`,
    `  client: ${end(r.client)}`,
    `  server: ${end(r.server)}`,
    'link:',
    direction('client -> server', r.link.ab),
    direction('server -> client', r.link.ba),
    `trace: ${r.trace.send} sent, ${r.trace.drop} dropped, ${r.trace.deliver} delivered; sha256 ${r.trace.hash}`,
  ];
  if (pcap) lines.push(`pcap: ${pcap} (client interface, both directions)`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** Runs the `sim` subcommand; resolves with the exit code. */
export async function runSim(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, {
      list: { type: 'boolean' },
      seed: { type: 'number' },
      pcap: { type: 'string' },
      json: { type: 'boolean' },
      trace: { type: 'boolean' },
      help: { type: 'boolean' },
    });
  } catch (error) {
    process.stderr.write(`lwip-wasm sim: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { positional, options } = parsed;
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.list) {
    const width = Math.max(...scenarios.map((s) => s.name.length));
    for (const s of scenarios)
      process.stdout.write(`${s.name.padEnd(width)}  ${s.description ?? s.exchange}\n`);
    return 0;
  }
  if (positional.length !== 1) {
    process.stderr.write(`lwip-wasm sim: name one scenario\n${USAGE}`);
    return 2;
  }
  const seed = options.seed as number | undefined;
  if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0)) {
    process.stderr.write('lwip-wasm sim: --seed must be a non-negative integer\n');
    return 2;
  }
  let scenario: Scenario;
  try {
    scenario = await loadScenario(positional[0]!);
  } catch (error) {
    process.stderr.write(`lwip-wasm sim: ${(error as Error).message}\n`);
    return 2;
  }
  const pcapPath = options.pcap as string | undefined;
  const writer = pcapPath ? new PcapWriter() : undefined;
  const keepTrace = options.trace === true;
  let trace: Trace | undefined;
  let summary: ScenarioSummary;
  try {
    summary = await runScenario(scenario, {
      seed,
      pcap: writer,
      keepTrace,
      onSimulation: (sim) => (trace = sim.trace),
    });
  } catch (error) {
    process.stderr.write(`lwip-wasm sim: ${(error as Error).message}\n`);
    return 2;
  }
  if (writer && pcapPath) await writer.toFile(pcapPath);
  if (keepTrace && trace)
    for (const e of trace.entries) process.stdout.write(formatEntry(e) + '\n');
  if (options.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else printSummary(summary, pcapPath);
  return summary.ok ? 0 : 1;
}
