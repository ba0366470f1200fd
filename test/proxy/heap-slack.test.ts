/**
 * HeapSlack (the proxy command's --heap-slack): a full collection runs once
 * the JavaScript heap grew by the slack since the last one, and not before;
 * the checks stop by themselves once no flow runs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HeapSlack, oldGenerationUsed } from '../../src/cli/heap-slack.js';

const test = suite('heap slack');
const used = oldGenerationUsed;

setFlagsFromString('--expose-gc');
const youngGc = runInNewContext('gc') as (options: { type: 'minor' }) => void;

/**
 * Arrays of 512 KiB each, promoted to the old generation (a young
 * collection moves large objects there while they are referenced), then
 * dropped: garbage that only a full collection frees.
 */
function oldGarbage(mib: number): void {
  const arrays = Array.from({ length: mib * 2 }, () => new Array(65536).fill(1));
  youngGc({ type: 'minor' });
  assert.ok(arrays.length > 0);
}

test('a slack that is not a positive number is a RangeError', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
    assert.throws(() => new HeapSlack(bad, () => false), RangeError);
});

test('growth beyond the slack runs one full collection, which brings the heap back down', () => {
  const slack = new HeapSlack(1 << 20, () => false);
  assert.ok(slack.available, 'this Node lets code ask for collections');
  assert.is(slack.check(), false, 'no growth yet: nothing to do');
  oldGarbage(4);
  const grown = used();
  assert.ok(slack.check(), 'the heap grew by more than 1 MiB: a collection ran');
  assert.is(slack.collections, 1);
  assert.ok(used() < grown - (1 << 20), `heap ${used()} B after, ${grown} B before`);
  assert.is(slack.check(), false, 'right after a collection the heap is within the slack');
});

test('the collection is a full one: it frees objects that survived into the old generation', () => {
  const slack = new HeapSlack(1 << 20, () => false);
  slack.check();
  // Small objects that outlive a few young collections are promoted, as a
  // flow's objects are; only a full collection frees them.
  let kept: { n: number; s: string }[] | undefined = [];
  for (let i = 0; i < 150_000; i++) kept.push({ n: i, s: `flow ${i}` });
  for (let round = 0; round < 4; round++) new Array(200_000).fill(0).map((x, i) => ({ x, i }));
  const grown = used();
  assert.ok(kept.length > 0);
  kept = undefined;
  assert.ok(slack.check(), 'a collection ran');
  assert.ok(used() < grown - (2 << 20), `heap ${used()} B after, ${grown} B before`);
});

test('with much alive, the slack grows to a quarter of it', () => {
  // 32 MiB kept alive in the old generation, as thousands of open flows would.
  const kept = Array.from({ length: 64 }, () => new Array(65536).fill(1));
  youngGc({ type: 'minor' });
  const slack = new HeapSlack(1 << 20, () => false);
  slack.check();
  assert.ok(slack.allowance > 7 << 20, `allowance ${slack.allowance} B over ${used()} B alive`);
  oldGarbage(2);
  assert.is(slack.check(), false, '2 MiB of garbage: within a quarter of 32 MiB');
  oldGarbage(12);
  assert.ok(slack.check(), '14 MiB of garbage: beyond it');
  assert.is(kept.length, 64);
});

test('wake() checks while flows run and stops once busy() turns false', async () => {
  let calls = 0;
  let idle: () => void = () => {};
  // The checks' timer does not keep Node alive; this bound does, and fails a hung test.
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const asked = new Promise<void>((resolve, reject) => {
    idle = resolve;
    deadline = setTimeout(() => reject(new Error('no check within 5 s')), 5000);
  });
  const slack = new HeapSlack(64 << 20, () => {
    calls++;
    idle();
    return false;
  });
  slack.wake();
  slack.wake(); // already running: no second timer
  assert.ok(slack.checking);
  await asked.finally(() => clearTimeout(deadline));
  assert.is(calls, 1);
  assert.not.ok(slack.checking, 'busy() said no flow runs: the checks stopped');
  slack.stop(); // harmless when stopped
  slack.wake();
  assert.ok(slack.checking, 'a later wake() starts them again');
  slack.stop();
  assert.not.ok(slack.checking);
});

test.run();
