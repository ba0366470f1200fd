/**
 * Deterministic payloads for the playground's bulk transfers: the bytes of
 * transfer `id` under `seed` come from the simulator's seeded generator, so
 * the Chromium test can recompute in Node exactly what the page sent and
 * check the SHA-256 the page shows. No DOM here; Node imports this file too.
 */
import { SimRandom } from '../../src/index.js';

/** The `size` bytes of transfer `id` under `seed`. */
export function transferPayload(seed: number, id: number, size: number): Uint8Array {
  const rng = new SimRandom(seed).fork(`playground-transfer:${id}`);
  const out = new Uint8Array(size);
  const whole = size >>> 2;
  const view = new DataView(out.buffer);
  for (let i = 0; i < whole; i++) view.setUint32(i * 4, rng.next(), true);
  for (let i = whole * 4; i < size; i++) out[i] = rng.next() & 0xff;
  return out;
}
