/**
 * `lwip-wasm sim`: listing the built-in scenarios, running one by name and
 * one from a JSON file, with the pcap and the summary it writes. Most tests
 * call runSim() in this process; one runs the package's real `bin` entry
 * (the built dist/cli/main.js, as `npx lwip-wasm` would) as a child.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runSim } from '../../src/cli/sim.js';
import { parsePacket } from '../../src/packet/index.js';
import { readPcap } from '../../src/pcap/index.js';
import { runScenario, scenarios } from '../../src/sim/index.js';
import { testUnless } from '../helpers/skip.js';

const test = suite('sim cli');

/** Runs the command with stdout and stderr captured. */
async function sim(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof stdout;
  process.stderr.write = ((chunk: string) => ((err += chunk), true)) as typeof stderr;
  try {
    const code = await runSim(args);
    return { code, out, err };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'lwip-sim-'));

test('--list names the built-in scenarios, at least clean, lossy, half-close and reset', async () => {
  const r = await sim('--list');
  assert.is(r.code, 0);
  const names = r.out
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/)[0]);
  for (const name of ['clean', 'lossy', 'half-close', 'reset'])
    assert.ok(names.includes(name), name);
  assert.equal(
    names,
    scenarios.map((s) => s.name),
  );
});

test('every built-in scenario ends as it expects', async () => {
  for (const s of scenarios) {
    const r = await runScenario(s);
    assert.ok(r.ok, `${s.name}: ${r.problems.join('; ')}`);
  }
});

test('a named scenario with --seed and --pcap: summary, exit 0, a readable capture', async () => {
  const file = join(dir, 'lossy.pcap');
  const r = await sim('lossy', '--seed', '9', '--pcap', file);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /scenario lossy \(transfer\), seed 9: OK/);
  assert.match(r.out, /client -> server: sent \d+, delivered \d+, dropped loss \d+/);
  assert.match(r.out, /sha256 [0-9a-f]{64}/);
  const pcap = readPcap(readFileSync(file));
  assert.ok(pcap.records.length > 500, `${pcap.records.length} records`);
  const tcp = pcap.records.filter((rec) => parsePacket(rec.data)?.tcp?.checksumOk);
  assert.ok(tcp.length > 0.95 * pcap.records.length, 'TCP segments, a few corrupted');
  const times = pcap.records.map((rec) => rec.timeMs);
  assert.ok(
    times.every((t, i) => i === 0 || t >= times[i - 1]!),
    'virtual timestamps in order',
  );
  const again = await sim('lossy', '--seed', '9');
  const hash = (s: string) => /sha256 ([0-9a-f]{64})/.exec(s)![1];
  assert.is(hash(again.out), hash(r.out), 'same seed, same trace');
});

test('a JSON scenario file, --json summary; an unmet expectation exits 1', async () => {
  const file = join(dir, 'blackhole.json');
  writeFileSync(
    file,
    JSON.stringify({
      exchange: 'half-close',
      ipVersion: 6,
      bytes: 10000,
      link: {
        delay: 5,
        ab: { loss: 0.05 },
        script: [{ match: { tcp: { flags: 'SA' } }, nth: 1, action: 'drop' }],
      },
    }),
  );
  const r = await sim(file, '--json');
  assert.is(r.code, 0, r.err + r.out);
  const summary = JSON.parse(r.out);
  assert.is(summary.scenario, 'blackhole');
  assert.is(summary.ok, true);
  assert.is(summary.link.ba.dropped.script, 1);
  assert.is(summary.client.bytesIn, 64 + 10000);

  const failing = join(dir, 'failing.json');
  writeFileSync(
    failing,
    JSON.stringify({
      name: 'expects-a-timeout',
      exchange: 'transfer',
      bytes: 1000,
      expect: { clientError: 'ETIMEDOUT' },
    }),
  );
  const f = await sim(failing);
  assert.is(f.code, 1);
  assert.match(f.out, /FAILED/);
  assert.match(f.out, /expected ETIMEDOUT/);
});

test('usage errors exit 2 with a message', async () => {
  assert.is((await sim()).code, 2);
  const unknown = await sim('no-such-scenario');
  assert.is(unknown.code, 2);
  assert.match(unknown.err, /unknown scenario 'no-such-scenario'/);
  assert.is((await sim('clean', '--bogus')).code, 2);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ name: 'x', exchange: 'teleport' }));
  const r = await sim(bad);
  assert.is(r.code, 2);
  assert.match(r.err, /exchange/);
});

const root = new URL('../..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
};
const bin = join(root, pkg.bin['lwip-wasm']!);

/** Runs the bin file itself (its #! line and executable bit, as npx does), bounded to 60 s. */
function runBin(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { cwd: dir, timeout: 60_000 }, (error, out, err) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, out, err });
    });
  });
}

testUnless(
  test,
  existsSync(bin) ? undefined : `${bin} not built (make build)`,
  'the real bin entry as a child: sim --list, and a scenario with --seed matching runSim',
  async () => {
    const list = await runBin('sim', '--list');
    assert.is(list.code, 0, list.err);
    assert.equal(
      list.out
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[0]),
      scenarios.map((s) => s.name),
    );

    const r = await runBin('sim', 'lossy', '--seed', '7');
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /scenario lossy \(transfer\), seed 7: OK/);
    assert.match(r.out, /client: close, 1048576 B out/);
    const hash = (s: string) => /sha256 ([0-9a-f]{64})/.exec(s)?.[1];
    assert.ok(hash(r.out), r.out);
    const inProcess = await sim('lossy', '--seed', '7');
    assert.is(hash(r.out), hash(inProcess.out), 'the bin and runSim give the same trace');
    const other = await sim('lossy', '--seed', '8');
    assert.is.not(hash(other.out), hash(r.out), 'the seed reaches the run');

    const unknown = await runBin('sim', 'no-such-scenario');
    assert.is(unknown.code, 2);
    assert.match(unknown.err, /unknown scenario 'no-such-scenario'/);
  },
);

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
