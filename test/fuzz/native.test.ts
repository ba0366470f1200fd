/**
 * The native fuzzer in the test run: builds build/fuzz/lwip-fuzz (lwIP and
 * the C glue with libFuzzer, AddressSanitizer and UBSan; test/fuzz/fuzz.mk),
 * replays every input that once crashed (test/fuzz/regressions/*.in), then
 * fuzzes for LWIP_WASM_FUZZ_SECONDS (default 60, 600 with LWIP_WASM_LONG=1)
 * from the seed corpus (test/fuzz/corpus.ts) and what earlier runs found
 * (build/fuzz/work). Passing means: exit 0 and no crash file, except for
 * the lwIP bugs listed in KNOWN_LWIP (inputs in test/fuzz/known-lwip/): those
 * are reported and fuzzing goes on. A crash leaves its input in
 * build/fuzz/crashes/;
 * `LWFUZZ_TRACE=1 build/fuzz/lwip-fuzz <file>` replays it with a trace.
 *
 * Needs clang with libFuzzer (Debian: clang, libclang-rt-N-dev): installed
 * when missing if running as root with CI=true, skipped otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { testUnless } from '../helpers/skip.js';
import { writeCorpus } from './corpus.js';

const root = new URL('../..', import.meta.url).pathname;
const dir = join(root, 'build/fuzz');
const bin = join(dir, 'lwip-fuzz');
const crashes = join(dir, 'crashes');
const known = join(dir, 'known');
const knownDir = join(root, 'test/fuzz/known-lwip');
const regressions = join(root, 'test/fuzz/regressions');
const seconds = Number(
  process.env.LWIP_WASM_FUZZ_SECONDS ?? (process.env.LWIP_WASM_LONG === '1' ? 600 : 60),
);

function make(target: string): { ok: boolean; output: string } {
  const r = spawnSync('make', ['--no-print-directory', '-f', 'test/fuzz/fuzz.mk', target], {
    cwd: root,
    encoding: 'utf8',
  });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Why the fuzzer cannot be built here, or undefined when it can (installing it on CI). */
function unavailable(): string | undefined {
  if (make('fuzz-check').ok) return undefined;
  if (process.getuid?.() !== 0 || process.env.CI !== 'true')
    return 'clang with libFuzzer is not installed (installed only as root with CI=true)';
  const installed = make('fuzz-deps');
  return installed.ok ? undefined : `installing clang/libFuzzer failed: ${installed.output.trim()}`;
}

/** Runs the fuzzer binary; resolves with its exit code and the tail of its output. */
function run(args: string[]): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => resolve({ code, tail: out }));
  });
}

const crashFiles = () => {
  try {
    return readdirSync(crashes).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
  } catch {
    return [];
  }
};

/**
 * Crashes inside lwIP itself that the fuzzer has found and that are not ours
 * to patch (test/fuzz/known-lwip/README.md). Hitting one is reported and
 * fuzzing goes on; anything else fails the test.
 */
const KNOWN_LWIP: [name: string, sign: RegExp][] = [
  // None at the moment (all those found so far are fixed by lwIP patches 0005, 0006).
];
const knownLwip = (output: string) => KNOWN_LWIP.find(([, sign]) => sign.test(output))?.[0];

const test = suite('native fuzzer (libFuzzer + ASan + UBSan)');
const reason = unavailable();

testUnless(test, reason, 'builds, replays the regressions, fuzzes without a crash', async () => {
  const built = make('fuzz-build');
  assert.ok(built.ok, `make -f test/fuzz/fuzz.mk fuzz-build failed:\n${built.output}`);

  const seeds = await writeCorpus(join(dir, 'corpus'));
  assert.ok(seeds > 20, `only ${seeds} seed programs`);

  const inputs = readdirSync(regressions)
    .filter((f) => f.endsWith('.in'))
    .map((f) => join(regressions, f));
  if (inputs.length > 0) {
    const replay = await run(inputs);
    assert.is(replay.code, 0, `a regression input crashes again:\n${replay.tail}`);
  }
  // Inputs of known lwIP bugs: still the known assertion, or fixed by now.
  for (const f of readdirSync(knownDir).filter((f) => f.endsWith('.in'))) {
    const replay = await run([join(knownDir, f)]);
    if (replay.code === 0) console.log(`  known-lwip/${f} passes now: move it to regressions/`);
    else assert.ok(knownLwip(replay.tail), `known-lwip/${f} fails differently:\n${replay.tail}`);
  }

  mkdirSync(join(dir, 'work'), { recursive: true });
  mkdirSync(crashes, { recursive: true });
  mkdirSync(known, { recursive: true });
  const deadline = Date.now() + seconds * 1000;
  let executed = 0;
  for (let round = 0; round < 10; round++) {
    const left = Math.round((deadline - Date.now()) / 1000);
    if (left < 5) break;
    const before = new Set(crashFiles());
    const fuzz = await run([
      '-max_len=16384',
      '-timeout=20',
      '-rss_limit_mb=2048',
      `-max_total_time=${left}`,
      '-print_final_stats=1',
      `-artifact_prefix=${crashes}/`,
      join(dir, 'work'),
      join(dir, 'corpus'),
      regressions,
    ]);
    executed += Number(/stat::number_of_executed_units:\s*(\d+)/.exec(fuzz.tail)?.[1] ?? 0);
    const found = crashFiles().filter((f) => !before.has(f));
    const bug = found.length === 1 ? knownLwip(fuzz.tail) : undefined;
    if (bug) {
      // Kept for a look, out of the way of the next round.
      renameSync(join(crashes, found[0]!), join(known, found[0]!));
      console.log(`  known lwIP bug hit ("${bug}"), input in build/fuzz/known/${found[0]}`);
      continue;
    }
    assert.equal(
      found,
      [],
      `the fuzzer found a crash (build/fuzz/crashes/${found[0]}):\n${fuzz.tail}`,
    );
    assert.is(fuzz.code, 0, `the fuzzer exited with ${fuzz.code}:\n${fuzz.tail}`);
    break;
  }
  console.log(`  fuzzed ${seconds} s: ${executed} inputs`);
});

test.run();
