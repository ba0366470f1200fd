/**
 * Skipping with a reason: a test that cannot run here (no root, no
 * /dev/net/tun, no tshark...) prints one line saying why and counts as
 * skipped, never as passed.
 */
import type { Test } from 'uvu';

/** Registers `name` as skipped with `reason`, or runs it when reason is undefined. */
export function testUnless(
  test: Test,
  reason: string | undefined,
  name: string,
  fn: () => Promise<void> | void,
): void {
  if (reason === undefined) {
    test(name, fn);
    return;
  }
  console.log(`  skip: ${name}: ${reason}`);
  test.skip(name, fn);
}

/** Why long variants are off, or undefined when LWIP_WASM_LONG=1. */
export const longReason =
  process.env.LWIP_WASM_LONG === '1' ? undefined : 'long variant; set LWIP_WASM_LONG=1';
