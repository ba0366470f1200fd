/**
 * The README's examples run: every ```ts block is a complete program that
 * imports 'lwip-wasm'; it is run against the sources and must exit 0 and
 * print what the README says it prints (where a comment says so).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('README examples');
const root = new URL('../..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

const expected: Record<number, RegExp> = {
  0: /hello[\s\S]*close undefined/,
  1: /echoed: hello watcher/,
  2: /hello \/over-lwip/,
  3: /received 1048576 bytes in 33\.9 virtual s\nlost 62, trace 4ee70d8af6fad89f/,
};

test('the README has runnable examples', () => {
  assert.ok(blocks.length >= 3, `found ${blocks.length}`);
});

blocks.forEach((code, i) => {
  test(`example ${i + 1} runs`, () => {
    const dir = mkdtempSync(join(root, 'test', '.readme-'));
    try {
      const file = join(dir, 'example.ts');
      writeFileSync(
        file,
        code.replaceAll("from 'lwip-wasm'", `from '${join(root, 'src/index.js')}'`),
      );
      const out = execFileSync(process.execPath, ['--import', 'tsx', file], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
      const want = expected[i];
      if (want) assert.match(out, want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test.run();
