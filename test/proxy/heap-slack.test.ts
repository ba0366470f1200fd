/**
 * HeapSlack (the proxy command's --heap-slack): a collection is asked for
 * once the JavaScript heap grew by the slack since the last one, and not
 * before; the checks stop by themselves once no flow runs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HeapSlack, oldGenerationUsed } from '../../src/cli/heap-slack.js';

const test = suite('heap slack');
const used = oldGenerationUsed;

test('a slack that is not a positive number is a RangeError', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
    assert.throws(() => new HeapSlack(bad, () => false), RangeError);
});

test('growth beyond the slack starts one collection, which brings the heap back down', async () => {
  const slack = new HeapSlack(1 << 20, () => false);
  assert.ok(slack.available, 'this Node lets code ask for collections');
  assert.is(slack.check(), undefined, 'no growth yet: nothing to do');
  // 4 MiB in eight arrays large enough to go straight to the old generation, then dropped.
  let garbage: number[][] | undefined = Array.from({ length: 8 }, () => new Array(65536).fill(1));
  assert.ok(garbage.length > 0);
  const grown = used();
  garbage = undefined;
  const collecting = slack.check();
  assert.ok(collecting, 'the heap grew by more than 1 MiB: a collection was asked for');
  assert.is(slack.check(), undefined, 'one collection at a time');
  await collecting;
  assert.is(slack.collections, 1);
  assert.ok(used() < grown - (1 << 20), `heap ${used()} B after, ${grown} B before`);
  assert.is(slack.check(), undefined, 'right after a collection the heap is within the slack');
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
