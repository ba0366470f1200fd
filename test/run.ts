/**
 * Runs every test file (test/**\/*.test.ts) in its own Node process, so a
 * crash, a hang or leaked state stays inside one file. Each file is a uvu
 * suite; this runner adds up uvu's totals and ends with the line
 * `N passed, N failed`.
 *
 *   node --import tsx test/run.ts [filter...]   run files whose path (from the
 *                                               repository root) contains a filter
 *   LWIP_WASM_LONG=1                            also run the long variants (soak, fuzz)
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const FILE_TIMEOUT_MS = Number(process.env.LWIP_WASM_TEST_TIMEOUT_MS ?? 15 * 60_000);

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
// Matched against the path from the repository root, so a checkout whose own
// path contains a filter word (/work/fuzz-tree) does not select every file;
// an absolute filter selects the files under it.
const selected = (file: string, filter: string) =>
  isAbsolute(filter) ? file.startsWith(filter) : relative(root, file).includes(filter);
const files = find(join(root, 'test')).filter(
  (f) => filters.length === 0 || filters.some((x) => selected(f, x)),
);

interface Result {
  passed: number;
  failed: number;
  skipped: number;
}

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      out += text;
      process.stdout.write(text);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      process.stdout.write(
        `\n  ${relative(root, file)}: timed out after ${FILE_TIMEOUT_MS} ms, killing\n`,
      );
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = strip(out);
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      if (Number.isNaN(total) || Number.isNaN(passed)) {
        process.stdout.write(
          `\n  ${relative(root, file)}: exited (${code}) without a uvu summary: counted as 1 failure\n`,
        );
        resolve({ passed: 0, failed: 1, skipped: 0 });
        return;
      }
      let failed = total - passed;
      if (code !== 0 && failed === 0) {
        process.stdout.write(
          `\n  ${relative(root, file)}: exit code ${code} after its tests: counted as 1 failure\n`,
        );
        failed = 1;
      }
      resolve({ passed, failed, skipped });
    });
  });
}

const totals: Result = { passed: 0, failed: 0, skipped: 0 };
const failedFiles: string[] = [];
const started = Date.now();
for (const file of files) {
  process.stdout.write(`\n### ${relative(root, file)}\n`);
  const r = await runFile(file);
  totals.passed += r.passed;
  totals.failed += r.failed;
  totals.skipped += r.skipped;
  if (r.failed) failedFiles.push(relative(root, file));
}
process.stdout.write(`\n${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (totals.skipped) process.stdout.write(`, ${totals.skipped} skipped (reasons above)`);
if (failedFiles.length) process.stdout.write(`\nfailed in: ${failedFiles.join(', ')}`);
process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed\n`);
process.exitCode = totals.failed > 0 || files.length === 0 ? 1 : 0;
