/**
 * Seeded randomness for the simulator. Every random choice a simulation
 * makes (which packet is lost, which bit flips, how much jitter) comes from
 * a SimRandom derived from the scenario seed, never from Math.random, so a
 * failure replays exactly from its seed in Node and in browsers alike (only
 * 32-bit integer arithmetic, no platform randomness).
 *
 * Streams are forked by label (`rng.fork('ab/loss')`): a fork depends on the
 * seed and the label only, not on how many numbers were drawn before, so
 * turning one impairment on does not reshuffle the choices of another.
 */

/** One splitmix32 output for `x` (a good 32-bit mixer, used to expand seeds). */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of a label. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Checks a seed: a safe non-negative integer (up to 2^53 - 1). */
export function checkSeed(seed: unknown, where: string): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`${where}: seed must be a non-negative safe integer, got ${String(seed)}`);
  return seed;
}

/**
 * A 32-bit seed for the thing called `label` under `seed` (e.g. a stack's
 * seed under the scenario seed). Same inputs, same output, everywhere.
 */
export function deriveSeed(seed: number, label: string): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return mix32(mix32(lo ^ mix32(hi)) ^ hashLabel(label));
}

/** xoshiro128** seeded through splitmix32: fast, 32-bit only, deterministic. */
export class SimRandom {
  /** The seed this stream started from (forks derive from it). */
  readonly seed: number;
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  constructor(seed: number) {
    this.seed = checkSeed(seed, 'SimRandom');
    let x = deriveSeed(seed, 'xoshiro128**');
    const next = () => (x = mix32(x));
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** An independent stream for `label`, determined by this stream's seed and the label only. */
  fork(label: string): SimRandom {
    return new SimRandom(deriveSeed(this.seed, label));
  }

  /** A uniform unsigned 32-bit integer. */
  next(): number {
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 bits of precision. */
  float(): number {
    return this.next() / 0x100000000;
  }

  /** True with probability p (no number is drawn when p <= 0). */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
